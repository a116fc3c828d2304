"""Guards around a run: stale finished folders, absurd sizes, recovery on resume, NIP collapse,
and keys named as the user wrote them."""
from __future__ import annotations

import json

import pytest
import yaml

from nip_runs import error_lines, invoke
from nipkit.config import load_config
from nipkit.errors import ConfigError, TrainingError
from nipkit.schema import validate
from nipkit.training.experiment import MAY_CHANGE, RESUMABLE
from nipkit.training.run_folder import RunFolder
from nipkit.training.runner import pretrain_config

FAST = {
    "data": "demo",
    "nip": "onet",
    "manipulations": ["sharpen"],
    "channel": [{"downscale": {"factor": 2}}, {"jpeg": {"quality": 50}}],
    "fan": {"type": "fan", "filters": [8, 8, 8, 8], "dense": [16, 8]},
    "training": {"mode": "fan", "steps": 2, "batch_size": 2, "patch_size": 48, "validate_every": 2,
                 "validation_patches": 1, "fidelity_patches": 1, "seed": 1},
}


def write(tmp_path, name="exp.yaml", **sections) -> str:
    config = json.loads(json.dumps(FAST))
    for key, value in sections.items():
        if key == "training":
            config["training"].update(value)
        else:
            config[key] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def history(run) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def test_a_finished_run_with_another_channel_is_refused_or_retrained(tmp_path, nipkit_cli, demo_data):
    out = tmp_path / "runs"
    assert nipkit_cli("run", write(tmp_path), "--out", out).returncode == 0
    before = json.loads((out / "fan-r0" / "summary.json").read_text())
    changed = write(tmp_path, "changed.yaml", channel=[{"downscale": {"factor": 2}}, {"jpeg": {"quality": 70}}])

    for extra in ((), ("--resume",)):
        line = error_line(nipkit_cli("run", changed, "--out", out, *extra))
        assert "finished with another config (channel[1].jpeg.quality was 50, now 70)" in line
        assert "--overwrite" in line
    assert json.loads((out / "fan-r0" / "summary.json").read_text()) == before

    result = nipkit_cli("run", changed, "--out", out, "--overwrite")
    assert result.returncode == 0, result.stderr[-2000:]
    after = json.loads((out / "fan-r0" / "summary.json").read_text())
    assert "quality=70" in after["channel"] and "quality=50" in before["channel"]
    assert after["config_digest"] != before["config_digest"]
    report = (out / "report" / "report.md").read_text()
    assert "quality=70" in report and "quality=50" not in report

    again = nipkit_cli("run", changed, "--out", out)
    assert again.returncode == 0 and "already finished" in again.stdout


@pytest.mark.parametrize("key, value", [
    ("batch_size", 100_000_000), ("steps", 1_000_000_000_000), ("patch_size", 100_000), ("validate_every", 10**12),
    ("learning_rate", 1e300), ("repeats", 10**6),
])
def test_absurd_sizes_are_refused_naming_the_key(tmp_path, key, value):
    path = write(tmp_path, training={key: value})
    with pytest.raises(ConfigError, match=rf"exp.yaml:\d+: training.{key}: must be .* up to"):
        validate(load_config(path))


def test_a_run_that_cannot_fit_in_memory_is_refused_by_validate(tmp_path, nipkit_cli):
    path = write(tmp_path, training={"batch_size": 4096, "patch_size": 8192})
    line = error_line(nipkit_cli("validate", path))
    assert f"{path}:" in line and "training.patch_size: a run of this size needs at least" in line
    assert "GiB of memory" in line and "more than this machine's" in line


def test_resume_may_change_learning_rates_and_records_it(tmp_path, nipkit_cli, demo_data):
    out = tmp_path / "runs"
    path = write(tmp_path, training={"lr_decay_every": 1000})
    assert nipkit_cli("run", path, "--out", out).returncode == 0
    result = nipkit_cli("run", path, "--out", out, "--resume", "--set", "training.steps=4",
                        "--set", "training.learning_rate=5e-05", "--set", "training.clip_norm=1.0")
    assert result.returncode == 0, result.stderr[-2000:]
    records = history(out / "fan-r0")
    event = next(r for r in records if "event" in r)
    assert event == {"step": 2, "event": "resumed with changes",
                     "changes": {"training.learning_rate": [0.0001, 5e-05], "training.clip_norm": [None, 1.0]}}
    assert [r["step"] for r in records if "event" not in r] == [0, 2, 4]
    assert records[-1]["learning_rate"] == pytest.approx(5e-05)
    assert json.loads((out / "fan-r0" / "summary.json").read_text())["steps"] == 4
    # other keys still may not change on resume
    line = error_line(nipkit_cli("run", path, "--out", out, "--resume", "--set", "training.steps=6",
                                 "--set", "training.batch_size=4"))
    assert "--set training.batch_size=4: training.batch_size differs" in line


