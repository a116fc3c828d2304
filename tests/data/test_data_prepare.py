"""prepare_folder on folders of real DNG files, good and bad."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from nipkit.data.dataset import Dataset
from nipkit.data.develop import TargetSpec
from nipkit.data.prepare import image_names, parse_split, prepare_folder, split_names
from nipkit.data.raw import read_raw
from nipkit.errors import DataError


@pytest.fixture
def mixed_folder(tmp_path, photo_dng, bayer_dng):
    """Five good photos (one in a subfolder, upper-case extensions) and five bad files."""
    raw = tmp_path / "raw"
    (raw / "day2").mkdir(parents=True)
    photos = [("astronaut", (0, 0)), ("astronaut", (200, 200)), ("coffee", (100, 100)), ("rocket", (50, 300))]
    for i, (photo, offset) in enumerate(photos):
        photo_dng(raw / f"IMG_{i}.DNG", photo=photo, size=(64, 96), offset=offset)
    photo_dng(raw / "day2" / "IMG_9.dng", photo="chelsea", size=(65, 97), offset=(100, 100))
    good = (raw / "IMG_0.DNG").read_bytes()
    (raw / "empty.dng").write_bytes(b"")
    (raw / "cut.dng").write_bytes(good[: len(good) // 2])
    (raw / "garbled.dng").write_bytes(b"\x00" * 16 + good[16:])
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(raw / "holiday.jpg")
    shutil.copy(raw / "holiday.jpg", raw / "not_raw.NEF")
    (raw / "notes.txt").write_text("not a photo")
    return raw


def run(raw, out, **kwargs):
    lines = []
    report = prepare_folder(raw, out, progress=False, echo=lines.append, **kwargs)
    return report, lines


def test_bad_files_are_reported_and_the_rest_prepared(tmp_path, mixed_folder):
    out = tmp_path / "out"
    report, lines = run(mixed_folder, out)
    assert report.images == ["IMG_0", "IMG_1", "IMG_2", "IMG_3", "day2__IMG_9"]
    assert report.camera == "nipkit Sim A 12-bit" and report.cfa == "rggb"
    assert report.new == 5 and report.reused == 0 and report.ignored == 2
    assert len(lines) == 4 and len(report.skipped) == 4
    for bad, reason in [("empty", "empty file"), ("cut", "truncated"), ("garbled", "not a RAW file"), ("not_raw", "not a RAW file")]:
        assert any(bad in line and reason in line for line in lines), (bad, lines)
    assert all("\n" not in line for line in lines)

    index = json.loads((out / "dataset.json").read_text())
    assert index["images"] == report.images
    assert sorted(index["train"] + index["validation"]) == report.images
    assert len(index["validation"]) == 1  # 5 photos shared 120:30

    data = Dataset(out)
    for name, source in [("IMG_2", "IMG_2.DNG"), ("day2__IMG_9", "day2/IMG_9.dng")]:
        raw = read_raw(mixed_folder / source)
        assert data.meta(name)["source"] == source
        assert np.array_equal(data.bayer(name), raw.bayer)
        assert data.cfa == raw.cfa and data.meta(name)["black_level"] == list(raw.black_level)
        png = np.asarray(Image.open(out / "target" / f"{name}.png"))
        assert np.array_equal(png, np.load(out / "target" / f"{name}.npy", allow_pickle=False))
        assert png.shape == (raw.height, raw.width, 3)
    assert data.shape("day2__IMG_9") == (64, 96)  # 65×97 cropped to even


def test_rerun_reuses_what_is_prepared(tmp_path, mixed_folder):
    out = tmp_path / "out"
    run(mixed_folder, out)
    # an inode, not a time stamp: a rewritten file is a new one whatever the clock's grain
    stamps = {p: p.stat().st_ino for p in out.rglob("*.npy")}
    (out / "meta" / "IMG_1.json").unlink()  # as if killed before this photo finished
    report, _ = run(mixed_folder, out)
    assert report.new == 1 and report.reused == 4
    changed = {p for p in stamps if p.stat().st_ino != stamps[p]}
    assert changed == {out / "bayer" / "IMG_1.npy", out / "target" / "IMG_1.npy"}
    # another target spec develops everything again
    report, _ = run(mixed_folder, out, target=TargetSpec("menon"))
    assert report.new == 5 and json.loads((out / "dataset.json").read_text())["target"]["kind"] == "menon"


def test_sixteen_bit_targets_decode_with_libpng(tmp_path, photo_dng):
    import tensorflow as tf

    raw = tmp_path / "raw"
    raw.mkdir()
    photo_dng(raw / "a.dng", size=(48, 64))
    photo_dng(raw / "b.dng", size=(48, 64), offset=(300, 300))
    out = tmp_path / "out"
    run(raw, out, target=TargetSpec("libraw", bits=16))
    for name in ("a", "b"):
        pixels = np.load(out / "target" / f"{name}.npy", allow_pickle=False)
        decoded = tf.io.decode_png((out / "target" / f"{name}.png").read_bytes(), dtype=tf.uint16).numpy()
        assert pixels.dtype == np.uint16 and np.array_equal(decoded, pixels)


def test_mixed_cameras_need_a_choice(tmp_path, photo_dng):
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        photo_dng(raw / f"a{i}.dng", offset=(10 + 90 * i, 10), camera=0)
        photo_dng(raw / f"b{i}.dng", offset=(10 + 90 * i, 10), camera=1)
    (raw / "broken.dng").write_bytes(b"")
    with pytest.raises(DataError, match=r"photos of 2 cameras: nipkit Sim A 12-bit \(3 files\), nipkit Sim B 14-bit \(3 files\); choose one with --camera"):
        run(raw, tmp_path / "out")
    report, _ = run(raw, tmp_path / "b", camera="NIPKIT sim b 14-bit")
    assert report.images == ["b0", "b1", "b2"] and report.cfa == "bggr" and report.other_cameras == 4
    with pytest.raises(DataError, match="no photos of camera 'Sim C'"):
        run(raw, tmp_path / "c", camera="Sim C")


def test_a_minority_cfa_is_left_out(tmp_path, photo_dng, bayer_dng):
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        photo_dng(raw / f"p{i}.dng", offset=(10 + 90 * i, 10), model="Same")
    bayer_dng(raw / "rotated.dng", cfa="grbg", shape=(64, 96), make="nipkit", model="Same")
    report, lines = run(raw, tmp_path / "out")
    assert report.images == ["p0", "p1", "p2"]
    assert lines == [f"skipped {raw / 'rotated.dng'}: CFA grbg differs from the dataset's rggb"]


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        prepare_folder(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="no RAW files found"):
        prepare_folder(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.dng").write_bytes(b"")
    with pytest.raises(DataError, match="none of the 1 RAW files could be prepared"):
        prepare_folder(tmp_path / "bad", tmp_path / "out", progress=False, echo=lambda line: None)


def test_split_is_deterministic_and_proportional():
    names = [f"img{i:03d}" for i in range(200)]
    train, validation = split_names(names, (120, 30), seed=0)
    assert len(train) == 120 and len(validation) == 30 and not set(train) & set(validation)
    assert (train, validation) == split_names(list(reversed(names)), (120, 30), seed=0)
    assert validation != split_names(names, (120, 30), seed=1)[1]
    assert [len(part) for part in split_names(names[:9], (120, 30), 0)] == [7, 2]
    assert [len(part) for part in split_names(names[:2], (120, 30), 0)] == [1, 1]
    assert [len(part) for part in split_names(names[:1], (120, 30), 0)] == [1, 0]
    assert [len(part) for part in split_names(names[:10], (10, 0), 0)] == [10, 0]
    assert parse_split("100:25") == (100, 25)
    for bad in ("100", "a:b", "0:5", "3:-1"):
        with pytest.raises(ValueError, match="split"):
            parse_split(bad)


def test_image_names(tmp_path):
    files = [tmp_path / "a" / "IMG_1.CR2", tmp_path / "a" / "IMG_1.dng", tmp_path / "b" / "x.nef"]
    assert list(image_names(tmp_path, files).values()) == ["a__IMG_1_cr2", "a__IMG_1_dng", "b__x"]
