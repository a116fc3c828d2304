"""nipkit: neural imaging pipelines optimised for photo provenance."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = {}
exec((HERE / "nipkit" / "_version.py").read_text(), VERSION)

LAYERS = {
    "constrained_conv2d": "nipkit.layers.constrained_conv2d:ConstrainedConv2D",
    "jpeg": "nipkit.layers.jpeg:DifferentiableJPEG",
    "sharpen": "nipkit.layers.sharpen:Sharpen",
    "gaussian": "nipkit.layers.gaussian:Gaussian",
    "resample": "nipkit.layers.resample:Resample",
    "downscale": "nipkit.layers.downscale:Downscale",
    "awgn": "nipkit.layers.awgn:AWGN",
    "median": "nipkit.layers.median:Median",
    "gamma": "nipkit.layers.gamma:Gamma",
    "depth_to_space": "nipkit.layers.depth_to_space:DepthToSpace",
    "clip_unit": "nipkit.layers.clip_unit:ClipUnit",
}
MODELS = {
    "inet": "nipkit.models.inet:INet",
    "unet": "nipkit.models.unet:UNet",
    "dnet": "nipkit.models.dnet:DNet",
    "onet": "nipkit.models.onet:ONet",
    "fan": "nipkit.models.fan:FAN",
}

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
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3"],
        "gpu": ["tensorflow[and-cuda]>=2.16"],
    },
    entry_points={
        "console_scripts": ["nipkit=nipkit.cli.main:main"],
        "nipkit.layers": [f"{k} = {v}" for k, v in LAYERS.items()],
        "nipkit.models": [f"{k} = {v}" for k, v in MODELS.items()],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Image Processing",
        "Framework :: Keras",
    ],
)
