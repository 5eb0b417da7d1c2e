"""``jclip.load``: pretrained checkpoints -> (CLIPModel, params); ``save`` is in ``save.py``.

Sources ``load`` reads:
1. A Hugging Face CLIPModel / SiglipModel: a hub id (``"openai/clip-vit-base-patch32"``, also
   ``"hf-hub:org/name"``) fetched with huggingface_hub (its cache, ``HF_HUB_OFFLINE``), or a local
   folder with config.json + model.safetensors (or sharded safetensors, or pytorch_model.bin).
   The architecture comes from config.json.
2. An OpenCLIP / OpenAI ViT state dict (open_clip_model.safetensors, open_clip_pytorch_model.bin,
   an OpenAI-layout .pt state dict, or a folder/hub repo holding one) with ``arch=`` a preset name;
   the activation comes from the name (``-quickgelu``) and is never guessed. Without ``arch``,
   a folder / hub repo with an ``open_clip_config.json`` gives the preset that file describes.
3. A folder written by ``save`` (jclip_config.json + params.msgpack, or format="hf").
A name that looks like a file (a checkpoint extension, or no "/") and is not on disk is a missing
file, never a hub id. Only tensors are read (see ``jclip.pretrained.tensors``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jclip.models.clip import CLIPModel
from jclip.models.configs import PRESETS, ModelConfig, arch_fields, check_config, get_config
from jclip.models.params import check_params, flatten, listing, param_shapes, to_layout, unflatten
from jclip.pretrained.hf import HF_IGNORED_SUFFIXES, config_from_hf, hf_key_map
from jclip.pretrained.openclip import (
    OPENAI_METADATA,
    OPENCLIP_CONFIG,
    check_openai_metadata,
    check_openclip_config,
    infer_openclip_arch,
    openclip_key_map,
)
from jclip.pretrained.save import JCLIP_CONFIG, JCLIP_PARAMS, save
from jclip.pretrained.tensors import read_state_dict

HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
              "pytorch_model.bin.index.json")
OPENCLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
# Options that change how the model computes, not its parameters: load(..., **options).
COMPUTE_OPTIONS = ("dtype", "scan_layers", "remat")
# Extensions of checkpoint files: a missing path with one is a missing file, not a hub id.
FILE_EXTENSIONS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".npz", ".pkl",
                   ".json", ".gz")


def convert_state_dict(state: dict, key_map: list, config: ModelConfig,
                       ignored=lambda key: False) -> dict:
    """Builds the jclip params of ``config`` from a flat PyTorch state dict.

    Raises ValueError listing every missing, unexpected and mis-shaped weight.
    """
    expected = flatten(param_shapes(config))
    mapped = {path for path, _, _ in key_map}
    if mapped != set(expected):  # a bug in a key map, not in the checkpoint
        raise AssertionError(f"key map mismatch: {sorted(mapped ^ set(expected))[:5]}")
    flat, missing, misshaped, used = {}, [], [], set()
    for path, key, transform in key_map:
        if key not in state:
            missing.append(key)
            continue
        used.add(key)
        value = transform(np.asarray(state[key]).astype(np.float32))
        if tuple(value.shape) != expected[path]:
            misshaped.append(f"{key} {tuple(np.shape(state[key]))} -> {'/'.join(path)} "
                             f"{tuple(value.shape)}, expected {expected[path]}")
            continue
        flat[path] = value
    unexpected = [k for k in state if k not in used and not ignored(k)]
    if missing or unexpected or misshaped:
        parts = [f"{name} ({len(set(v))}): {listing(v)}" for name, v in
                 (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if v]
        raise ValueError("Checkpoint does not fit the model config: " + "; ".join(parts))
    return to_layout(unflatten(flat), config)


# ---------------------------------------------------------------------------------------------
# Formats


def _check_arch_matches(config: ModelConfig, arch, where: str) -> None:
    preset = arch_fields(get_config(arch))
    ours = arch_fields(config)
    diff = [f"{k}: checkpoint {ours[k]!r}, arch {preset[k]!r}"
            for k in preset if preset[k] != ours[k]]
    if diff:
        name = repr(arch) if isinstance(arch, str) else "(ModelConfig)"
        raise ValueError(f"arch {name} does not match {where}: {'; '.join(diff)}")


def _read_weights(folder: str, names) -> dict:
    for name in names:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        if not name.endswith(".index.json"):
            return read_state_dict(path)
        with open(path) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        state = {}
        for shard in shards:
            state.update(read_state_dict(os.path.join(folder, shard)))
        return state
    raise FileNotFoundError(f"no weights file in {folder}; looked for {', '.join(names)}")


def _load_hf(folder: str, arch: str | None) -> tuple[ModelConfig, dict]:
    config = config_from_hf(folder)
    if arch is not None:
        _check_arch_matches(config, arch, os.path.join(folder, "config.json"))
        config = dataclasses.replace(config, logit_scale_init=get_config(arch).logit_scale_init)
    state = _read_weights(folder, HF_WEIGHTS)
    params = convert_state_dict(state, hf_key_map(config), config,
                                ignored=lambda k: k.endswith(HF_IGNORED_SUFFIXES))
    return config, params


_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def _check_weights_file(path: str) -> None:
    """A clear error for a file that cannot be a checkpoint (an image, an empty file)."""
    if path.lower().endswith(_IMAGE_SUFFIXES):
        raise ValueError(f"{path} is an image, not a checkpoint: jclip.load takes a hub id, a "
                         "model folder or a state-dict file (.safetensors / .bin / .pt); images "
                         "go through jclip.preprocess")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path} is empty (0 bytes): the download or copy did not finish")


def _load_openclip_file(path: str, arch: str | None) -> tuple[ModelConfig, dict]:
    _check_weights_file(path)
    if arch is None and os.path.isfile(os.path.join(os.path.dirname(path), OPENCLIP_CONFIG)):
        arch = infer_openclip_arch(os.path.dirname(path))
    if arch is None:
        raise ValueError(
            f"{path} is an OpenCLIP/OpenAI state dict, which does not record its architecture: "
            "pass arch= one of the presets, e.g. arch='ViT-B-32' (OpenCLIP, GELU) or "
            "'ViT-B-32-quickgelu' (OpenAI weights)"
        )
    config = get_config(arch)
    key_map = openclip_key_map(config)  # raises first for kinds this format cannot hold
    check_openclip_config(os.path.dirname(path), config, arch)
    state = read_state_dict(path)
    check_openai_metadata(state, config)
    ignored = lambda k: k in OPENAI_METADATA or k.endswith("attn_mask")
    return config, convert_state_dict(state, key_map, config, ignored)


def _load_jclip(folder: str) -> tuple[ModelConfig, dict]:
    with open(os.path.join(folder, JCLIP_CONFIG)) as f:
        meta = json.load(f)
    if meta.get("format") != "jclip":
        raise ValueError(f"{folder}/{JCLIP_CONFIG} is not a jclip config file")
    config = check_config(ModelConfig(**meta["config"]))
    path = os.path.join(folder, JCLIP_PARAMS)
    with open(path, "rb") as f:
        data = f.read()
    try:
        params = flax.serialization.msgpack_restore(data)
    except Exception as e:  # msgpack raises several types for cut or damaged data
        raise ValueError(f"{path} is truncated or corrupt ({len(data)} bytes; "
                         f"{type(e).__name__}: {e})") from None
    check_params(params, config)
    return config, params


def _load_folder(folder: str, arch: str | None) -> tuple[ModelConfig, dict]:
    has = lambda name: os.path.isfile(os.path.join(folder, name))
    if has(JCLIP_CONFIG):
        config, params = _load_jclip(folder)
        if arch is not None:
            _check_arch_matches(config, arch, folder)
        return config, params
    openclip = [n for n in OPENCLIP_WEIGHTS if has(n)]
    if openclip and (arch is not None or not has("config.json")):
        return _load_openclip_file(os.path.join(folder, openclip[0]), arch)
    if has("config.json"):
        return _load_hf(folder, arch)
    raise FileNotFoundError(
        f"{folder} holds no checkpoint jclip can read: expected {JCLIP_CONFIG}, a Hugging Face "
        f"config.json with {' / '.join(HF_WEIGHTS[::2])}, or one of {', '.join(OPENCLIP_WEIGHTS)}"
    )


_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def download(repo_id: str, *, arch: str | None = None, revision: str | None = None,
             cache_dir: str | None = None) -> str:
    """Fetches the files ``load`` needs from the Hugging Face hub -> local snapshot folder.

    Uses huggingface_hub's cache; with HF_HUB_OFFLINE=1 only the cache is consulted. Tries the
    Hugging Face weights first, then OpenCLIP's (first with ``arch``, which only they need).
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    hf = ["config.json", "model.safetensors", "model.safetensors.index.json", "model-*.safetensors"]
    openclip = ["open_clip_config.json", "open_clip_model.safetensors"]
    openclip = [openclip, ["open_clip_config.json", "open_clip_pytorch_model.bin"]]
    hf = [hf, ["config.json", "pytorch_model*.bin*"]]
    attempts = openclip + hf if arch else hf + openclip
    folder = None
    for patterns in attempts:
        try:
            folder = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                       allow_patterns=patterns)
        except LocalEntryNotFoundError as e:
            raise FileNotFoundError(
                f"{repo_id!r} is not in the Hugging Face cache and downloads are disabled "
                f"(HF_HUB_OFFLINE) or the hub cannot be reached: download it once with network "
                f"access (HF_HUB_OFFLINE unset), or pass a local folder ({e})"
            ) from e
        if any(os.path.isfile(os.path.join(folder, n)) for n in HF_WEIGHTS + OPENCLIP_WEIGHTS):
            return folder
    raise FileNotFoundError(
        f"hub repo {repo_id!r} has no weights jclip can read: expected a transformers "
        f"config.json with {' / '.join(HF_WEIGHTS[::2])} or {' / '.join(OPENCLIP_WEIGHTS)}"
    )