def test_a_collapsing_nip_stops_the_run(tmp_path, nipkit_cli, demo_data):
    path = write(tmp_path, nip="inet", training={"mode": "joint", "steps": 6, "nip_learning_rate": 1e6})
    line = error_line(nipkit_cli("run", path, "--out", tmp_path / "runs"))
    assert "the NIP collapsed at step 2" in line and "training.fidelity_drop_limit=15" in line
    assert "nip_learning_rate" in line
    assert not (tmp_path / "runs" / "joint-r0" / "summary.json").exists()


def test_a_falling_nip_warns_at_half_the_limit(tmp_path, nipkit_cli, demo_data):
    collapse = {"mode": "joint", "steps": 2, "nip_learning_rate": 1e6}
    unguarded = nipkit_cli("run", write(tmp_path, nip="inet", training={**collapse, "fidelity_drop_limit": None}),
                           "--out", tmp_path / "unguarded")
    assert unguarded.returncode == 0, unguarded.stderr[-2000:]
    psnr = {r["step"]: r["psnr"] for r in history(tmp_path / "unguarded" / "joint-r0") if "psnr" in r}
    drop = psnr[0] - psnr[2]
    assert drop > 1.0
    assert "warning: NIP PSNR" not in unguarded.stderr  # no guard, no warning

    # The same (seeded) run with a limit the drop passes half of, but not all of.
    limit = round(1.5 * drop, 3)
    result = nipkit_cli("run", write(tmp_path, nip="inet", training={**collapse, "fidelity_drop_limit": limit}),
                        "--out", tmp_path / "guarded")
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: NIP PSNR")]
    assert warnings == [f"warning: NIP PSNR fell {drop:.1f} dB below its start at step 2 "
                        f"(the run stops at training.fidelity_drop_limit={limit:g} dB)"]
    assert (tmp_path / "guarded" / "joint-r0" / "summary.json").exists()


def test_pretrain_keys_are_named_as_the_user_wrote_them(tmp_path):
    path = write(tmp_path, nip="inet", pretrain={"steps": 2, "batch_size": 2, "patch_size": 32})
    run = RunFolder(tmp_path / "runs" / "nip")
    run.prepare(pretrain_config(load_config(path)), resume=False)
    run.checkpoint.mkdir()
    (run.checkpoint / "state.json").write_text('{"step": 2, "files": {}}')
    changed = pretrain_config(load_config(path, ["pretrain.batch_size=4"]))
    with pytest.raises(TrainingError) as error:
        run.prepare(changed, resume=True)
    assert str(error.value).startswith("--set pretrain.batch_size=4: pretrain.batch_size differs from the run's")
    with pytest.raises(ConfigError, match=r"^--set pretrain.steps=0: pretrain.steps: must be a positive integer"):
        validate(load_config(path, ["pretrain.steps=0"]))


def test_training_images_by_glob_from_the_command_line(tmp_path, demo_data):
    out, path = tmp_path / "runs", write(tmp_path)
    code, stdout, stderr = invoke("run", path, "--out", out, "--set", "training.exclude_images=scene_*")
    assert code == 0, stderr[-2000:]
    assert "5 training images" in stdout
    assert yaml.safe_load((out / "fan-r0" / "config.yaml").read_text())["training"]["exclude_images"] == "scene_*"
    # a finished run trained on other images is refused, not reused
    code, _, stderr = invoke("run", path, "--out", out, "--set", "training.exclude_images=[scene_*, china]")
    assert code == 2 and "(training.exclude_images was 'scene_*', now ['scene_*', 'china'])" in error_lines(stderr)[0]
    # a selection of nothing is one line, before anything trains
    code, _, stderr = invoke("run", write(tmp_path, "pre.yaml", pretrain={"steps": 2}), "--out", tmp_path / "none",
                             "--set", "training.train_images=[astro*, rocket]", "--set", "training.exclude_images=*")
    assert code == 2 and error_lines(stderr) == [
        f"error: {demo_data}: train_images ['astro*', 'rocket'] and exclude_images ['*'] leave none of its 69 "
        "training images"]
    assert not (tmp_path / "none" / "nip").exists()


def test_other_training_images_are_refused_on_resume(tmp_path):
    path = write(tmp_path)
    run = RunFolder(tmp_path / "runs" / "fan-r0")
    run.prepare(load_config(path, ["training.exclude_images=scene_*"]), resume=False)
    run.checkpoint.mkdir()
    (run.checkpoint / "state.json").write_text('{"step": 2, "files": {}}')
    for change in ([], ["training.exclude_images=[scene_*, china]"], ["training.train_images=astro*"]):
        with pytest.raises(TrainingError, match=r"training\.(exclude|train)_images differs from the run's"):
            run.prepare(load_config(path, change), resume=True, may_change=MAY_CHANGE + RESUMABLE)
    assert run.prepare(load_config(path, ["training.exclude_images=scene_*"]), resume=True, may_change=MAY_CHANGE)
