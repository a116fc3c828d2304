"""nipkit: neural imaging pipelines optimised for photo provenance."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = {}
exec((HERE / "nipkit" / "_version.py").read_text(), VERSION)

# Every built-in component once: its key, where it lives, and its roles. A role is an
# entry-point group `nipkit.<role group>`; plugins declare theirs the same way.
BUILT_INS = [
    ("sharpen", "nipkit.layers.sharpen:Sharpen", ["manipulations"]),
    ("gaussian", "nipkit.layers.gaussian:Gaussian", ["manipulations", "channel"]),
    ("resample", "nipkit.layers.resample:Resample", ["manipulations"]),
    ("jpeg", "nipkit.layers.jpeg:DifferentiableJPEG", ["manipulations", "channel"]),
    ("awgn", "nipkit.layers.awgn:AWGN", ["manipulations", "channel"]),
    ("median", "nipkit.layers.median:Median", ["manipulations"]),
    ("gamma", "nipkit.layers.gamma:Gamma", ["manipulations"]),
    ("downscale", "nipkit.layers.downscale:Downscale", ["channel"]),
    ("pillow_resize", "nipkit.layers.pillow_resize:PillowResize", ["channel"]),
    ("webp", "nipkit.layers.webp:WebP", ["channel"]),
    ("avif", "nipkit.layers.avif:AVIF", ["channel"]),
    ("constrained_conv2d", "nipkit.layers.constrained_conv2d:ConstrainedConv2D", ["blocks"]),
    ("depth_to_space", "nipkit.layers.depth_to_space:DepthToSpace", ["blocks"]),
    ("clip_unit", "nipkit.layers.clip_unit:ClipUnit", ["blocks"]),
    ("gdn", "nipkit.layers.gdn:GDN", ["blocks"]),
    ("inet", "nipkit.models.inet:INet", ["nips"]),
    ("unet", "nipkit.models.unet:UNet", ["nips"]),
    ("dnet", "nipkit.models.dnet:DNet", ["nips"]),
    ("onet", "nipkit.models.onet:ONet", ["nips"]),
    ("fan", "nipkit.models.fan:FAN", ["fans"]),
    ("learned_codec", "nipkit.layers.learned_codec:LearnedCodec", ["codecs", "channel"]),
]
COMPONENT_GROUPS: dict[str, list[str]] = {}
for key, target, groups in BUILT_INS:
    for group in groups:
        COMPONENT_GROUPS.setdefault(f"nipkit.{group}", []).append(f"{key} = {target}")

setup(
    name="nipkit",
    version=VERSION["__version__"],
    description="Keras 3 components for neural imaging pipelines optimised for photo provenance",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["nipkit", "nipkit.*"]),
    include_package_data=True,
    package_data={"nipkit.batteries": ["*.yaml"]},
    install_requires=[
        "keras>=3.3",
        "tensorflow>=2.16",
        "tensorboard>=2.16",  # TensorFlow 2.21 no longer installs it; training logs need it
        "numpy>=1.24",
        "scipy>=1.10",
        "rawpy>=0.19",
        "imageio>=2.30",
        "pillow>=10",
        "tifffile>=2023.1",
        "click>=8.1",
        "pyyaml>=6",
        "tqdm>=4.60",
        "platformdirs>=3",
        "matplotlib>=3.7",
        "scikit-image>=0.21",
        "scikit-learn>=1.2",
        "colour-demosaicing>=0.2.4",
        "constriction>=0.4",  # the learned codec's entropy coder (ANS)
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3", "ruff>=0.6", "mypy>=1.10", "types-PyYAML", "ray>=2.9"],
        "gpu": ["tensorflow[and-cuda]>=2.16"],
        "ray": ["ray>=2.9"],  # nipkit sweep --executor ray
    },
    entry_points={
        "console_scripts": ["nipkit=nipkit.cli.main:main"],
        **COMPONENT_GROUPS,
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Image Processing",
        "Framework :: Keras",
    ],
)
