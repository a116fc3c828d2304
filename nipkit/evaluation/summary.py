"""The typed run summary: what `summary.json` of a finished experiment run holds.

Written by the trainer and read by the report, in this one place. The "real channel" is
the distribution channel with every step that offers a real counterpart (e.g.
DifferentiableJPEG → libjpeg) run as that counterpart; `real_channel` lists what each
step ran as. Each patch accuracy comes with its 95% Wilson interval, and the differentiable
channel's with the mean of the last `LAST_VALIDATIONS` validations. Summaries written before
the rename (`accuracy_libjpeg`, ...) still load, and so do those without intervals (they are
computed from the confusion matrices; the mean of the last validations stays None).

Example:
    >>> summary = RunSummary.read("runs/quickstart/joint-r0/summary.json")  # doctest: +SKIP
    >>> summary.accuracy_real, [s.ran_as for s in summary.real_channel]  # doctest: +SKIP
    (0.62, ['itself', 'reference'])
    >>> summary.accuracy_real_interval, summary.accuracy_last_mean  # doctest: +SKIP
    ([0.59, 0.65], 0.61)
"""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from nipkit.errors import DataError
from nipkit.evaluation.confidence import wilson_interval

__all__ = ["SUMMARY_FILE", "LAST_VALIDATIONS", "PSNR_CAP", "NIP_METRICS", "NipFidelity", "StepRun", "RunSummary", "decision_counts"]

SUMMARY_FILE = "summary.json"
LAST_VALIDATIONS = 5  # `accuracy_last_mean` averages this many of the last validations
PSNR_CAP = 100.0  # dB, the PSNR of an exact output (ONet, which gives the target itself)
# Keys of summaries written before the real channel was named for what it is.
RENAMED_KEYS = {
    "accuracy_libjpeg": "accuracy_real",
    "confusion_libjpeg": "confusion_real",
    "image_accuracy_libjpeg": "image_accuracy_real",
}


@dataclass
class NipFidelity:
    """NIP fidelity on the fixed fidelity patches, at the end and before training."""

    psnr: float
    ssim: float
    psnr_initial: float
    ssim_initial: float

    @property
    def exact(self) -> bool:
        """Whether the NIP gave the target itself (PSNR at `PSNR_CAP`), so its fidelity says nothing."""
        return self.psnr >= PSNR_CAP and self.psnr_initial >= PSNR_CAP


@dataclass
class StepRun:
    """One channel step of the real-channel evaluation: its description and what ran."""

    step: str
    ran_as: str  # "reference" (its real counterpart) or "itself"


def decision_counts(confusion: list[list[int]]) -> tuple[int, int]:
    """(correct, total) patch decisions of a confusion matrix (rows = true class)."""
    matrix = [[int(v) for v in row] for row in confusion]
    return sum(row[i] for i, row in enumerate(matrix)), sum(map(sum, matrix))


@dataclass
class RunSummary:
    """Final metrics of one run (one mode, one repeat)."""

    mode: str
    repeat: int
    classes: list[str]
    accuracy: float
    confusion: list[list[int]]
    image_accuracy: float
    accuracy_real: float
    confusion_real: list[list[int]]
    image_accuracy_real: float
    nip: NipFidelity
    nip_name: str
    channel: str
    real_channel: list[StepRun] = field(default_factory=list)
    steps: int = 0
    seed: int = 0
    seconds: float = float("nan")
    patches: int = 0
    config_digest: str | None = None
    accuracy_interval: list[float] | None = None  # 95% Wilson; from `confusion` when None
    accuracy_real_interval: list[float] | None = None  # 95% Wilson; from `confusion_real` when None
    accuracy_last_mean: float | None = None  # mean of the last LAST_VALIDATIONS validations
    bpp: float | None = None  # a coding step's rate measured from its bytes (the real channel); None: no coding step
    bpp_estimate: float | None = None  # the model's estimate of that rate (the differentiable channel)
    # a learned codec in the channel, on the validation photos whole (as `nipkit codec-check`):
    # {"bpp" from its bytes, "bpp_estimate", "psnr", "ssim"}; None: no learned codec
    codec: dict[str, float] | None = None
    random_arguments: dict[str, str] = field(default_factory=dict)  # "channel[1].jpeg.quality": "uniform(50, 95) per image"

    def __post_init__(self) -> None:
        if self.accuracy_interval is None:
            self.accuracy_interval = list(wilson_interval(*decision_counts(self.confusion)))
        if self.accuracy_real_interval is None:
            self.accuracy_real_interval = list(wilson_interval(*decision_counts(self.confusion_real)))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict, where: str = SUMMARY_FILE) -> "RunSummary":
        """A summary from its JSON object (current or pre-rename keys).

        Raises:
            DataError: a required key is missing, naming `where`.
        """
        data = {RENAMED_KEYS.get(k, k): v for k, v in data.items()}
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        nip: dict[str, Any] = data["nip"] if isinstance(data.get("nip"), dict) else {}
        missing = [k for k in required if k not in data] + [
            f"nip.{f.name}" for f in fields(NipFidelity) if f.name not in nip]
        if missing:
            raise DataError(f"{where}: missing {', '.join(missing)} (a run summary has {', '.join(required)})")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        values["nip"] = NipFidelity(**{f.name: float(nip[f.name]) for f in fields(NipFidelity)})
        values["real_channel"] = [StepRun(**step) for step in data.get("real_channel") or []]
        return cls(**values)

    @classmethod
    def read(cls, path: str | Path) -> "RunSummary":
        """Reads a summary.json. Raises DataError: unreadable, not JSON or incomplete."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot be read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(data, dict):
            raise DataError(f"{path}: expected a JSON object")
        return cls.from_json(data, str(path))

    def counts(self, real: bool = False) -> tuple[int, int]:
        """(correct, total) patch decisions through the differentiable or the real channel."""
        return decision_counts(self.confusion_real if real else self.confusion)

    def metric(self, key: str) -> float:
        """A headline metric by name; PSNR/SSIM keys are the NIP's; nan where not recorded."""
        value = getattr(self.nip, key) if key in NIP_METRICS else getattr(self, key)
        return float("nan") if value is None else float(value)

    @property
    def fidelity_of(self) -> str:
        """Whose image quality the run trades for accuracy: "codec" where the NIP is exact (ONet) and
        the channel's learned codec is recorded (`codec`), else "NIP"."""
        return "codec" if self.nip.exact and self.codec is not None else "NIP"

    def fidelity(self, key: str) -> float:
        """"psnr" or "ssim" of `fidelity_of`: the codec's on the validation photos, or the NIP's."""
        return float(self.codec[key]) if self.codec is not None and self.fidelity_of == "codec" else float(getattr(self.nip, key))

    @property
    def counterparts(self) -> list[str]:
        """The steps that ran as their real counterpart."""
        return [s.step for s in self.real_channel if s.ran_as == "reference"]


NIP_METRICS = tuple(f.name for f in fields(NipFidelity))
