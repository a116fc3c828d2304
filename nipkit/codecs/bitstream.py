"""The learned codec's bitstream: a small header, then the latent indices coded with ANS.

Layout (big-endian header, 20 bytes):

| bytes | field |
|---|---|
| 4 | magic `NPKC` |
| 1 | format version (1) |
| 1 | latent channels |
| 1 | quantisation (index into `QUANTIZATIONS`) |
| 1 | codebook size |
| 2, 2 | image height, width (pixels, up to 65535) |
| 4 | model tag: CRC-32 of the codec's weights (a stream decodes only with its own model) |
| 4 | CRC-32 of the payload (the rest of the stream) |

The payload is `constriction`'s ANS coder output (32-bit words, little-endian) of the
indices, channel by channel, each channel with its categorical model. Any stream that
does not fit — another format, another model, a truncated or damaged payload — is
refused with a `DataError` saying which.

Example:
    >>> import numpy as np
    >>> probs = np.full((2, 4), 0.25)
    >>> header = StreamHeader(16, 8, 2, "soft", 4, model_tag=7)
    >>> data = encode(np.zeros((2, 1, 2), "int32"), probs, header)
    >>> decode(data, probs, header, cell=8)[0].shape
    (2, 1, 2)
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from nipkit.errors import DataError

__all__ = ["MAGIC", "VERSION", "QUANTIZATIONS", "HEADER_BYTES", "StreamHeader", "encode", "decode", "read_header",
           "weights_tag", "MAX_SIDE"]

MAGIC = b"NPKC"
VERSION = 1
QUANTIZATIONS = ("soft", "noise", "ste")
_LAYOUT = ">4sBBBBHHII"
MAX_SIDE = 65535
HEADER_BYTES = struct.calcsize(_LAYOUT)


@dataclass(frozen=True)
class StreamHeader:
    """What a stream says about itself, and what a decoder checks it against."""

    height: int
    width: int
    latent_channels: int
    quantization: str
    codebook_size: int
    model_tag: int

    def describe(self) -> str:
        return (f"{self.latent_channels} latent channels, {self.quantization} quantisation, "
                f"codebook {self.codebook_size}, model {self.model_tag:08x}")


def weights_tag(weights: list[np.ndarray]) -> int:
    """CRC-32 of a model's weights: equal for the same model, different after any change."""
    crc = 0
    for w in weights:
        crc = zlib.crc32(np.ascontiguousarray(w, "<f4").tobytes(), crc)
    return crc


def _coder():
    import constriction

    return constriction.stream.stack.AnsCoder, constriction.stream.model.Categorical


def encode(indices: np.ndarray, probabilities: np.ndarray, header: StreamHeader) -> bytes:
    """One image's stream.

    Args:
        indices: (latent height, latent width, channels) codebook indices.
        probabilities: (channels, codebook size) the entropy model.
        header: the stream's header fields.
    """
    ans, categorical = _coder()
    coder = ans()
    planes = np.ascontiguousarray(np.moveaxis(np.asarray(indices, np.int32), -1, 0)).reshape(len(probabilities), -1)
    for channel in reversed(range(len(probabilities))):  # ANS is a stack: encode in reverse
        coder.encode_reverse(planes[channel], categorical(probabilities[channel].astype(np.float64), perfect=False))
    payload = coder.get_compressed().astype("<u4").tobytes()
    head = struct.pack(
        _LAYOUT, MAGIC, VERSION, header.latent_channels, QUANTIZATIONS.index(header.quantization),
        header.codebook_size, header.height, header.width, header.model_tag, zlib.crc32(payload),
    )
    return head + payload


def read_header(data: bytes) -> tuple[StreamHeader, bytes]:
    """The header and the payload of a stream; raises `DataError` for a foreign or damaged one."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DataError(f"a learned-codec stream is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER_BYTES or data[:4] != MAGIC:
        raise DataError("not a nipkit learned-codec stream (no NPKC header)")
    magic, version, channels, quant, size, height, width, tag, crc = struct.unpack(_LAYOUT, data[:HEADER_BYTES])
    if version != VERSION:
        raise DataError(f"learned-codec stream format {version} is not supported (this nipkit reads {VERSION})")
    payload = data[HEADER_BYTES:]
    if zlib.crc32(payload) != crc or len(payload) % 4 or quant >= len(QUANTIZATIONS):
        raise DataError("damaged learned-codec stream: its checksum or length does not match its header")
    return StreamHeader(height, width, channels, QUANTIZATIONS[quant], size, tag), payload


def decode(data: bytes, probabilities: np.ndarray, expected: StreamHeader, cell: int = 8) -> tuple[np.ndarray, StreamHeader]:
    """The indices (latent height, latent width, channels) of one stream, and its header.

    Args:
        data: the stream.
        probabilities: (channels, codebook size) the decoder's entropy model.
        expected: the decoder's own header fields (height and width are not compared).
        cell: pixels per latent along each side (the codec's down-sampling).

    Raises:
        DataError: a foreign format, a damaged payload, or a stream of another model.
    """
    header, payload = read_header(data)
    mine = (expected.latent_channels, expected.quantization, expected.codebook_size, expected.model_tag)
    if (header.latent_channels, header.quantization, header.codebook_size, header.model_tag) != mine:
        raise DataError(f"the stream was written by another codec ({header.describe()}); this one has "
                        f"{expected.describe()}")
    if header.height < 1 or header.width < 1:
        raise DataError(f"damaged learned-codec stream: image size {header.height}x{header.width}")
    ans, categorical = _coder()
    rows, cols = -(-header.height // cell), -(-header.width // cell)
    coder = ans(np.frombuffer(payload, "<u4").astype(np.uint32))
    planes = [coder.decode(categorical(p.astype(np.float64), perfect=False), rows * cols) for p in probabilities]
    if not coder.is_empty():
        raise DataError("damaged learned-codec stream: data left over after the last latent")
    indices = np.stack(planes).reshape(len(probabilities), rows, cols)
    return np.moveaxis(indices, 0, -1), header
