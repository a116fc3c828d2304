"""`nipkit develop`: RAW photos to PNG with a saved NIP; bad files are reported and skipped."""
from __future__ import annotations

import numpy as np
from PIL import Image

from nip_runs import error_lines
from nipkit.data import read_raw
from nipkit.inference import develop_raw
from nipkit.models import INet


def test_develop_folder_and_files(tmp_path, demo_data, nipkit_cli):
    raw_folder = demo_data.parent / "raw" / demo_data.name  # the demo camera's DNG files
    photos = sorted(raw_folder.glob("*.dng"))[:2]
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    for i, photo in enumerate(photos):
        (inputs / ("sub" if i else ".") / photo.name).write_bytes(photo.read_bytes())
    (tmp_path / "broken.dng").write_bytes(photos[0].read_bytes()[:3000])
    model = INet(cfa="rggb")
    model(np.zeros((1, 8, 8, 4), "float32"))
    model.save(tmp_path / "inet.keras")

    result = nipkit_cli("develop", tmp_path / "inet.keras", inputs, tmp_path / "broken.dng",
                        tmp_path / "missing.nef", "--out", tmp_path / "out", "--tile", "128")
    assert result.returncode == 2
    errors = error_lines(result.stderr)
    assert len(errors) == 3 and "broken.dng" in errors[0] and "missing.nef" in errors[1]
    assert errors[2] == "error: 2 of 4 inputs could not be developed (see above)"
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted([photos[0].stem + ".png", f"sub__{photos[1].stem}.png"])

    png = np.asarray(Image.open(tmp_path / "out" / f"{photos[0].stem}.png"))
    expected = develop_raw(model, read_raw(photos[0]), tile=512)
    assert png.shape == expected.shape and png.dtype == np.uint8
    assert np.max(np.abs(png.astype(int) - np.round(expected * 255))) <= 1


def test_unloadable_model_is_one_line(tmp_path, nipkit_cli):
    (tmp_path / "fake.keras").write_bytes(b"not a zip")
    result = nipkit_cli("develop", tmp_path / "fake.keras", tmp_path, "--out", tmp_path / "out")
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "fake.keras" in line and "Traceback" not in result.stderr


def test_develop_refuses_photos_above_the_megapixel_cap(tmp_path, demo_data, nipkit_cli):
    photo = sorted((demo_data.parent / "raw" / demo_data.name).glob("*.dng"))[0]
    model = INet(cfa="rggb")
    model(np.zeros((1, 8, 8, 4), "float32"))
    model.save(tmp_path / "inet.keras")
    result = nipkit_cli("develop", tmp_path / "inet.keras", photo, "--out", tmp_path / "out", "--max-megapixels", "0.001")
    assert result.returncode == 2
    errors = error_lines(result.stderr)
    assert len(errors) == 2 and f"{photo}: " in errors[0] and "is above the limit of 0.001 MP; refused before decoding" in errors[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_text_file_named_keras_is_named_as_such(tmp_path, nipkit_cli):
    (tmp_path / "notes.keras").write_text("weights are on the other disk\n")
    result = nipkit_cli("develop", tmp_path / "notes.keras", tmp_path, "--out", tmp_path / "out")
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line == f"error: {tmp_path / 'notes.keras'}: not a .keras file (a .keras file is a zip archive; this one is not)"


def test_fan_given_as_the_nip_is_refused_by_role(tmp_path, demo_data, nipkit_cli):
    from nipkit.models import FAN

    fan = FAN(n_classes=2, filters=[4], dense=[4])
    fan(np.zeros((1, 32, 32, 3), "float32"))
    fan.save(tmp_path / "fan.keras")
    photo = sorted((demo_data.parent / "raw" / demo_data.name).glob("*.dng"))[0]
    result = nipkit_cli("develop", tmp_path / "fan.keras", photo, "--out", tmp_path / "out")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = error_lines(result.stderr)
    assert line == (
        f"error: {tmp_path / 'fan.keras'}: holds FAN, a FAN, not a NIP; develop needs a NIP's .keras file "
        "(e.g. a run's nip.keras)"
    )
    assert not (tmp_path / "out").exists()
