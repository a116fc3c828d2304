"""LearnedCodec: a learned lossy image codec with a differentiable rate and a real bitstream."""
from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from nipkit.layers.gdn import GDN
from nipkit.ops.codebook import index_bits, nearest_index, soft_assignment, soft_bits
from nipkit.ops.padding import pad_edge, round_up
from nipkit.ops.rounding import clip_ste, straight_through

__all__ = ["LearnedCodec", "PRESETS", "QUANTIZATIONS", "NONLINEARITIES", "CELL"]

PRESETS = (16, 32, 64)  # latent channels, as the authors' DCN
QUANTIZATIONS = ("soft", "noise", "ste")
NONLINEARITIES = ("leaky_relu", "gdn")
CELL = 8  # pixels per latent along each side: three stride-2 stages
KERNEL = 5
FIT_WEIGHT = 1e-2  # fits the entropy model to the latents even at beta = 0
RATE_ADAPTATION = 0.01  # per training step: the rate weight × exp(0.01 · relative rate error)
RATE_WEIGHT_RANGE = (1e-7, 10.0)
_NAME = "LearnedCodec"


@keras.saving.register_keras_serializable(package="nipkit")
class LearnedCodec(keras.layers.Layer):
    """A learned lossy codec: analysis transform, quantisation, entropy model, synthesis.

    The analysis transform (three 5×5 stride-2 convolutions, with leaky ReLUs or GDN
    between them) maps an RGB image to `latent_channels` feature maps at 1/8 of its
    size; each latent value is quantised to one of `codebook_size` values; a categorical
    entropy model per latent channel gives the rate, −Σ log2 p(index), in bits per pixel;
    the synthesis transform (three 5×5 stride-2 transposed convolutions, with leaky ReLUs
    or IGDN) decodes the quantised latents. Images of any size are padded by edge
    replication to a multiple of 8 and cropped back, as JPEG pads its blocks.

    Quantisation (outside training always the nearest codebook value, with the identity
    gradient; the options differ in training):
    - "noise" (the default: the best rate–distortion of the three after equal short
      training on the demo camera, see BENCHMARKS.md): the integers −16…15; uniform noise
      in [−½, ½) replaces rounding.
    - "soft": a learned codebook (initialised to the integers −16…15); the nearest value
      with the gradient of a soft assignment (softmax of −`softness`·squared distance),
      as the authors' DCN.
    - "ste": the integers −16…15; rounding with the identity gradient (straight-through).

    In training the rate is that of the soft assignments (differentiable w.r.t. the
    latents and the entropy model); otherwise it is that of the indices, exactly what
    the entropy coder spends up to its few bytes of overhead. The layer adds
    `beta · bpp` to its losses (`add_loss`), plus a small term that fits the entropy
    model to the latents without moving them. `last_bpp` holds the mean rate estimate
    of its last call. With `distortion_weight` λ, a training pass also adds
    λ · MSE(images, decoded), the codec's own distortion, as the authors' joint training
    does: without it a codec trained for the FAN alone (F+C) is free to give up the image.
    With `target_bpp`, the weight of the rate is a controller rather
    than a constant: it starts at `beta`, and every training pass multiplies it by
    exp(0.01 · (bpp − target) / target), so the rate settles at the target whatever the
    other losses pull (a multiplicative dual ascent; `rate_weight` holds it, and it is
    saved and resumed with the weights). `compress` / `decompress` turn images into real
    bitstreams (ANS coding with `constriction`, see `nipkit.codecs.bitstream`);
    `reference` — the real counterpart of the channel-step contract — is their round trip.

    Args:
        latent_channels: 16, 32 or 64 (the presets).
        filters: feature maps of the hidden transform stages.
        nonlinearity: "leaky_relu" (the default) or "gdn" (GDN in the analysis
            transform, IGDN in the synthesis: `nipkit.layers.gdn.GDN`).
        quantization: "soft", "noise" or "ste".
        beta: weight of the rate (bits per pixel) in the loss; ≥ 0 (the controller's
            start with `target_bpp`, then > 0).
        target_bpp: None (the default: `beta` holds the rate) or the rate, in bits per
            pixel, that training holds by adapting the rate weight.
        distortion_weight: weight of the mean squared error between the images and their
            decoding (on [0, 1]) that training passes add; 0 (the default) adds none, as
            `nipkit train codec`, whose loss has its own L2, needs.
        codebook_size: number of quantisation values (2 to 255).
        softness: sharpness of the soft assignment (rate, and the "soft" gradient).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        images: RGB images (batch, height, width, 3) in [0, 1], at least 8×8.
        training: whether to use the training surrogates (noise, soft rate); a frozen
            codec (`trainable = False`) never does, so that it codes as its bitstream.

    Returns:
        The decoded images, same shape, in [0, 1].

    Example:
        >>> import numpy as np
        >>> codec = LearnedCodec(latent_channels=16, filters=8)
        >>> x = np.random.default_rng(0).uniform(size=(2, 20, 27, 3)).astype("float32")
        >>> tuple(codec(x).shape)
        (2, 20, 27, 3)
        >>> streams = codec.compress(x)
        >>> float(np.max(np.abs(codec.decompress(streams) - np.asarray(codec(x))))) <= 1e-6
        True
    """

    def __init__(
        self,
        latent_channels: int = 32,
        filters: int = 64,
        quantization: str = "noise",
        beta: float = 1e-3,
        codebook_size: int = 32,
        softness: float = 5.0,
        target_bpp: float | None = None,
        nonlinearity: str = "leaky_relu",
        distortion_weight: float = 0.0,
        **kwargs,
    ) -> None:
        kwargs["dtype"] = kwargs.get("dtype") or "float32"  # the bitstream needs float32 arithmetic
        super().__init__(**kwargs)
        if latent_channels not in PRESETS:
            raise ValueError(f"{_NAME}: latent_channels must be one of {', '.join(map(str, PRESETS))}; got {latent_channels!r}")
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"{_NAME}: quantization must be one of {', '.join(QUANTIZATIONS)}; got {quantization!r}")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"{_NAME}: nonlinearity must be one of {', '.join(NONLINEARITIES)}; got {nonlinearity!r}")
        if not isinstance(filters, int) or not 1 <= filters <= 1024:
            raise ValueError(f"{_NAME}: filters must be an integer from 1 to 1024; got {filters!r}")
        if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not 0 <= beta < float("inf"):
            raise ValueError(f"{_NAME}: beta must be a number ≥ 0 (the weight of the rate); got {beta!r}")
        if not isinstance(codebook_size, int) or not 2 <= codebook_size <= 255:
            raise ValueError(f"{_NAME}: codebook_size must be an integer from 2 to 255; got {codebook_size!r}")
        if not isinstance(softness, (int, float)) or not softness > 0:
            raise ValueError(f"{_NAME}: softness must be a positive number; got {softness!r}")
        if target_bpp is not None:
            if isinstance(target_bpp, bool) or not isinstance(target_bpp, (int, float)) or not 0 < target_bpp < 24:
                raise ValueError(f"{_NAME}: target_bpp must be a number of bits per pixel in (0, 24), or null; got {target_bpp!r}")
            if not beta > 0:
                raise ValueError(f"{_NAME}: beta must be > 0 with target_bpp (it is the rate weight's start); got {beta!r}")
        if isinstance(distortion_weight, bool) or not isinstance(distortion_weight, (int, float)) \
                or not 0 <= distortion_weight < float("inf"):
            raise ValueError(f"{_NAME}: distortion_weight must be a number ≥ 0; got {distortion_weight!r}")
        self.target_bpp = None if target_bpp is None else float(target_bpp)
        self.distortion_weight = float(distortion_weight)
        self.latent_channels, self.filters, self.quantization = latent_channels, filters, quantization
        self.beta, self.codebook_size, self.softness = float(beta), codebook_size, float(softness)
        self.nonlinearity = nonlinearity
        conv = dict(kernel_size=KERNEL, strides=2, padding="same")
        gdn = nonlinearity == "gdn"
        hidden = None if gdn else "leaky_relu"
        self.analysis = [
            keras.layers.Conv2D(filters, activation=hidden, name="analysis_0", **conv),
            *([GDN(name="gdn_0")] if gdn else []),
            keras.layers.Conv2D(filters, activation=hidden, name="analysis_1", **conv),
            *([GDN(name="gdn_1")] if gdn else []),
            keras.layers.Conv2D(latent_channels, name="analysis_2", **conv),
        ]
        self.synthesis = [
            keras.layers.Conv2DTranspose(filters, activation=hidden, name="synthesis_0", **conv),
            *([GDN(inverse=True, name="igdn_0")] if gdn else []),
            keras.layers.Conv2DTranspose(filters, activation=hidden, name="synthesis_1", **conv),
            *([GDN(inverse=True, name="igdn_1")] if gdn else []),
            keras.layers.Conv2DTranspose(3, name="synthesis_2", **conv),
        ]
        self.noise_seed = keras.random.SeedGenerator(0) if quantization == "noise" else None
        self.last_bpp = None  # the rate estimate of the last call (channel-step contract)
        self.last_stream_bpp: float | None = None  # the rate of the last `reference`, from its bytes

    def build(self, input_shape) -> None:
        shape: tuple = (None, None, None, 3)
        for layer in self.analysis:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        for layer in self.synthesis:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        half = self.codebook_size // 2
        values = np.arange(-half, self.codebook_size - half, dtype="float32")
        self.codebook = self.add_weight(name="codebook", shape=(self.codebook_size,), trainable=self.quantization == "soft",
                                        initializer=keras.initializers.Constant(values))
        # A Laplace prior to start from: untrained latents are near 0, and a uniform model
        # would charge them log2(codebook_size) bits each.
        self.logits = self.add_weight(name="entropy_logits", shape=(self.latent_channels, self.codebook_size),
                                      initializer=keras.initializers.Constant(np.tile(-np.abs(values), (self.latent_channels, 1))))
        self.rate_weight = None  # the controller's weight of the rate, with `target_bpp`
        if self.target_bpp is not None:
            self.rate_weight = self.add_weight(name="rate_weight", shape=(), trainable=False, aggregation="mean",
                                               initializer=keras.initializers.Constant(self.beta))

    def load_own_variables(self, store) -> None:
        if self.rate_weight is not None and len(store.keys()) == len(self._own_variables()) - 1:
            # Weights of a codec trained without a rate target (e.g. `nipkit train codec`):
            # load them and start the controller at beta.
            for i, variable in enumerate(self._own_variables()[:-1]):
                variable.assign(store[f"{i}"])
            return
        super().load_own_variables(store)

    def _own_variables(self) -> list:
        """The variables this layer saves itself, in Keras' order (the rate weight last)."""
        return self._trainable_variables + self._non_trainable_variables

    # -- the transforms ---------------------------------------------------------------
    def analyse(self, images):
        """Latents (batch, ⌈h/8⌉, ⌈w/8⌉, latent_channels) of images (edge-padded to 8)."""
        height, width = ops.shape(images)[1], ops.shape(images)[2]
        x = ops.cast(images, "float32") - 0.5
        x = pad_edge(pad_edge(x, 1, height, round_up(height, CELL)), 2, width, round_up(width, CELL))
        for layer in self.analysis:
            x = layer(x)
        return x

    def synthesise(self, quantised, height, width):
        """Images (batch, height, width, 3) in [0, 1] from quantised latents."""
        x = quantised
        for layer in self.synthesis:
            x = layer(x)
        return clip_ste(x[:, :height, :width, :] + 0.5, 0.0, 1.0)

    def log_probs(self):
        """The entropy model: log-probabilities (latent_channels, codebook_size), natural log."""
        return ops.log_softmax(self.logits, axis=-1)

    def indices(self, images):
        """The codebook index (int32) of every latent of `images`: what the bitstream codes."""
        return nearest_index(self.analyse(images), self.codebook)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"{_NAME}: inputs must be RGB images (batch, height, width, 3); got shape {shape}")
        if any(side is not None and side < CELL for side in shape[1:3]):
            raise ValueError(f"{_NAME}: images must be at least {CELL}x{CELL} pixels (one latent cell); got {shape[1]}x{shape[2]}")
        return shape

    def call(self, images, training: bool = False):
        self.compute_output_shape(images.shape)  # refuses what it cannot code, in one line
        training = bool(training) and self.trainable  # frozen, it codes as it will for real (Keras' BatchNorm rule)
        height, width = ops.shape(images)[1], ops.shape(images)[2]
        latents = self.analyse(images)
        index = nearest_index(latents, self.codebook)
        hard = ops.take(self.codebook, index)
        log_probs = self.log_probs()
        pixels = ops.cast(height * width, "float32")
        bpp = index_bits(index, log_probs) / pixels
        if training:
            weights = soft_assignment(latents, self.codebook, self.softness)
            rate = soft_bits(weights, log_probs) / pixels
            fit = soft_bits(ops.stop_gradient(weights), log_probs) / pixels
            self.add_loss(self._rate_weight() * ops.mean(rate) + FIT_WEIGHT * ops.mean(fit))
            quantised = self._surrogate(latents, hard, weights)
            if self.rate_weight is not None:
                self._adapt_rate_weight(ops.mean(bpp))
        else:
            self.add_loss(self._rate_weight() * ops.mean(bpp))
            quantised = straight_through(hard, latents)  # exactly `hard`; gradients still reach what is upstream
        self.last_bpp = ops.mean(bpp)
        decoded = self.synthesise(quantised, height, width)
        if training and self.distortion_weight:
            self.add_loss(self.distortion_weight * ops.mean(ops.square(decoded - ops.cast(images, "float32"))))
        return decoded

    def _rate_weight(self):
        return self.beta if self.rate_weight is None else ops.stop_gradient(ops.convert_to_tensor(self.rate_weight))

    def _adapt_rate_weight(self, bpp) -> None:
        """One step of the controller: more weight while the rate is above the target."""
        error = (ops.stop_gradient(bpp) - self.target_bpp) / self.target_bpp
        updated = self.rate_weight * ops.exp(RATE_ADAPTATION * ops.clip(error, -1.0, 1.0))
        self.rate_weight.assign(ops.clip(updated, *RATE_WEIGHT_RANGE))  # type: ignore[union-attr]

    def _surrogate(self, latents, hard, weights):
        """The quantised latents of a training pass, with the gradient of the chosen quantisation."""
        if self.quantization == "soft":
            return straight_through(hard, ops.sum(weights * self.codebook, axis=-1))
        if self.quantization == "noise":
            half = self.codebook_size // 2
            noise = keras.random.uniform(ops.shape(latents), -0.5, 0.5, seed=self.noise_seed)
            return ops.clip(latents + noise, -half - 0.5, self.codebook_size - half - 0.5)
        return straight_through(hard, latents)

    # -- the bitstream (numpy in and out) ---------------------------------------------
    def compress(self, images) -> list[bytes]:
        """One bitstream per image of a batch (numpy or tensor, (batch, h, w, 3) in [0, 1])."""
        from nipkit.codecs.streams import compress

        return compress(self, images)

    def decompress(self, streams: Sequence[bytes]) -> np.ndarray:
        """The images (batch, h, w, 3) of streams written by `compress` for one image size."""
        from nipkit.codecs.streams import decompress

        return decompress(self, streams)

    def reference(self, images) -> np.ndarray:
        """The real counterpart (channel-step contract): decompress(compress(images))."""
        from nipkit.codecs.streams import roundtrip

        return roundtrip(self, images)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(latent_channels=self.latent_channels, filters=self.filters, quantization=self.quantization,
                      beta=self.beta, codebook_size=self.codebook_size, softness=self.softness,
                      target_bpp=self.target_bpp, nonlinearity=self.nonlinearity,
                      distortion_weight=self.distortion_weight)
        return config
