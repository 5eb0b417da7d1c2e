"""Architecture configs of the CLIP / SigLIP two-tower models and the named presets.

A ``ModelConfig`` fully determines the parameter shapes and the forward computation. Presets
follow the OpenCLIP names (``ViT-B-32``, ``ViT-L-14-336``, ...; ``-quickgelu`` selects the
QuickGELU activation of the original OpenAI weights) and big_vision / HF names for SigLIP.
"""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Two-tower CLIP / SigLIP architecture.

    kind: "clip" (class-token pooling, pre-LN in the vision tower, logits = scale * cos) or
      "siglip" (no class token, attention-pooling head, logits = scale * cos + bias).
    act: "quick_gelu" (x * sigmoid(1.702 x), OpenAI CLIP), "gelu" (exact erf GELU) or
      "gelu_tanh" (tanh approximation, SigLIP).
    text_act, vision_act, text_layer_norm_eps, vision_layer_norm_eps: per-tower overrides of
      ``act`` / ``layer_norm_eps`` for checkpoints whose towers differ; None (the default) uses
      the shared value. Read them with ``tower_act(tower)`` / ``tower_eps(tower)``.
    """

    kind: Literal["clip", "siglip"] = "clip"
    embed_dim: int = 512  # projection dim of both towers
    # vision tower
    image_size: int = 224
    patch_size: int = 32
    vision_width: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    vision_mlp_dim: int = 3072
    # text tower
    vocab_size: int = 49408
    context_length: int = 77
    text_width: int = 512
    text_layers: int = 12
    text_heads: int = 8
    text_mlp_dim: int = 2048
    eos_token_id: int = 49407  # CLIP pools the text at the first eos token
    pad_token_id: int = 0
    # shared
    act: Literal["quick_gelu", "gelu", "gelu_tanh"] = "gelu"
    layer_norm_eps: float = 1e-5
    # per-tower overrides (None: the shared act / layer_norm_eps)
    text_act: Literal["quick_gelu", "gelu", "gelu_tanh"] | None = None
    vision_act: Literal["quick_gelu", "gelu", "gelu_tanh"] | None = None
    text_layer_norm_eps: float | None = None
    vision_layer_norm_eps: float | None = None
    logit_scale_init: float = 2.6592  # log(1 / 0.07); SigLIP: log(10)
    logit_bias_init: float = 0.0  # SigLIP: -10
    # computation options (scan_layers stacks the block params along a leading axis)
    dtype: str = "float32"  # activation dtype; params stay float32
    scan_layers: bool = False  # nn.scan over the transformer blocks
    remat: bool = False  # rematerialise each block in the backward pass

    def tower_act(self, tower: str) -> str:
        """Activation of ``tower`` ("vision" or "text"): its override, else ``act``."""
        own = getattr(self, f"{_tower(tower)}_act")
        return self.act if own is None else own

    def tower_eps(self, tower: str) -> float:
        """LayerNorm eps of ``tower`` ("vision" / "text"): its override, else ``layer_norm_eps``."""
        own = getattr(self, f"{_tower(tower)}_layer_norm_eps")
        return self.layer_norm_eps if own is None else own


TOWERS = ("vision", "text")
ACTIVATION_NAMES = ("quick_gelu", "gelu", "gelu_tanh")


def _tower(tower: str) -> str:
    if tower not in TOWERS:
        raise ValueError(f"tower must be 'vision' or 'text', got {tower!r}")
    return tower


def tower_settings(config: ModelConfig) -> dict:
    """The resolved per-tower settings: {"vision_act", "text_act", "vision_layer_norm_eps",
    "text_layer_norm_eps"}, each the tower's override or the shared value."""
    out = {f"{t}_act": config.tower_act(t) for t in TOWERS}
    out.update({f"{t}_layer_norm_eps": config.tower_eps(t) for t in TOWERS})
    return out


# Fields that do not change the parameters' shapes nor the computed function.
NON_ARCH_FIELDS = ("dtype", "scan_layers", "remat", "logit_scale_init", "logit_bias_init",
                   "pad_token_id")


def arch_fields(config: ModelConfig) -> dict:
    """The fields that define the architecture, with the per-tower activation and eps resolved
    (``tower_settings``): two configs compute the same function of the same params iff their
    ``arch_fields`` are equal."""
    shared = ("act", "layer_norm_eps") + tuple(tower_settings(config))
    out = {k: v for k, v in dataclasses.asdict(config).items()
           if k not in NON_ARCH_FIELDS and k not in shared}
    return {**out, **tower_settings(config)}


def _openclip(embed, image, patch, vw, vl, vh, vmlp, tw, tl, th, tmlp, **kw):
    config = dict(
        kind="clip", embed_dim=embed, image_size=image, patch_size=patch,
        vision_width=vw, vision_layers=vl, vision_heads=vh, vision_mlp_dim=vmlp,
        text_width=tw, text_layers=tl, text_heads=th, text_mlp_dim=tmlp, act="gelu",
    )
    return {**config, **kw}


