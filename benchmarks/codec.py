"""The learned codec: encode and decode speed beside libjpeg (Pillow), in the same run.

Encodes and decodes the demo camera's validation photos, whole, with a learned codec
(`compress`: analysis transform + ANS coding; `decompress`: ANS decoding + synthesis
transform) and with Pillow's libjpeg (quality 50, 4:4:4 and 4:2:0), and reports
megapixels per second of each (the best of `--repeats` passes, the least disturbed by
other processes), the rate (bits per pixel, from the bytes) and PSNR.

Usage:
    python benchmarks/codec.py [CODEC.keras | RUN_DIR] [--out benchmarks/results/codec.json] [--repeats 3] [--quick]

Without a codec it measures an untrained 32-channel `LearnedCodec` (its speed does not
depend on its weights). `--quick` (a smoke test): one pass on 64×64 crops.
"""
from __future__ import annotations

import argparse
import os
import time

from common import fill_defaults, format_table, machine_info, write_json

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FULL = {"repeats": 3, "crop": 0}
QUICK = {"repeats": 1, "crop": 64}


def _best(fn, repeats: int) -> tuple[float, object]:
    """(the best wall time of `repeats` calls after one warm-up, the last result)."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("codec", nargs="?", help="a codec .keras file or run folder (default: an untrained one)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--crop", type=int, help="centre crops of this side (0: whole photos)")
    parser.add_argument("--quick", action="store_true")
    args = fill_defaults(parser.parse_args(), FULL, QUICK)

    import numpy as np

    from nipkit.evaluation.rate_distortion import validation_photos
    from nipkit.codecs.files import load_codec
    from nipkit.evaluation.libjpeg import decode, encode
    from nipkit.evaluation.metrics import mean_psnr
    from nipkit.layers import LearnedCodec

    names, photos = validation_photos("demo", args.crop or None)
    megapixels = sum(p.shape[0] * p.shape[1] for p in photos) / 1e6
    pixels = megapixels * 1e6
    if args.codec:
        codec, label = load_codec(args.codec), args.codec
    else:
        codec, label = LearnedCodec(latent_channels=32, filters=48), "LearnedCodec(32, untrained)"
        codec(photos[0][None, :16, :16])

    rows = []
    encode_s, streams = _best(lambda: [codec.compress(p[None])[0] for p in photos], args.repeats)
    decode_s, decoded = _best(lambda: [codec.decompress([s])[0] for s in streams], args.repeats)
    rows.append({"codec": label, "encode_mp_s": megapixels / encode_s, "decode_mp_s": megapixels / decode_s,
                 "bpp": 8 * sum(map(len, streams)) / pixels,
                 "psnr": float(np.mean([mean_psnr(p[None], d[None]) for p, d in zip(photos, decoded)]))})
    for subsampling in ("4:4:4", "4:2:0"):
        encode_s, files = _best(lambda: [encode(p, 50, subsampling) for p in photos], args.repeats)
        decode_s, decoded = _best(lambda: [decode(f) for f in files], args.repeats)
        rows.append({"codec": f"libjpeg q50 {subsampling} (Pillow)", "encode_mp_s": megapixels / encode_s,
                     "decode_mp_s": megapixels / decode_s, "bpp": 8 * sum(map(len, files)) / pixels,
                     "psnr": float(np.mean([mean_psnr(p[None], d[None]) for p, d in zip(photos, decoded)]))})

    columns = [("codec", "<"), ("encode [MP/s]", ">"), ("decode [MP/s]", ">"), ("bpp", ">"), ("PSNR [dB]", ">")]
    cells = [[r["codec"], f"{r['encode_mp_s']:.2f}", f"{r['decode_mp_s']:.2f}", f"{r['bpp']:.3f}", f"{r['psnr']:.2f}"]
             for r in rows]
    print(f"{len(photos)} demo validation photos ({', '.join(names)}), {megapixels:.2f} MP, best of {args.repeats}")
    print(format_table(columns, cells))
    write_json(args.out, "codec.json", {"machine": machine_info(), "photos": names, "megapixels": megapixels,
                                        "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
