"""Sweeps of many runs: the `sweep:` section, its executors (local processes or Ray) and progress."""
