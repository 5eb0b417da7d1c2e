"""Flax CLIP / SigLIP two-tower models, their configs and presets."""

from jclip._lazy import package_face
from jclip.models.clip import (
    CLIPModel,
    bucket_length,
    create_model,
    encode_text_bucketed,
    l2_normalize,
)
from jclip.models.configs import PRESETS, ModelConfig, check_config, get_config

__all__ = [
    "CLIPModel", "ModelConfig", "PRESETS", "bucket_length", "check_config", "create_model",
    "encode_text_bucketed", "get_config", "l2_normalize",
]

__getattr__, __dir__ = package_face(__name__, __path__)  # every submodule, lazily
