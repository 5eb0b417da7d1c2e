"""Hugging Face CLIPModel / SiglipModel checkpoints: config.json -> ModelConfig, key map."""

from __future__ import annotations

import numpy as np

from jclip.models.configs import ModelConfig
from jclip.pretrained.keymaps import conv, dense, in_proj_rows, linear, ln, same, scalar

# transformers activation name -> jclip name. gelu_new is the same tanh formula.
HF_ACTIVATIONS = {
    "quick_gelu": "quick_gelu",
    "gelu": "gelu",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_new": "gelu_tanh",
}


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
    """ModelConfig of a transformers CLIPModel / SiglipModel config (folder or dict)."""
    cfg = _hf_config_dict(source)
    kind = cfg.get("model_type")
    if kind not in ("clip", "siglip"):
        raise ValueError(f"Unsupported model_type {kind!r} in config.json; expected clip or siglip")
    v, t = cfg["vision_config"], cfg["text_config"]
    acts = {v["hidden_act"], t["hidden_act"]}
    unknown = acts - set(HF_ACTIVATIONS)
    if unknown:
        raise ValueError(
            f"Unsupported hidden_act {sorted(unknown)}; known: {sorted(HF_ACTIVATIONS)}"
        )
    if len({HF_ACTIVATIONS[a] for a in acts}) != 1 or v["layer_norm_eps"] != t["layer_norm_eps"]:
        raise ValueError(
            "the vision and text towers use different activations or LayerNorm eps "
            f"({v['hidden_act']}/{t['hidden_act']}, {v['layer_norm_eps']}/{t['layer_norm_eps']})"
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
        act=HF_ACTIVATIONS[v["hidden_act"]], layer_norm_eps=float(v["layer_norm_eps"]), **extra,
    )


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
        (("logit_scale",), "logit_scale", scalar),
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
        (("logit_bias",), "logit_bias", scalar),
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
