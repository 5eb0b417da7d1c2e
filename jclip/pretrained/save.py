"""``jclip.save``: params -> a jclip folder (msgpack) or a Hugging Face CLIP / SigLIP folder.

format="jclip" (the default): ``jclip_config.json`` (the full ModelConfig) + ``params.msgpack``.
format="hf": the folder transformers reads with ``CLIPModel.from_pretrained`` /
``SiglipModel.from_pretrained``:
  config.json               CLIPConfig / SiglipConfig (``hf.hf_config``, per-tower act / eps)
  model.safetensors         float32 weights, the inverse of ``hf.hf_key_map``
  preprocessor_config.json  CLIPImageProcessor / SiglipImageProcessor settings that compute
                            what ``jclip.preprocess`` does for the config (size, crop, mean/std)
  tokenizer files           with ``tokenizer=`` (either format; ``tokenizers.write_tokenizer``):
                            a CLIP BPE ``jclip.Tokenizer`` writes vocab.json, merges.txt,
                            tokenizer_config.json and special_tokens_map.json (CLIPTokenizer);
                            an ``HFTokenizer`` (SigLIP's SentencePiece) saves its transformers
                            tokenizer; a ``WordTokenizer`` writes jclip_tokenizer.json.
``jclip.load`` reads both formats back with equal params.
"""

from __future__ import annotations

import dataclasses
import json
import os

import flax
import jax
import numpy as np

from jclip.models.configs import ModelConfig
from jclip.models.params import check_params, flatten, to_layout
from jclip.preprocessing import mean_std
from jclip.pretrained.hf import hf_config, hf_key_map
from jclip.pretrained.keymaps import to_state_dict
from jclip.pretrained.tokenizers import write_tokenizer
from jclip.tokenizer import HFTokenizer, Tokenizer, WordTokenizer

JCLIP_CONFIG = "jclip_config.json"
JCLIP_PARAMS = "params.msgpack"
SAVE_FORMATS = ("jclip", "hf")
# Files that make a folder a model (any format jclip.load reads) and the tokenizer files beside
# them: save refuses to write over them, and overwrite=True removes them first.
MODEL_FILES = (JCLIP_CONFIG, JCLIP_PARAMS, "config.json", "model.safetensors",
               "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
               "open_clip_config.json", "open_clip_model.safetensors",
               "open_clip_pytorch_model.bin", "preprocessor_config.json",
               "processor_config.json")
TOKENIZER_FILES = ("jclip_tokenizer.json", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "vocab.json", "merges.txt", "spiece.model")


def _split_args(args) -> tuple[str, ModelConfig, dict]:
    """(directory, model_or_config, params) or (model_or_config, params, directory)."""
    if len(args) != 3:
        raise TypeError(f"save() takes (model, params, directory) or (directory, model, params), "
                        f"got {len(args)} positional arguments")
    first = getattr(args[0], "config", args[0])
    if isinstance(first, ModelConfig):
        model, params, directory = args
    else:
        directory, model, params = args
    config = getattr(model, "config", model)
    if not isinstance(config, ModelConfig):
        raise TypeError(f"expected a CLIPModel or ModelConfig, got {type(model).__name__}")
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a str or os.PathLike, got {type(directory).__name__}")
    return os.fspath(directory), config, params


