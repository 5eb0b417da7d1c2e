"""jclip: JAX-native CLIP / SigLIP models, losses, metrics, kernels and experiments.

The heavy submodules (data needs TensorFlow) are imported lazily on first attribute access,
so ``import jclip`` stays cheap.
"""

from jclip._lazy import package_face

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
# The classifier heads are also reachable at the top level (``from jclip import zeroshot``).
_HEADS = ("zeroshot", "prompts", "adapt")


_LAZY_ATTRS.update({name: (f"jclip.heads.{name}", None) for name in _HEADS})
__getattr__, __dir__ = package_face(__name__, __path__, _LAZY_ATTRS)
