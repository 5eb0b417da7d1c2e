"""Hugging Face CLIPModel / SiglipModel checkpoints: config.json <-> ModelConfig, key map."""

from __future__ import annotations

import numpy as np

from jclip.models.configs import ModelConfig, check_config
from jclip.pretrained.keymaps import (
    conv,
    dense,
    in_proj_rows,
    linear,
    ln,
    same,
    scalar,
    scalar_1d,
)

# transformers activation name -> jclip name. gelu_new is the same tanh formula.
HF_ACTIVATIONS = {
    "quick_gelu": "quick_gelu",
    "gelu": "gelu",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_new": "gelu_tanh",
}
# jclip activation name -> the name transformers' config.json uses.
TO_HF_ACTIVATIONS = {"quick_gelu": "quick_gelu", "gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh"}


def _hf_config_dict(source) -> dict:
    """Full config dict (with transformers' defaults filled in) from a folder or a dict."""
    import transformers

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # default sub-configs warn about their token ids
    try:
        if isinstance(source, dict):
            rest = {k: v for k, v in source.items() if k != "model_type"}
            config = transformers.AutoConfig.for_model(source.get("model_type"), **rest)
        else:
            config = transformers.AutoConfig.from_pretrained(source)
    finally:
        transformers.logging.set_verbosity(verbosity)
    return config.to_dict()


def config_from_hf(source) -> ModelConfig:
    """ModelConfig of a transformers CLIPModel / SiglipModel config (folder or dict).

    Towers with different ``hidden_act`` / ``layer_norm_eps`` are kept apart: the shared
    ``act`` / ``layer_norm_eps`` hold the vision tower's, ``text_act`` / ``text_layer_norm_eps``
    the text tower's where it differs (see ``_tower_fields``).
    """
    cfg = _hf_config_dict(source)
    kind = cfg.get("model_type")
    if kind not in ("clip", "siglip"):
        raise ValueError(f"Unsupported model_type {kind!r} in config.json; expected clip or siglip")
    v, t = cfg["vision_config"], cfg["text_config"]
    unknown = {v["hidden_act"], t["hidden_act"]} - set(HF_ACTIVATIONS)
    if unknown:
        raise ValueError(
            f"Unsupported hidden_act {sorted(unknown)} in config.json; jclip implements "
            f"{sorted(HF_ACTIVATIONS)}"
        )
    if v.get("num_channels", 3) != 3:
        raise ValueError(f"only RGB models are supported, got num_channels={v['num_channels']}")
    if kind == "clip":
        embed_dim = cfg["projection_dim"]
        extra = dict(logit_scale_init=float(cfg.get("logit_scale_init_value", 2.6592)))
    else:
        if not v.get("vision_use_head", True):
            raise ValueError("SigLIP vision towers without the attention-pooling head are not "
                             "supported (vision_use_head=False)")
        embed_dim = t.get("projection_size") or t["hidden_size"]
        if embed_dim != v["hidden_size"]:
            raise ValueError(f"SigLIP text projection_size {embed_dim} must equal the vision "
                             f"hidden_size {v['hidden_size']}")
        extra = dict(logit_scale_init=float(np.log(10.0)), logit_bias_init=-10.0)
    return ModelConfig(
        kind=kind, embed_dim=embed_dim,
        image_size=v["image_size"], patch_size=v["patch_size"], vision_width=v["hidden_size"],
        vision_layers=v["num_hidden_layers"], vision_heads=v["num_attention_heads"],
        vision_mlp_dim=v["intermediate_size"],
        vocab_size=t["vocab_size"], context_length=t["max_position_embeddings"],
        text_width=t["hidden_size"], text_layers=t["num_hidden_layers"],
        text_heads=t["num_attention_heads"], text_mlp_dim=t["intermediate_size"],
        eos_token_id=_eos_token_id(kind, t), pad_token_id=int(t.get("pad_token_id") or 0),
        **_tower_fields(v, t), **extra,
    )


def _tower_fields(vision: dict, text: dict) -> dict:
    """act / layer_norm_eps of the towers: shared fields hold the vision tower's values, and the
    text_* overrides are set only where the text tower differs (None otherwise)."""
    act, text_act = HF_ACTIVATIONS[vision["hidden_act"]], HF_ACTIVATIONS[text["hidden_act"]]
    eps, text_eps = float(vision["layer_norm_eps"]), float(text["layer_norm_eps"])
    return dict(act=act, layer_norm_eps=eps, text_act=None if text_act == act else text_act,
                text_layer_norm_eps=None if text_eps == eps else text_eps)


