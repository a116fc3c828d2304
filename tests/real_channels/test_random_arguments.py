"""Random arguments (`{uniform: [lo, hi]}`, `{choice: [...]}`): checked, drawn per seed, resumed exactly."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml

from nipkit.config import Config
from nipkit.random_config import config_random_arguments
from nipkit.random_values import VALIDATION
from nipkit.cli.main import main
from random_run import RANDOM

def write(tmp_path, config=RANDOM, name="random.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_draws_depend_only_on_seed_step_and_stream():
    arguments = config_random_arguments(Config(RANDOM, "random.yaml"))
    first, again = arguments.draw(3, 5, 4, 3), arguments.draw(3, 5, 4, 3)
    assert all((first[k] == again[k]).all() for k in first)
    other_seed, other_step = arguments.draw(4, 5, 4, 3), arguments.draw(3, 6, 4, 3)
    assert not (first["channel.1.quality"] == other_seed["channel.1.quality"]).all()
    assert not (first["channel.1.quality"] == other_step["channel.1.quality"]).all()
    assert not (first["channel.1.quality"] == arguments.draw(3, 5, 4, 3, VALIDATION)["channel.1.quality"]).all()
    assert set(np.unique(first["channel.1.quality"])) <= {50, 70, 90}
    # one scale per batch, inside the range
    assert np.unique(first["channel.0.scale"]).size == 1 and 0.5 <= first["channel.0.scale"][0, 0] <= 1.0


def test_resumed_batches_draw_what_an_uninterrupted_run_draws(tmp_path, demo_data):
    from nipkit.training import Experiment

    exp = Experiment.from_config(Config(json.loads(json.dumps(RANDOM)), "random.yaml"), mode="joint")
    uninterrupted = exp.batches(0)
    for _ in range(3):
        expected = next(uninterrupted)
    resumed = next(exp.batches(2))
    for got, want in zip(resumed, expected):
        if isinstance(want, dict):
            assert all(np.array_equal(got[k].numpy(), want[k].numpy()) for k in want)
        else:
            assert np.array_equal(got.numpy(), want.numpy())
    # validation draws are fixed: the same for every scorer
    assert all(np.array_equal(exp.validation_draws(0, 2)[k], exp.validation_draws(0, 2)[k]) for k in exp.validation_draws(0, 2))


@pytest.mark.parametrize("path, value, where, message", [
    (("channel", 1, "jpeg", "quality"), {"uniform": [95, 50]}, "channel[1].jpeg.quality", "uniform range has low 95 > high 50"),
    (("channel", 1, "jpeg", "quality"), {"uniform": [50, 120]}, "channel[1].jpeg.quality", "quality must be an integer from 1 to 100; got 120"),
    (("channel", 1, "jpeg", "quality"), {"choice": [0, 50]}, "channel[1].jpeg.quality", "DifferentiableJPEG: quality must be an integer from 1 to 100; got 0"),
    (("channel", 0, "downscale", "scale"), {"uniform": [0.0, 1.0]}, "channel[0].downscale.scale", "Downscale: scale must be a number in (0, 1]; got 0.0"),
    (("channel", 0, "downscale", "scale"), {"uniform": [0.5, 1.5]}, "channel[0].downscale.scale", "Downscale: scale must be a number in (0, 1]; got 1.5"),
    (("channel", 1, "jpeg", "harmonic_terms"), {"choice": [3, 5]}, "channel[1].jpeg.harmonic_terms", "DifferentiableJPEG cannot draw 'harmonic_terms'"),
    (("manipulations", 1, "gaussian", "kernel_size"), {"choice": [3, 4]}, "manipulations[1].gaussian.kernel_size", "Gaussian: kernel_size must be a positive odd integer"),
])
def test_bad_distributions_are_one_located_line(tmp_path, capsys, path, value, where, message):
    config = json.loads(json.dumps(RANDOM))
    node = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(SystemExit) as exit_code:
        main(["validate", str(write(tmp_path, config))])
    stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert exit_code.value.code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], stderr
    assert re.search(rf"random\.yaml:\d+: {re.escape(where)}: ", lines[0])


def test_killed_random_run_resumes_and_states_its_distributions(resumed_random_run):
    out, printed = resumed_random_run
    assert "resuming" in printed and "channel[1].jpeg.quality drawn from choice(50, 70, 90) per image" in printed
    for mode in ("fan", "joint"):
        steps = [json.loads(line)["step"] for line in (out / f"{mode}-r0" / "history.jsonl").read_text().splitlines()]
        assert steps == [0, 4, 8]
        summary = json.loads((out / f"{mode}-r0" / "summary.json").read_text())
        assert summary["random_arguments"] == {"channel[0].downscale.scale": "uniform(0.5, 1) per batch",
                                               "channel[1].jpeg.quality": "choice(50, 70, 90) per image"}
    assert "`channel[1].jpeg.quality` choice(50, 70, 90) per image" in (out / "report" / "report.md").read_text()


def test_manipulations_take_drawn_values_per_image():
    from nipkit.layers.awgn import AWGN
    from nipkit.layers.gamma import Gamma

    images = np.full((2, 8, 8, 3), 0.25, "float32")
    out = np.asarray(Gamma(gamma=0.8)(images, gamma=np.array([0.5, 2.0], "float32")))
    np.testing.assert_allclose(out[:, 0, 0, 0], [0.5, 0.0625], rtol=1e-6)
    noisy = np.asarray(AWGN(sigma=0.02, seed=1, clip=False)(images, sigma=np.array([0.0, 0.1], "float32")))
    assert np.abs(noisy[0] - 0.25).max() == 0 and 0.05 < (noisy[1] - 0.25).std() < 0.2


@pytest.mark.parametrize("padding", ["reflect", "constant"])
def test_filters_drawn_per_image_equal_the_fixed_layer_of_each_value(padding):
    from nipkit.layers.gaussian import Gaussian
    from nipkit.layers.sharpen import Sharpen

    images = np.random.default_rng(0).uniform(size=(3, 12, 10, 3)).astype("float32")
    sigmas, strengths = np.array([0.5, 0.83, 2.0], "float32"), np.array([0.0, 1.0, 1.7], "float32")
    blurred = np.asarray(Gaussian(sigma=1.0, padding=padding)(images, sigma=sigmas))
    sharpened = np.asarray(Sharpen(padding=padding)(images, strength=strengths))
    for i in range(3):
        fixed_blur = np.asarray(Gaussian(sigma=float(sigmas[i]), padding=padding)(images[i:i + 1]))
        fixed_sharp = np.asarray(Sharpen(strength=float(strengths[i]), padding=padding)(images[i:i + 1]))
        np.testing.assert_allclose(blurred[i], fixed_blur[0], atol=2e-6)
        np.testing.assert_allclose(sharpened[i], fixed_sharp[0], atol=2e-5)
    assert np.abs(blurred[0] - blurred[2]).max() > 0.05  # the draws do change the images


@pytest.mark.parametrize("padding", ["reflect", "symmetric", "constant"])
def test_kernel_sizes_drawn_per_image_equal_the_fixed_layer_of_each_size(padding):
    from nipkit.layers.gaussian import Gaussian
    from nipkit.layers.median import Median

    images = np.random.default_rng(2).uniform(size=(4, 13, 11, 3)).astype("float32")
    sizes = np.array([1, 3, 5, 7], "float32")
    sigmas = np.array([0.5, 0.83, 1.5, 2.0], "float32")
    blurred = np.asarray(Gaussian(sigma=1.5, kernel_size=7, padding=padding)(images, kernel_size=sizes))
    both = np.asarray(Gaussian(kernel_size=7, padding=padding)(images, sigma=sigmas, kernel_size=sizes))
    medians = np.asarray(Median(kernel_size=7, padding=padding)(images, kernel_size=sizes))
    for i, size in enumerate(sizes.astype(int)):
        one = images[i:i + 1]
        np.testing.assert_allclose(blurred[i], np.asarray(Gaussian(1.5, int(size), padding)(one))[0], atol=2e-6)
        np.testing.assert_allclose(both[i], np.asarray(Gaussian(float(sigmas[i]), int(size), padding)(one))[0], atol=2e-6)
        np.testing.assert_array_equal(medians[i], np.asarray(Median(int(size), padding)(one))[0])
    np.testing.assert_array_equal(medians[0], images[0])  # a 1 × 1 median is the image itself
    # a drawn size between two odd ones rounds to one of them
    halfway = np.asarray(Median(kernel_size=7, padding=padding)(images[:1], kernel_size=np.array([4.2], "float32")))
    np.testing.assert_array_equal(halfway[0], np.asarray(Median(5, padding)(images[:1]))[0])


def test_kernel_size_is_drawn_per_image_and_built_at_its_largest(tmp_path):
    from nipkit.random_config import build_step

    config = json.loads(json.dumps(RANDOM))
    config["manipulations"] += [{"gaussian": {"sigma": {"uniform": [0.5, 1.5]}, "kernel_size": {"choice": [3, 5, 7]}}},
                                {"median": {"kernel_size": {"choice": [3, 5]}}}]
    main(["validate", str(write(tmp_path, config))])
    parsed = Config(config, "random.yaml")
    assert build_step(parsed, "manipulations", 2).kernel_size == 7
    assert build_step(parsed, "manipulations", 2).sigma == 0.5  # other arguments: their smallest value
    assert build_step(parsed, "manipulations", 3).kernel_size == 5
    draws = config_random_arguments(parsed).draw(3, 5, 64, 4)
    assert set(np.unique(draws["manipulations.2.kernel_size"])) == {3, 5, 7}
    assert set(np.unique(draws["manipulations.3.kernel_size"])) == {3, 5}


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_resample_drawn_per_image_equals_the_fixed_layer_of_each_factor(method):
    from nipkit.layers.resample import Resample

    images = np.random.default_rng(1).uniform(size=(5, 33, 20, 3)).astype("float32")
    factors = [0.05, 0.3, 0.5, 0.71, 0.9]  # 0.9 · 20 = 18 exactly: float32's 0.9 must not floor to 17
    resampled = np.asarray(Resample(0.5, method)(images, factor=np.array(factors, "float32")))
    for i, factor in enumerate(factors):
        fixed = np.asarray(Resample(factor, method)(images[i:i + 1]))
        np.testing.assert_allclose(resampled[i], fixed[0], atol=1e-6)


@pytest.mark.parametrize("factor, message", [
    ({"uniform": [0.4, 0.9]}, None),
    ({"uniform": [0.5, 1.0]}, "Resample: factor must be a number with 0 < factor < 1; got 1.0"),
])
def test_resample_factor_is_drawn_per_image_and_its_range_checked(tmp_path, capsys, factor, message):
    config = json.loads(json.dumps(RANDOM))
    config["manipulations"].append({"resample": {"factor": factor}})
    path = write(tmp_path, config)
    if message is None:
        arguments = config_random_arguments(Config(config, "random.yaml"))
        draws = arguments.draw(3, 5, 4, 4)["manipulations.2.factor"]
        assert np.unique(draws).size > 1 and 0.4 <= draws.min() and draws.max() <= 0.9
        main(["validate", str(path)])
        return
    with pytest.raises(SystemExit) as exit_code:
        main(["validate", str(path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_code.value.code == 2 and len(lines) == 1 and message in lines[0]
    assert re.search(r"random\.yaml:\d+: manipulations\[2\]\.resample\.factor: ", lines[0])