def _siglip(embed, image, patch, w, layers, heads, mlp, **kw):
    config = dict(
        kind="siglip", embed_dim=embed, image_size=image, patch_size=patch,
        vision_width=w, vision_layers=layers, vision_heads=heads, vision_mlp_dim=mlp,
        vocab_size=32000, context_length=64, text_width=w, text_layers=layers, text_heads=heads,
        text_mlp_dim=mlp, eos_token_id=1, pad_token_id=1, act="gelu_tanh",
        layer_norm_eps=1e-6, logit_scale_init=2.302585, logit_bias_init=-10.0,
    )
    return {**config, **kw}


# OpenCLIP model configs (open_clip/model_configs/*.json); "-quickgelu" variants are added below.
_BASE = {
    "ViT-B-32": _openclip(512, 224, 32, 768, 12, 12, 3072, 512, 12, 8, 2048),
    "ViT-B-16": _openclip(512, 224, 16, 768, 12, 12, 3072, 512, 12, 8, 2048),
    "ViT-L-14": _openclip(768, 224, 14, 1024, 24, 16, 4096, 768, 12, 12, 3072),
    "ViT-L-14-336": _openclip(768, 336, 14, 1024, 24, 16, 4096, 768, 12, 12, 3072),
    "ViT-H-14": _openclip(1024, 224, 14, 1280, 32, 16, 5120, 1024, 24, 16, 4096),
    "ViT-g-14": _openclip(1024, 224, 14, 1408, 40, 16, 6144, 1024, 24, 16, 4096),
    "ViT-bigG-14": _openclip(1280, 224, 14, 1664, 48, 16, 8192, 1280, 32, 20, 5120),
    # SigLIP (HF google/siglip-*): text tower as wide as the vision tower.
    "siglip-base-patch16-224": _siglip(768, 224, 16, 768, 12, 12, 3072),
    "siglip-base-patch16-256": _siglip(768, 256, 16, 768, 12, 12, 3072),
    "siglip-base-patch16-384": _siglip(768, 384, 16, 768, 12, 12, 3072),
    "siglip-large-patch16-256": _siglip(1024, 256, 16, 1024, 24, 16, 4096),
    "siglip-so400m-patch14-384": _siglip(1152, 384, 14, 1152, 27, 16, 4304),
    # Tiny sizes for tests and the synthetic benchmark.
    "tiny-clip": _openclip(64, 32, 8, 64, 2, 4, 256, 64, 2, 4, 256, vocab_size=49408,
                           context_length=16),
    "tiny-siglip": _siglip(64, 32, 8, 64, 2, 4, 256, context_length=16),
}

PRESETS: dict[str, ModelConfig] = {}
for _name, _kw in _BASE.items():
    PRESETS[_name] = ModelConfig(**_kw)
    if _kw["kind"] == "clip":
        PRESETS[_name + "-quickgelu"] = ModelConfig(**{**_kw, "act": "quick_gelu"})


def get_config(name_or_config: str | ModelConfig, **overrides) -> ModelConfig:
    """Returns the preset ``name`` (or the given config), with ``overrides`` applied."""
    if isinstance(name_or_config, ModelConfig):
        config = name_or_config
    elif isinstance(name_or_config, str):
        if name_or_config not in PRESETS:
            raise ValueError(
                f"Unknown model preset {name_or_config!r}; known presets: {', '.join(PRESETS)}"
            )
        config = PRESETS[name_or_config]
    else:
        raise TypeError(
            f"Expected a preset name or a jclip.ModelConfig, got {type(name_or_config).__name__}"
        )
    return dataclasses.replace(config, **overrides) if overrides else config


def check_config(config: ModelConfig) -> ModelConfig:
    """Raises ValueError if the config cannot describe a working model; returns it otherwise."""
    problems = []
    if config.kind not in ("clip", "siglip"):
        problems.append(f"kind must be 'clip' or 'siglip', got {config.kind!r}")
    for field in ("act", "text_act", "vision_act"):
        value = getattr(config, field)
        if value not in ACTIVATION_NAMES and not (value is None and field != "act"):
            problems.append(f"{field} must be quick_gelu, gelu or gelu_tanh, got {value!r}")
    for field in ("layer_norm_eps", "text_layer_norm_eps", "vision_layer_norm_eps"):
        value = getattr(config, field)
        if value is None and field != "layer_norm_eps":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            problems.append(f"{field} must be a positive float, got {value!r}")
    if config.dtype not in ("float32", "bfloat16", "float16"):
        problems.append(f"dtype must be float32, bfloat16 or float16, got {config.dtype!r}")
    for tower in ("vision", "text"):
        width, heads = getattr(config, f"{tower}_width"), getattr(config, f"{tower}_heads")
        if heads < 1:
            problems.append(f"{tower}_heads must be >= 1, got {heads}")
        elif width % heads:
            problems.append(f"{tower}_width {width} is not divisible by {tower}_heads {heads}")
    if config.image_size % config.patch_size:
        problems.append(
            f"image_size {config.image_size} is not a multiple of patch_size {config.patch_size}"
        )
    if config.kind == "siglip" and config.embed_dim != config.vision_width:
        problems.append(
            f"SigLIP has no vision projection: embed_dim ({config.embed_dim}) must equal "
            f"vision_width ({config.vision_width})"
        )
    if not 0 <= config.eos_token_id < config.vocab_size:
        problems.append(f"eos_token_id {config.eos_token_id} not in [0, {config.vocab_size})")
    if problems:
        raise ValueError("Invalid ModelConfig: " + "; ".join(problems))
    return config
