"""The tiny experiment of these tests: its channel draws the scale and the JPEG quality at random."""
from __future__ import annotations

RANDOM = {
    "data": "demo",
    "nip": {"type": "inet"},
    "manipulations": ["sharpen", {"gaussian": {"sigma": 0.83}}],
    "channel": [{"downscale": {"scale": {"uniform": [0.5, 1.0]}, "method": "bicubic"}},
                {"jpeg": {"quality": {"choice": [50, 70, 90]}, "subsampling": "4:2:0"}}],
    "fan": {"type": "fan", "filters": [8, 8, 8, 8], "dense": [16, 8]},
    "training": {"mode": ["fan", "joint"], "steps": 8, "batch_size": 2, "patch_size": 48, "validate_every": 4,
                 "validation_patches": 2, "fidelity_patches": 1, "lr_decay_every": 2, "seed": 3},
}
