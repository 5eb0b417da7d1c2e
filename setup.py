"""Install jclip (the library, its kernels included, and the jclip-eval command)."""

from setuptools import find_packages, setup

setup(
    name="jclip",
    version="0.1.0",
    description="JAX-native research codebase for CLIP-style vision-language models",
    python_requires=">=3.10",
    packages=find_packages(include=["jclip", "jclip.*"]),
    package_data={"jclip": ["assets/*"]},
    entry_points={"console_scripts": ["jclip-eval = jclip.evals.cli:main"]},
    install_requires=[
        "jax>=0.10",
        "flax>=0.12",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12",
        "transformers>=5",
        "tokenizers",
        "huggingface_hub",
        "safetensors",
        "numpy>=2",
        "scipy",  # the ImageNet-C corruptions, rank statistics
        "ml_collections",
        "tensorflow-cpu",
        "tensorflow-datasets>=4.9",
        "importlib_resources",  # tfds download_and_prepare imports it
        "pillow",
        "regex",
        "ftfy",
        "sentencepiece",
        "tqdm",
        "matplotlib",
        "tensorboardX",
    ],
    extras_require={
        "test": [
            "pytest",
            "pytest-xdist",
            "hypothesis",
            "scipy",
            "scikit-learn",
            "scikit-image",
            "ruff",
            "nbclient",
            "nbformat",
            "ipykernel",
            "vendi-score",  # reference Vendi implementation for a parity test
        ],
    },
)
