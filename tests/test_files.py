"""Atomic writes: a file being written is never seen under a name its readers look for."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nipkit.files import atomic_write, remove_temporaries, temporary_name


def test_a_file_being_written_matches_no_glob_of_final_names(tmp_path):
    seen = []

    def write(tmp: Path) -> None:
        tmp.write_text("{}")
        seen.append(sorted(p.name for p in tmp_path.glob("*.json")))

    atomic_write(tmp_path / "photo.json", write)
    assert seen == [[]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.json"]


def test_keep_suffix_is_for_writers_that_insist_on_it(tmp_path):
    assert temporary_name(tmp_path / "nip.keras", keep_suffix=True).suffix == ".keras"
    assert temporary_name(tmp_path / "nip.keras").name == f".nip.keras.{os.getpid()}.tmp"
    atomic_write(tmp_path / "x.npz", lambda tmp: np.savez_compressed(tmp, a=np.ones(2)), keep_suffix=True)
    assert np.load(tmp_path / "x.npz")["a"].tolist() == [1.0, 1.0]


def test_a_failed_write_leaves_nothing_and_leftovers_are_removed(tmp_path):
    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "a.json", fail)
    assert list(tmp_path.iterdir()) == []
    for leftover in (temporary_name(tmp_path / "b.json"), temporary_name(tmp_path / "c.keras", keep_suffix=True)):
        leftover.write_text("killed mid-write")
    (tmp_path / "kept.json").write_text("{}")
    remove_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["kept.json"]