def hf_config(config: ModelConfig, bos_token_id: int | None = None) -> dict:
    """The transformers CLIPConfig / SiglipConfig dict (config.json) of ``config``.

    ``config_from_hf`` of the result gives back ``config``'s architecture, with the per-tower
    activation and LayerNorm eps. ``bos_token_id`` is informational (transformers never reads
    it); default: CLIP's start token just below the end token, none for SigLIP.
    """
    c = check_config(config)
    clip = c.kind == "clip"
    if clip and c.eos_token_id == 2:
        raise ValueError(
            "eos_token_id=2 cannot be written for a CLIP model: transformers reads it as the "
            "legacy config and pools at argmax(ids) instead of at the first id 2; give the end "
            "token another id"
        )
    if bos_token_id is None and clip:
        bos_token_id = max(c.eos_token_id - 1, 0)
    towers = {t: dict(hidden_act=TO_HF_ACTIVATIONS[c.tower_act(t)],
                      layer_norm_eps=float(c.tower_eps(t))) for t in ("vision", "text")}
    vision = dict(hidden_size=c.vision_width, intermediate_size=c.vision_mlp_dim,
                  num_hidden_layers=c.vision_layers, num_attention_heads=c.vision_heads,
                  image_size=c.image_size, patch_size=c.patch_size, num_channels=3,
                  **towers["vision"])
    text = dict(vocab_size=c.vocab_size, hidden_size=c.text_width,
                intermediate_size=c.text_mlp_dim, num_hidden_layers=c.text_layers,
                num_attention_heads=c.text_heads, max_position_embeddings=c.context_length,
                bos_token_id=bos_token_id, eos_token_id=c.eos_token_id,
                pad_token_id=c.pad_token_id, **towers["text"])
    if clip:
        vision.update(model_type="clip_vision_model", projection_dim=c.embed_dim)
        text.update(model_type="clip_text_model", projection_dim=c.embed_dim)
        return dict(architectures=["CLIPModel"], model_type="clip", projection_dim=c.embed_dim,
                    logit_scale_init_value=float(c.logit_scale_init), dtype="float32",
                    text_config=text, vision_config=vision)
    vision.update(model_type="siglip_vision_model", vision_use_head=True)
    text.update(model_type="siglip_text_model", projection_size=c.embed_dim)
    return dict(architectures=["SiglipModel"], model_type="siglip", dtype="float32",
                text_config=text, vision_config=vision)


def _eos_token_id(kind: str, text_config: dict) -> int:
    """The id CLIP pools at. Legacy CLIP configs say eos_token_id=2, for which transformers pools
    at argmax(ids): with the CLIP tokenizer that is the end token, the largest id (vocab - 1)."""
    eos, vocab = text_config.get("eos_token_id"), int(text_config["vocab_size"])
    if kind == "clip" and eos == 2:
        return vocab - 1
    if kind == "siglip" and not (isinstance(eos, int) and 0 <= eos < vocab):
        return 1  # SigLIP pools the last position; the eos id is informational only
    return int(eos)


def _blocks(path, key, n):
    entries = []
    for i in range(n):
        p, k = path + (f"block_{i}",), f"{key}.{i}"
        entries += ln(p + ("ln1",), k + ".layer_norm1") + ln(p + ("ln2",), k + ".layer_norm2")
        for ours, theirs in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj"),
                             ("out", "out_proj")):
            entries += dense(p + ("attn", ours), f"{k}.self_attn.{theirs}")
        entries += dense(p + ("mlp", "fc1"), k + ".mlp.fc1")
        entries += dense(p + ("mlp", "fc2"), k + ".mlp.fc2")
    return entries


def hf_key_map(config: ModelConfig) -> list:
    """[(jclip path, HF key, transform)] for every parameter of ``config``'s model."""
    vis, vm = ("vision",), "vision_model"
    txt, tm = ("text",), "text_model"
    e = [
        (vis + ("patch_embed", "kernel"), f"{vm}.embeddings.patch_embedding.weight", conv),
        (vis + ("pos_embed",), f"{vm}.embeddings.position_embedding.weight", same),
        (txt + ("token_embed",), f"{tm}.embeddings.token_embedding.weight", same),
        (txt + ("pos_embed",), f"{tm}.embeddings.position_embedding.weight", same),
        (("logit_scale",), "logit_scale", scalar if config.kind == "clip" else scalar_1d),
    ]
    e += _blocks(vis + ("encoder",), f"{vm}.encoder.layers", config.vision_layers)
    e += _blocks(txt + ("encoder",), f"{tm}.encoder.layers", config.text_layers)
    e += ln(vis + ("post_ln",), f"{vm}.post_layernorm")
    e += ln(txt + ("final_ln",), f"{tm}.final_layer_norm")
    if config.kind == "clip":
        e += [(vis + ("cls_token",), f"{vm}.embeddings.class_embedding", same)]
        e += ln(vis + ("pre_ln",), f"{vm}.pre_layrnorm")
        e += dense(vis + ("proj",), "visual_projection", bias=False)
        e += dense(txt + ("proj",), "text_projection", bias=False)
        return e
    head, hk = vis + ("head",), f"{vm}.head"
    e += [
        (vis + ("patch_embed", "bias"), f"{vm}.embeddings.patch_embedding.bias", same),
        (("logit_bias",), "logit_bias", scalar_1d),
        (head + ("probe",), f"{hk}.probe", same),
    ]
    for i, name in enumerate(("query", "key", "value")):
        e += [
            (head + ("attn", name, "kernel"), f"{hk}.attention.in_proj_weight",
             in_proj_rows(i, linear)),
            (head + ("attn", name, "bias"), f"{hk}.attention.in_proj_bias", in_proj_rows(i)),
        ]
    e += dense(head + ("attn", "out"), f"{hk}.attention.out_proj")
    e += ln(head + ("ln",), f"{hk}.layernorm")
    e += dense(head + ("mlp", "fc1"), f"{hk}.mlp.fc1")
    e += dense(head + ("mlp", "fc2"), f"{hk}.mlp.fc2")
    e += dense(txt + ("head",), f"{tm}.head")
    return e


# Buffers transformers may store that carry no parameters.
HF_IGNORED_SUFFIXES = (".position_ids",)
