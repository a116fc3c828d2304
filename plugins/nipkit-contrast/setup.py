"""nipkit-contrast: a contrast/saturation manipulation layer for nipkit, as a plugin."""
from setuptools import setup

setup(
    name="nipkit-contrast",
    version="0.3.1",
    description="A differentiable contrast and saturation manipulation for nipkit",
    license="MIT",
    python_requires=">=3.10",
    packages=["nipkit_contrast"],
    install_requires=["nipkit", "keras>=3.3"],
    extras_require={"test": ["pytest>=7", "pillow>=10", "scikit-image>=0.21"]},
    # The group is the role (a manipulation); the key (left) is the name YAML files use; the
    # value is module:Class, imported lazily.
    entry_points={"nipkit.manipulations": ["contrast = nipkit_contrast.contrast:Contrast"]},
)
