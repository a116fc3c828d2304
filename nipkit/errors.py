"""nipkit's one error hierarchy.

Every error a user can cause (a bad YAML file, an unknown component, an unreadable RAW
file, missing data, a diverging run) is a `NipkitError`. The CLI prints it as one line on
stderr and exits with code 2; `nipkit --traceback` shows the full trace.
"""
from __future__ import annotations


class NipkitError(Exception):
    """Base class of every error nipkit raises on purpose."""


class ConfigError(NipkitError, ValueError):
    """A config file, a component spec or a parameter is wrong."""


class RegistryError(NipkitError, KeyError):
    """A registry key is unknown or offered twice."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginLoadError(NipkitError, ImportError):
    """A plugin's entry point could not be imported."""


class DataError(NipkitError, OSError):
    """A RAW file, image or prepared dataset cannot be used."""


class TrainingError(NipkitError, RuntimeError):
    """Training cannot go on: a non-finite loss, a corrupt checkpoint, a bad resume."""


class DiskFullError(NipkitError, OSError):
    """A file could not be written because its disk (or quota) is full."""


class SweepError(NipkitError):
    """A sweep cannot start or did not finish: Ray missing or unreachable, too many runs, failed runs."""
