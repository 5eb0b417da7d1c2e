"""OpenCLIP / OpenAI ViT-CLIP state dicts: key map and architecture checks.

The layout (OpenAI ``clip/model.py``, kept by OpenCLIP's ``VisionTransformer`` / ``CLIP``):
``visual.{conv1, class_embedding, positional_embedding, ln_pre, transformer.resblocks.i, ln_post,
proj}`` and ``{token_embedding, positional_embedding, transformer.resblocks.i, ln_final,
text_projection, logit_scale}``. Blocks use a fused ``attn.in_proj_weight`` [3W, W] (q, k, v
rows) and ``mlp.c_fc`` / ``mlp.c_proj``. ``proj`` and ``text_projection`` are [W, D] matrices
used as ``x @ proj``, so they are the Flax kernels as they are.

The activation cannot be read from the weights: it comes from the ``arch`` preset name
(``-quickgelu``) and, when the checkpoint folder has an ``open_clip_config.json``, it must agree
with that file's ``quick_gelu`` flag.
"""

from __future__ import annotations

import json
import os

from jclip.models.configs import ModelConfig
from jclip.pretrained.keymaps import conv, dense, in_proj_rows, linear, ln, same, scalar

# Non-parameter entries of OpenAI-layout state dicts, checked against the config then dropped.
OPENAI_METADATA = ("input_resolution", "context_length", "vocab_size")


def _blocks(path, key, n):
    entries = []
    for i in range(n):
        p, k = path + (f"block_{i}",), f"{key}.{i}"
        entries += ln(p + ("ln1",), k + ".ln_1") + ln(p + ("ln2",), k + ".ln_2")
        for j, name in enumerate(("query", "key", "value")):
            entries += [
                (p + ("attn", name, "kernel"), k + ".attn.in_proj_weight", in_proj_rows(j, linear)),
                (p + ("attn", name, "bias"), k + ".attn.in_proj_bias", in_proj_rows(j)),
            ]
        entries += dense(p + ("attn", "out"), k + ".attn.out_proj")
        entries += dense(p + ("mlp", "fc1"), k + ".mlp.c_fc")
        entries += dense(p + ("mlp", "fc2"), k + ".mlp.c_proj")
    return entries


def openclip_key_map(config: ModelConfig) -> list:
    """[(jclip path, OpenCLIP key, transform)] for every parameter of a CLIP ``config``."""
    if config.kind != "clip":
        raise ValueError(
            "OpenCLIP-format SigLIP checkpoints (timm towers) are not supported; load the "
            "Hugging Face SiglipModel checkpoint instead"
        )
    vis, txt = ("vision",), ("text",)
    e = [
        (vis + ("patch_embed", "kernel"), "visual.conv1.weight", conv),
        (vis + ("cls_token",), "visual.class_embedding", same),
        (vis + ("pos_embed",), "visual.positional_embedding", same),
        (vis + ("proj", "kernel"), "visual.proj", same),
        (txt + ("token_embed",), "token_embedding.weight", same),
        (txt + ("pos_embed",), "positional_embedding", same),
        (txt + ("proj", "kernel"), "text_projection", same),
        (("logit_scale",), "logit_scale", scalar),
    ]
    e += ln(vis + ("pre_ln",), "visual.ln_pre") + ln(vis + ("post_ln",), "visual.ln_post")
    e += ln(txt + ("final_ln",), "ln_final")
    e += _blocks(vis + ("encoder",), "visual.transformer.resblocks", config.vision_layers)
    e += _blocks(txt + ("encoder",), "transformer.resblocks", config.text_layers)
    return e


def check_openai_metadata(state: dict, config: ModelConfig) -> None:
    """OpenAI-layout files may carry input_resolution / context_length / vocab_size: check them."""
    expected = {"input_resolution": config.image_size, "context_length": config.context_length,
                "vocab_size": config.vocab_size}
    bad = [f"{k}={int(state[k])} (arch has {expected[k]})" for k in OPENAI_METADATA
           if k in state and int(state[k]) != expected[k]]
    if bad:
        raise ValueError(f"checkpoint metadata disagrees with the arch preset: {', '.join(bad)}")


def check_openclip_config(folder: str, config: ModelConfig, arch) -> None:
    """Compares ``arch`` with the folder's open_clip_config.json, if there is one."""
    path = os.path.join(folder, "open_clip_config.json")
    if not os.path.isfile(path):
        return
    with open(path) as f:
        model_cfg = json.load(f).get("model_cfg", {})
    quick = bool(model_cfg.get("quick_gelu", False))
    if quick != (config.act == "quick_gelu"):
        raise ValueError(
            f"arch {_name(arch)} uses act={config.act!r} but {path} says quick_gelu={quick}; "
            f"pass arch={_with_quickgelu(arch, quick)}"
        )
    vision = model_cfg.get("vision_cfg", {})
    checks = {"image_size": vision.get("image_size"), "patch_size": vision.get("patch_size"),
              "vision_width": vision.get("width"), "vision_layers": vision.get("layers"),
              "embed_dim": model_cfg.get("embed_dim")}
    bad = [f"{k}: file {v}, arch {getattr(config, k)}" for k, v in checks.items()
           if isinstance(v, int) and v != getattr(config, k)]
    if bad:
        raise ValueError(f"arch {_name(arch)} disagrees with {path}: {'; '.join(bad)}")


def _name(arch) -> str:
    return repr(arch) if isinstance(arch, str) else "(ModelConfig)"


def _with_quickgelu(arch, quick: bool) -> str:
    if not isinstance(arch, str):
        return f"a ModelConfig with act={'quick_gelu' if quick else 'gelu'!r}"
    base = arch.removesuffix("-quickgelu")
    return repr(base + "-quickgelu" if quick else base)