def save(*args, format: str = "jclip", tokenizer=None, overwrite: bool = False) -> str:
    """Writes a model's params to a folder -> the folder's path.

    Call as ``save(model, params, directory)`` or ``save(directory, model, params)``.

    Args:
      model: a CLIPModel or ModelConfig; params: its params (either layer layout; sharded
        params are gathered).
      directory: the folder, created if needed.
      format: "jclip" (jclip_config.json + params.msgpack) or "hf" (a transformers folder, see
        the module docstring).
      tokenizer: a ``jclip.Tokenizer`` (CLIP BPE), ``HFTokenizer`` or ``WordTokenizer`` saved
        beside the weights (``jclip.load_tokenizer(directory)`` reads it); None writes none.
      overwrite: a folder that already holds a model (``MODEL_FILES``) is refused
        (``FileExistsError``) unless True; then that model's files and tokenizer files are
        removed first, so the folder holds exactly the new model.
    Returns:
      The directory; ``jclip.load(directory)`` gives back equal params.
    """
    directory, config, params = _split_args(args)
    if format not in SAVE_FORMATS:
        raise ValueError(f"format must be one of {SAVE_FORMATS}, got {format!r}")
    params = jax.device_get(flax.core.unfreeze(params))
    check_params(params, config)
    if format == "hf" and isinstance(tokenizer, WordTokenizer):
        raise TypeError("a WordTokenizer has no Hugging Face files to write: save it with "
                        "format='jclip' (jclip_tokenizer.json)")
    _check_tokenizer(tokenizer, config)
    _clear_folder(directory, overwrite)
    os.makedirs(directory, exist_ok=True)
    if format == "jclip":
        _write_json(os.path.join(directory, JCLIP_CONFIG),
                    {"format": "jclip", "version": 1, "config": dataclasses.asdict(config)})
        with open(os.path.join(directory, JCLIP_PARAMS), "wb") as f:
            f.write(flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, params)))
        if tokenizer is not None:
            write_tokenizer(directory, tokenizer)
        return directory
    sot = getattr(tokenizer, "sot_id", None) if tokenizer is not None else None
    _write_json(os.path.join(directory, "config.json"), hf_config(config, bos_token_id=sot))
    save_hf_weights(os.path.join(directory, "model.safetensors"), config, params)
    _write_json(os.path.join(directory, "preprocessor_config.json"), image_processor_config(config))
    if tokenizer is not None:
        write_tokenizer(directory, tokenizer)
    return directory


def _clear_folder(directory: str, overwrite: bool) -> None:
    """Refuses to write over a saved model; with ``overwrite`` removes its files first."""
    present = [n for n in MODEL_FILES if os.path.isfile(os.path.join(directory, n))]
    if not present:
        return
    if not overwrite:
        raise FileExistsError(
            f"{directory} already holds a model ({', '.join(present)}): save to another folder, "
            "or pass overwrite=True to replace it")
    for name in MODEL_FILES + TOKENIZER_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            os.remove(path)


def save_hf_weights(path: str, config: ModelConfig, params: dict) -> None:
    """``params`` as a transformers CLIPModel / SiglipModel state dict in safetensors."""
    from safetensors.numpy import save_file

    canonical = to_layout(params, dataclasses.replace(config, scan_layers=False))
    state = to_state_dict(flatten(canonical), hf_key_map(config))
    save_file(state, path, metadata={"format": "pt"})  # transformers wants the "pt" tag


def image_processor_config(config: ModelConfig) -> dict:
    """preprocessor_config.json of CLIPImageProcessor / SiglipImageProcessor computing what
    ``jclip.preprocess(images, config)`` does: bicubic resize (CLIP: shortest edge, then a
    centre crop; SigLIP: straight to the square), 1/255 rescale, mean / std normalisation."""
    mean, std = (np.asarray(m, np.float64).tolist() for m in mean_std(config))
    size = config.image_size
    common = dict(do_resize=True, resample=3, do_rescale=True, rescale_factor=1 / 255,
                  do_normalize=True, image_mean=mean, image_std=std, do_convert_rgb=True)
    if config.kind == "siglip":
        return dict(image_processor_type="SiglipImageProcessor",
                    size={"height": size, "width": size}, **common)
    return dict(image_processor_type="CLIPImageProcessor", size={"shortest_edge": size},
                do_center_crop=True, crop_size={"height": size, "width": size}, **common)


def _check_tokenizer(tokenizer, config: ModelConfig) -> None:
    if tokenizer is None:
        return
    if not isinstance(tokenizer, (Tokenizer, HFTokenizer, WordTokenizer)):
        raise TypeError(f"tokenizer must be a jclip.Tokenizer, HFTokenizer or WordTokenizer (or "
                        f"None), got {type(tokenizer).__name__}")
    if tokenizer.vocab_size > config.vocab_size:
        raise ValueError(f"the tokenizer's vocabulary ({tokenizer.vocab_size} ids) does not fit "
                         f"the model's vocab_size={config.vocab_size}: is it this model's "
                         "tokenizer?")
    if (isinstance(tokenizer, (Tokenizer, WordTokenizer)) and config.kind == "clip"
            and tokenizer.eos_id != config.eos_token_id):
        raise ValueError(f"the tokenizer's end token is id {tokenizer.eos_id} but the model pools "
                         f"the text at eos_token_id={config.eos_token_id}: is it this model's "
                         "tokenizer?")


def _write_json(path: str, obj, indent: int | None = 1) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)

