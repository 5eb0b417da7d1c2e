"""jclip: JAX-native CLIP / SigLIP models, losses, metrics, kernels and experiments.

The heavy submodules (data needs TensorFlow) are imported lazily on first attribute access,
so ``import jclip`` stays cheap.
"""

import importlib

__version__ = "0.1.0"

_LAZY_ATTRS = {
    "ModelConfig": ("jclip.models.configs", "ModelConfig"),
    "PRESETS": ("jclip.models.configs", "PRESETS"),
    "get_config": ("jclip.models.configs", "get_config"),
    "create_model": ("jclip.models.clip", "create_model"),
    "CLIPModel": ("jclip.models.clip", "CLIPModel"),
    "load": ("jclip.pretrained.load", "load"),
    "save": ("jclip.pretrained.load", "save"),
    "load_tokenizer": ("jclip.pretrained.tokenizers", "load_tokenizer"),
    "list_pretrained": ("jclip.pretrained.hub", "list_pretrained"),
    "Tokenizer": ("jclip.tokenizer", "Tokenizer"),
    "preprocess": ("jclip.preprocessing", "preprocess"),
}
_LAZY_MODULES = (
    "losses", "metrics", "kernels", "data", "models", "pretrained", "heads", "tokenizer",
    "preprocessing", "train", "evals", "attacks",
)
# The classifier heads are also reachable at the top level (``from jclip import zeroshot``).
_HEADS = ("zeroshot", "prompts", "adapt")


def __getattr__(name):
    if name in _LAZY_ATTRS:
        module, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(module), attr)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"jclip.{name}")
    if name in _HEADS:
        return importlib.import_module(f"jclip.heads.{name}")
    raise AttributeError(f"module 'jclip' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY_ATTRS) + list(_LAZY_MODULES) + list(_HEADS))
