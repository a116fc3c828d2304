"""`nipkit data ...` run as a user runs it, in a subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from nipkit.data.develop import TargetSpec
from nipkit.data.prepare import prepare_folder
from support import HANG_GUARD_S, wait_for


def test_missing_folder_is_one_line_and_exit_code_2(tmp_path, nipkit_cli):
    result = nipkit_cli("data", "prepare", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'nowhere'}: no such folder of RAW photos"]


def test_bad_option_is_one_line_and_exit_code_2(tmp_path, nipkit_cli):
    (tmp_path / "raw").mkdir()
    result = nipkit_cli("data", "prepare", tmp_path / "raw", "--out", tmp_path / "out", "--split", "120")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "TRAIN:VALIDATION" in result.stderr


def test_prepare_reports_bad_files_and_summarises(tmp_path, photo_dng, nipkit_cli):
    raw = tmp_path / "raw"
    raw.mkdir()
    photo_dng(raw / "a.dng", size=(48, 64))
    photo_dng(raw / "b.DNG", size=(48, 64), offset=(250, 250))
    (raw / "c.nef").write_bytes(b"")
    (raw / "d.dng").write_bytes((raw / "a.dng").read_bytes()[:5000])
    result = nipkit_cli("data", "prepare", raw, "--out", tmp_path / "out", "--no-progress", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    # one line per bad file, and nothing from libraw itself
    assert sorted(result.stderr.strip().splitlines()) == [
        f"skipped {raw / 'c.nef'}: empty file (0 bytes)",
        f"skipped {raw / 'd.dng'}: cannot be read to the end (truncated or damaged file)",
    ]
    assert result.stdout.startswith("2 photos of nipkit Sim A 12-bit (rggb)")
    assert "2 skipped" in result.stdout and "split 1 train / 1 validation" in result.stdout


def test_killed_prepare_resumes_to_the_complete_result(tmp_path, photo_dng):
    raw = tmp_path / "raw"
    raw.mkdir()
    photos = ["china", "flower", "rocket", "coffee"]
    for photo in photos:
        photo_dng(raw / f"{photo}.dng", photo=photo, size=(240, 320), offset=(0, 0))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nipkit.cli.main", "data", "prepare", str(raw), "--out", str(out), "--target", "menon", "--no-progress"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # meta/NAME.json is written last, and the temporaries being written are never
        # named *.json: once one matches, that photo is complete.
        wait_for(lambda: any(out.glob("meta/*.json")), process, "its first photo was done")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=HANG_GUARD_S)  # only a hang guard: SIGKILL is not delayed
    finally:
        if process.poll() is None:
            process.kill()
    done_before = len(list((out / "meta").glob("[!.]*.json")))
    assert not (out / "dataset.json").exists() and 1 <= done_before < len(photos)

    rerun = subprocess.run(command, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(photos) - done_before} prepared now, {done_before} already prepared" in rerun.stdout
    assert not [p for p in out.rglob(".*") if ".tmp" in p.name]

    reference = tmp_path / "reference"
    prepare_folder(raw, reference, target=TargetSpec("menon"), progress=False)
    files = sorted(p.relative_to(reference) for p in reference.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    for relative in files:
        assert (out / relative).read_bytes() == (reference / relative).read_bytes(), relative
    assert len(json.loads((out / "dataset.json").read_text())["images"]) == len(photos)


@pytest.mark.parametrize("seed", [3])
def test_demo_command_is_deterministic(tmp_path, nipkit_cli, seed):
    args = ["--limit", "2", "--max-size", "64", "--scenes", "2", "--no-progress"]
    outputs = []
    for run, run_seed in (("a", seed), ("b", seed), ("c", seed + 1)):
        result = nipkit_cli("data", "demo", "--out", tmp_path / run, "--seed", run_seed, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [f"sim-a: {tmp_path / run / 'sim-a'}", f"sim-b: {tmp_path / run / 'sim-b'}"]
        outputs.append({p.relative_to(tmp_path / run): p.read_bytes() for p in (tmp_path / run).rglob("*") if p.is_file()})
    assert outputs[0] == outputs[1]
    assert outputs[0].keys() == outputs[2].keys()
    dngs = [k for k in outputs[0] if k.suffix == ".dng"]
    assert len(dngs) == 8 and all(outputs[0][k] != outputs[2][k] for k in dngs)
    assert {k.name for k in dngs} == {"astronaut.dng", "chelsea.dng", "scene_0000.dng", "scene_0001.dng"}


@pytest.mark.parametrize("scenes", ["0", "-3", "1001", "many", "2.5"])
def test_bad_scene_count_is_one_line_and_exit_code_2(tmp_path, nipkit_cli, scenes):
    result = nipkit_cli("data", "demo", "--out", tmp_path / "demo", "--scenes", scenes, "--no-progress")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: nipkit data demo: --scenes must be an integer from 1 to 1000; got '{scenes}'"
    ]
    assert not (tmp_path / "demo").exists()


def test_demo_of_an_older_version_is_refused_not_reused(tmp_path, nipkit_cli):
    old = tmp_path / "demo"  # what nipkit's demo version 2 wrote: no demo.json
    (old / "raw" / "sim-a").mkdir(parents=True)
    (old / "raw" / "sim-a" / "astronaut.dng").write_bytes(b"an old DNG")
    result = nipkit_cli("data", "demo", "--out", old, "--limit", "2", "--max-size", "64", "--scenes", "1", "--no-progress")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {old}: holds a demo of an older nipkit (no readable demo.json), not demo "
        "{'version': 3, 'seed': 0, 'scenes': 1, 'limit': 2, 'max_size': 64}; delete the folder or choose another --out"
    ]
    assert (old / "raw" / "sim-a" / "astronaut.dng").read_bytes() == b"an old DNG"


def test_prepare_on_a_partially_copied_card_prepares_none_and_names_each(tmp_path, photo_dng, damaged_copies, nipkit_cli):
    photo_dng(tmp_path / "IMG_1.dng", size=(96, 128))
    card = damaged_copies(tmp_path / "IMG_1.dng", tmp_path / "card")
    result = nipkit_cli("data", "prepare", tmp_path / "card", "--out", tmp_path / "out", "--no-progress")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"error: {tmp_path / 'card'}: none of the 4 RAW files could be prepared"
    reasons = {"stripped": "truncated or image data missing", "unwritten": "at the black level",
               "erased": "have the one value", "cut": "cannot be read to the end"}
    assert len(lines) == 5
    for kind, path in card.items():
        assert sum(line.startswith(f"skipped {path}: ") and reasons[kind] in line for line in lines) == 1, (kind, lines)
    assert not list((tmp_path / "out").rglob("*.npy"))


def test_prepare_takes_every_extension_libraw_reads(tmp_path, photo_dng, nipkit_cli):
    raw = tmp_path / "raw"
    raw.mkdir()
    # libraw tells formats by their content: a DNG under a Kodak, Hasselblad or Phase One name is read
    for i, name in enumerate(["a.KDC", "b.3fr", "c.iiq", "d.mrw", "e.dng"]):
        photo_dng(raw / name, size=(48, 64), offset=(40 * i, 40 * i))
    (raw / "f.x3f").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (raw / "notes.txt").write_text("not a photo")
    result = nipkit_cli("data", "prepare", raw, "--out", tmp_path / "out", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"skipped {raw / 'f.x3f'}: not a RAW file libraw can read (unsupported format or damaged header)"
    ]
    assert result.stdout.startswith("5 photos of nipkit Sim A 12-bit") and "1 non-RAW files ignored" in result.stdout


def test_prepare_refuses_photos_above_the_megapixel_cap(tmp_path, photo_dng, claim_size, nipkit_cli):
    raw = tmp_path / "raw"
    raw.mkdir()
    photo_dng(raw / "small.dng", size=(48, 64))
    photo_dng(raw / "large.dng", size=(96, 128))
    photo_dng(raw / "huge.dng", size=(48, 64), offset=(200, 200))
    claim_size(raw / "huge.dng", 16000, 16000)
    result = nipkit_cli("data", "prepare", raw, "--out", tmp_path / "out", "--no-progress", "--max-megapixels", "0.01")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stderr.strip().splitlines()) == [
        f"skipped {raw / 'huge.dng'}: 16000×16000 sensor (256.0 MP) is above the limit of 0.01 MP; refused before decoding (raise it with --max-megapixels)",
        f"skipped {raw / 'large.dng'}: 128×96 sensor (0.0 MP) is above the limit of 0.01 MP; refused before decoding (raise it with --max-megapixels)",
    ]
    assert result.stdout.startswith("1 photos of")

    bad = nipkit_cli("data", "prepare", raw, "--out", tmp_path / "out", "--max-megapixels", "0")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--max-megapixels" in bad.stderr
