"""OpenCLIP / OpenAI ViT-CLIP state dicts: key map and architecture checks.

The layout (OpenAI ``clip/model.py``, kept by OpenCLIP's ``VisionTransformer`` / ``CLIP``):
``visual.{conv1, class_embedding, positional_embedding, ln_pre, transformer.resblocks.i, ln_post,
proj}`` and ``{token_embedding, positional_embedding, transformer.resblocks.i, ln_final,
text_projection, logit_scale}``. Blocks use a fused ``attn.in_proj_weight`` [3W, W] (q, k, v
rows) and ``mlp.c_fc`` / ``mlp.c_proj``. ``proj`` and ``text_projection`` are [W, D] matrices
used as ``x @ proj``, so they are the Flax kernels as they are.

The activation cannot be read from the weights: it comes from the ``arch`` preset name
(``-quickgelu``) and, when the checkpoint folder has an ``open_clip_config.json``, it must agree
with that file's ``quick_gelu`` flag. Without ``arch``, the preset is inferred from that file
(``infer_openclip_arch``).
"""

from __future__ import annotations

import json
import os

from jclip.models.configs import PRESETS, ModelConfig, arch_fields
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


OPENCLIP_CONFIG = "open_clip_config.json"
# OpenCLIP's defaults (CLIPVisionCfg / CLIPTextCfg) for entries a model_cfg leaves out.
_VISION_DEFAULTS = dict(image_size=224, patch_size=16, width=768, layers=12, head_width=64,
                        mlp_ratio=4.0)
_TEXT_DEFAULTS = dict(context_length=77, vocab_size=49408, width=512, heads=8, layers=12,
                      mlp_ratio=4.0)
# model_cfg entries of towers this layout cannot hold (timm / HF towers, CoCa, SigLIP).
_FOREIGN = {"vision_cfg": ("timm_model_name",), "text_cfg": ("hf_model_name",),
            "": ("multimodal_cfg", "init_logit_bias")}


def read_openclip_config(folder: str) -> dict | None:
    """The ``model_cfg`` dict of ``folder/open_clip_config.json``; None without that file."""
    path = os.path.join(folder, OPENCLIP_CONFIG)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        meta = json.load(f)
    if not isinstance(meta.get("model_cfg"), dict):
        raise ValueError(f"{path} has no 'model_cfg' object: not an OpenCLIP config file")
    return meta["model_cfg"]


def _side(value, what: str) -> int:
    """An OpenCLIP size: an int or an equal [h, w] pair."""
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1:
            raise ValueError(f"non-square {what} {list(value)} is not supported")
        value = value[0]
    return int(value)


def config_from_openclip(model_cfg: dict) -> ModelConfig:
    """ModelConfig of an OpenCLIP ViT ``model_cfg`` (open_clip_config.json), OpenCLIP's defaults
    filled in; heads = width // head_width, MLP width = int(width * mlp_ratio), as OpenCLIP."""
    for part, keys in _FOREIGN.items():
        cfg = model_cfg.get(part, {}) if part else model_cfg
        found = [k for k in keys if cfg.get(k)]
        if found:
            raise ValueError(f"OpenCLIP model_cfg with {found} (in {part or 'model_cfg'}) is not "
                             "a ViT-CLIP that jclip implements")
    v = {**_VISION_DEFAULTS, **model_cfg.get("vision_cfg", {})}
    t = {**_TEXT_DEFAULTS, **model_cfg.get("text_cfg", {})}
    if "embed_dim" not in model_cfg:
        raise ValueError("OpenCLIP model_cfg has no embed_dim")
    if int(v["width"]) % int(v["head_width"]):
        raise ValueError(f"OpenCLIP vision_cfg width {v['width']} is not a multiple of "
                         f"head_width {v['head_width']} (default 64 when the file omits it)")
    vocab = int(t["vocab_size"])
    return ModelConfig(
        kind="clip", embed_dim=int(model_cfg["embed_dim"]),
        image_size=_side(v["image_size"], "image_size"),
        patch_size=_side(v["patch_size"], "patch_size"), vision_width=int(v["width"]),
        vision_layers=int(v["layers"]), vision_heads=int(v["width"]) // int(v["head_width"]),
        vision_mlp_dim=int(int(v["width"]) * float(v["mlp_ratio"])),
        vocab_size=vocab, context_length=int(t["context_length"]), text_width=int(t["width"]),
        text_layers=int(t["layers"]), text_heads=int(t["heads"]),
        text_mlp_dim=int(int(t["width"]) * float(t["mlp_ratio"])),
        eos_token_id=vocab - 1,  # OpenCLIP pools at argmax(ids): the end token, the last id
        act="quick_gelu" if model_cfg.get("quick_gelu", False) else "gelu",
    )


def infer_openclip_arch(folder: str) -> str:
    """The preset whose architecture equals ``folder``'s open_clip_config.json.

    Raises FileNotFoundError without that file, and ValueError naming the nearest presets (and
    how they differ) when none matches.
    """
    model_cfg = read_openclip_config(folder)
    path = os.path.join(folder, OPENCLIP_CONFIG)
    if model_cfg is None:
        raise FileNotFoundError(f"no {OPENCLIP_CONFIG} in {folder}")
    ours = arch_fields(config_from_openclip(model_cfg))
    ranked = []
    for name, preset in PRESETS.items():
        if preset.kind != "clip":
            continue
        theirs = arch_fields(preset)
        diff = [f"{k} {theirs[k]!r} (file {ours[k]!r})" for k in ours if theirs[k] != ours[k]]
        if not diff:
            return name
        ranked.append((len(diff), name, diff))
    nearest = "; ".join(f"{name}: {', '.join(diff[:5])}{' ...' if len(diff) > 5 else ''}"
                        for _, name, diff in sorted(ranked)[:3])
    raise ValueError(
        f"{path} matches no jclip preset; nearest: {nearest}. Pass arch= a preset name or a "
        "jclip.ModelConfig (jclip.pretrained.openclip.config_from_openclip(model_cfg) builds "
        "one from the file)"
    )


def check_openclip_config(folder: str, config: ModelConfig, arch) -> None:
    """Compares ``arch`` with the folder's open_clip_config.json, if there is one."""
    model_cfg = read_openclip_config(folder)
    if model_cfg is None:
        return
    path = os.path.join(folder, OPENCLIP_CONFIG)
    quick = bool(model_cfg.get("quick_gelu", False))
    acts = {config.tower_act("vision"), config.tower_act("text")}
    if acts != {"quick_gelu" if quick else "gelu"}:
        raise ValueError(
            f"arch {_name(arch)} uses act={'/'.join(sorted(acts))!r} but {path} says "
            f"quick_gelu={quick} (one activation for both towers); "
            f"pass arch={_with_quickgelu(arch, quick)}"
        )
    vision, text = model_cfg.get("vision_cfg", {}), model_cfg.get("text_cfg", {})
    checks = {"image_size": vision.get("image_size"), "patch_size": vision.get("patch_size"),
              "vision_width": vision.get("width"), "vision_layers": vision.get("layers"),
              "embed_dim": model_cfg.get("embed_dim"), "text_width": text.get("width"),
              "text_layers": text.get("layers"), "text_heads": text.get("heads"),
              "context_length": text.get("context_length"), "vocab_size": text.get("vocab_size")}
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
