"""nipkit-resnip: a small residual demosaicing network for nipkit, as a plugin."""
from setuptools import setup

setup(
    name="nipkit-resnip",
    version="0.2.0",
    description="A small residual demosaicing network (NIP) for nipkit",
    license="MIT",
    python_requires=">=3.10",
    packages=["nipkit_resnip"],
    install_requires=["nipkit", "keras>=3.3", "numpy>=1.24"],
    extras_require={"test": ["pytest>=7", "scipy>=1.10"]},
    # The group is the role (a NIP); the key (left) is the name configs use for `nip:`; the
    # value is module:Class.
    entry_points={"nipkit.nips": ["resnip = nipkit_resnip.resnip:ResNIP"]},
)