def _looks_like_file(source: str) -> bool:
    """A name that is meant as a file path: a checkpoint extension, or no '/' at all."""
    return source.lower().endswith(FILE_EXTENSIONS) or "/" not in source.replace(os.sep, "/")


def load(source: str | os.PathLike, arch: str | None = None, *, revision: str | None = None,
         cache_dir: str | None = None, **options) -> tuple[CLIPModel, dict]:
    """Loads a pretrained CLIP / SigLIP -> (model, params). See the module docstring for sources.

    Args:
      source: hub id ("org/name"), local folder, or a state-dict file (.safetensors / .bin /
        .pt / .pth); ``jclip.list_pretrained()`` lists known hub ids.
      arch: preset name (or a ModelConfig); required for OpenCLIP / OpenAI state dicts without
        an open_clip_config.json next to them, whose files do not record the architecture; for
        other sources it is checked against the checkpoint's own config (a mismatch, e.g. of
        the activation, is an error).
      revision, cache_dir: passed to huggingface_hub for hub ids.
      **options: compute options for the returned model: dtype, scan_layers, remat.
    Returns:
      (CLIPModel, params) with float32 params (scanned layout if scan_layers=True).
    """
    bad = sorted(set(options) - set(COMPUTE_OPTIONS))
    if bad:
        raise TypeError(f"load() options must be among {COMPUTE_OPTIONS}, got {bad}: the "
                        "architecture comes from the checkpoint or arch=")
    if arch is not None:
        get_config(arch)  # unknown preset -> error listing the known ones
    source = os.fspath(source)
    source = source.removeprefix("hf-hub:")
    if source in PRESETS and not os.path.exists(source):
        raise ValueError(f"{source!r} is a preset name, not a checkpoint: jclip.create_model("
                         f"{source!r}) builds it at random init; load(path, arch={source!r}) "
                         "reads OpenCLIP weights into it")
    if os.path.isdir(source):
        config, params = _load_folder(source, arch)
    elif os.path.isfile(source):
        config, params = _load_openclip_file(source, arch)
    elif _looks_like_file(source):
        raise FileNotFoundError(
            f"no such file or folder: {source!r} (relative paths start at the current directory "
            f"{os.getcwd()}); a name with a file extension or without a '/' is not looked up on "
            "the hub: check the path, or pass a hub id 'org/name'"
        )
    elif _HUB_ID.match(source) and not source.startswith("."):
        config, params = _load_folder(download(source, arch=arch, revision=revision,
                                               cache_dir=cache_dir), arch)
    else:
        raise FileNotFoundError(f"{source!r} is neither a local file or folder nor a hub id "
                                f"'org/name' (current directory {os.getcwd()})")
    config = check_config(dataclasses.replace(config, **options))
    check_finite_params(params, source)
    params = jax.tree.map(jnp.asarray, to_layout(params, config))
    return CLIPModel(config), params


def check_finite_params(params: dict, source: str = "the checkpoint") -> None:
    """Raises ValueError naming the weights that hold NaN or inf (a damaged or diverged model)."""
    bad = [f"{'/'.join(path)} ({int(np.size(v) - np.isfinite(v).sum())} values)"
           for path, v in flatten(params).items()
           if np.issubdtype(np.asarray(v).dtype, np.floating) and not np.isfinite(v).all()]
    if bad:
        raise ValueError(f"{source}: {len(bad)} weight tensors hold NaN or inf: "
                         f"{listing(bad)}; the model would give NaN outputs")


__all__ = ["convert_state_dict", "download", "load", "save"]
