"""nipkit-resnip: a nipkit plugin adding the `resnip` neural imaging pipeline.

Installing this distribution registers `resnip` in nipkit's `nipkit.models` entry-point
group, so a config can say `nip: resnip` (the dataset's CFA is passed as `cfa`).

Example:
    >>> from nipkit import registry
    >>> nip = registry.models.build("resnip", cfa="gbrg")  # doctest: +SKIP
"""
from nipkit_resnip.resnip import ResNIP

__all__ = ["ResNIP"]
