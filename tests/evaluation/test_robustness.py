"""robustness.md and its plots, written from computed rescoring results."""
from __future__ import annotations

import json

from PIL import Image

from nipkit.evaluation.robustness import write_robustness
from nipkit.options import MODES, mode_order


def _result(mode: str, accuracy: float) -> dict:
    rows = [{"name": f"libjpeg q{q}", "accuracy": accuracy, "interval": [accuracy - 0.05, accuracy + 0.05],
             "image_accuracy": accuracy, "ran": ["jpeg as libjpeg"], "quality": q, "scale": None,
             "quality_family": "libjpeg", "scale_family": None} for q in (50, 70, 90)]
    return {"run": f"runs/{mode}-r0", "mode": mode, "accuracy_training": accuracy, "channels": rows}


def test_every_mode_gets_a_panel_in_the_order_of_modes(tmp_path):
    results = [_result("codec", 0.4), _result("fan", 0.3), _result("joint_codec", 0.5)]
    table = write_robustness(results, tmp_path).read_text()
    assert "| channel | F+C | F | F+N+C |" in table  # the table keeps the results' order
    assert "| libjpeg q70 | 0.400 (0.35–0.45) | 0.300 (0.25–0.35) | 0.500 (0.45–0.55) |" in table
    # one 5-inch panel at 100 dpi per mode: F, F+C and F+N+C, none dropped
    assert Image.open(tmp_path / "accuracy_quality.png").size[0] == 3 * 500
    assert not (tmp_path / "accuracy_scale.png").exists()  # no entry varies the scale
    assert [r["mode"] for r in json.loads((tmp_path / "robustness.json").read_text())["runs"]] == ["codec", "fan", "joint_codec"]


def test_mode_order_puts_the_papers_modes_first():
    assert sorted(["plugin_mode", "joint_codec", "codec", "fan", "joint"], key=mode_order) == [*MODES, "plugin_mode"]
