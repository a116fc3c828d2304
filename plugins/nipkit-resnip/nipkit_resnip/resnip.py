"""ResNIP: a small residual demosaicing network, shipped as a nipkit plugin."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from nipkit.layers import ClipUnit, DepthToSpace
from nipkit.cfa import check_cfa, check_raw_stack_shape, sample_positions

__all__ = ["ResNIP", "superpixel_matrix", "site_to_tile_order"]


def superpixel_matrix() -> np.ndarray:
    """(4, 12) map from a stack pixel (R, Gr, Gb, B) to an RGB value for each of its four
    sample sites, in stack order: every site takes the tile's R and B; a green site keeps
    its own green, a red or blue site takes the mean of the two greens.
    """
    matrix = np.zeros((4, 12), dtype="float32")
    for site in range(4):
        matrix[0, 3 * site + 0] = 1.0
        matrix[3, 3 * site + 2] = 1.0
        if site in (1, 2):
            matrix[site, 3 * site + 1] = 1.0
        else:
            matrix[1, 3 * site + 1] = matrix[2, 3 * site + 1] = 0.5
    return matrix


def site_to_tile_order(cfa: str) -> list[int]:
    """Channel indices that reorder 12 channels from stack-site order (R, Gr, Gb, B sites,
    3 colours each) to tile order ((row, col) = (0,0), (0,1), (1,0), (1,1)), the order
    depth-to-space reads.
    """
    site_at = {2 * row + col: site for site, (row, col) in enumerate(sample_positions(cfa))}
    return [3 * site_at[tile] + colour for tile in range(4) for colour in range(3)]


def _conv3x3(filters: int, name: str, **kwargs) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, 3, padding="same", name=name, **kwargs)


@keras.saving.register_keras_serializable(package="nipkit_resnip")
class ResNIP(keras.Model):
    """A neural imaging pipeline that learns a correction to a superpixel demosaic.

    Everything is computed per stack pixel at half resolution, in stack-site order:

    - base: each of the four sites of a 2×2 tile gets (R, G, B) with the tile's R and B and
      its own green (green sites) or the mean green (R and B sites) — a fixed linear map;
    - residual: 3×3 conv 4→F + ReLU, `blocks` × [3×3 conv F→F, ReLU, 3×3 conv F→F, + skip],
      3×3 conv F→12 (zero-initialised, so an untrained ResNIP is the superpixel demosaic);
    - base + residual is reordered from site order to tile order by the CFA, moved to
      full resolution by depth-to-space(2), and clipped to [0, 1] (straight-through).

    Trainable parameters: 145·F + 18·blocks·F² + 2·blocks·F + 12, i.e. 11,612 with the
    defaults (F = 16, blocks = 2).

    Args:
        filters: F, the feature channels of the residual branch (>= 1).
        blocks: the number of residual blocks (>= 0).
        cfa: the sensor's colour filter array, `rggb`, `grbg`, `gbrg` or `bggr`.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: (batch, h/2, w/2, 4) RAW stacks, channels R, Gr, Gb, B, in [0, 1].

    Returns:
        (batch, h, w, 3) RGB images in [0, 1].

    Example:
        >>> import numpy as np
        >>> nip = ResNIP(cfa="grbg")
        >>> tuple(nip(np.zeros((1, 8, 8, 4), "float32")).shape)
        (1, 16, 16, 3)
    """

    # RAW-stack sides must be multiples of this (only same-padded 3×3 convolutions).
    input_multiple = 1

    def __init__(self, filters: int = 16, blocks: int = 2, cfa: str = "rggb", **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"ResNIP: filters must be an integer >= 1; got {filters!r}")
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
            raise ValueError(f"ResNIP: blocks must be an integer >= 0; got {blocks!r}")
        self.filters = filters
        self.blocks = blocks
        self.cfa = check_cfa(cfa)
        self.head = _conv3x3(filters, "head", activation="relu")
        self.block_in = [_conv3x3(filters, f"block{i}_in", activation="relu") for i in range(blocks)]
        self.block_out = [_conv3x3(filters, f"block{i}_out") for i in range(blocks)]
        self.tail = _conv3x3(12, "tail", kernel_initializer="zeros")
        self.to_full_resolution = DepthToSpace(2)
        self.clip = ClipUnit()
        self._base = superpixel_matrix()
        self._order = site_to_tile_order(self.cfa)

    def build(self, input_shape) -> None:
        check_raw_stack_shape("ResNIP", input_shape, channels=4, multiple=self.input_multiple)
        features = (*tuple(input_shape)[:3], self.filters)
        self.head.build(tuple(input_shape))
        for layer in self.block_in + self.block_out:
            layer.build(features)
        self.tail.build(features)
        self.built = True

    def call(self, inputs, training: bool = False):
        base = ops.matmul(inputs, ops.convert_to_tensor(self._base, dtype=inputs.dtype))
        x = self.head(inputs)
        for inner, outer in zip(self.block_in, self.block_out):
            x = x + outer(inner(x))
        sites = base + self.tail(x)
        tiles = ops.take(sites, self._order, axis=-1)
        return self.clip(self.to_full_resolution(tiles))

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, None if height is None else 2 * height, None if width is None else 2 * width, 3)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(filters=self.filters, blocks=self.blocks, cfa=self.cfa)
        return config
