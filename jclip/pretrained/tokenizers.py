"""The tokenizer of a saved model: one reader (``load_tokenizer``) and one writer.

A model folder carries its tokenizer in one of two forms:
  - Hugging Face's files (``vocab.json`` + ``merges.txt``, ``tokenizer.json``, ``spiece.model``,
    with ``tokenizer_config.json``), read by ``jclip.Tokenizer.from_pretrained``. A
    ``tokenizer.json`` is always Hugging Face's fast-tokenizer file.
  - ``jclip_tokenizer.json``: jclip's own description, for tokenizers Hugging Face has no format
    for (the closed-vocabulary ``WordTokenizer`` of the synthetic scenes)::

        {"format": "jclip-tokenizer", "version": 1, "type": "word",
         "words": [...], "context_length": 16}

    or a reference to another tokenizer source: ``{"type": "pretrained", "source": "..."}``.

Folders saved by earlier jclip versions hold that description under the name ``tokenizer.json``;
they are recognised by content (a JSON object with ``"type": "word" | "pretrained"`` and none of
the keys of Hugging Face's format) and still load.
"""

from __future__ import annotations

import json
import os

from jclip.tokenizer import EOT, SOT, HFTokenizer, Tokenizer, WordTokenizer

JCLIP_TOKENIZER = "jclip_tokenizer.json"
LEGACY_TOKENIZER = "tokenizer.json"  # the name earlier jclip versions used (Hugging Face's)
SPEC_FORMAT = "jclip-tokenizer"
SPEC_TYPES = ("word", "pretrained")
_HF_TOKENIZER_KEYS = ("model", "normalizer", "pre_tokenizer", "added_tokens", "decoder")


def tokenizer_spec(tokenizer: WordTokenizer) -> dict:
    """The ``jclip_tokenizer.json`` description of a ``WordTokenizer``."""
    if not isinstance(tokenizer, WordTokenizer):
        raise TypeError(f"expected a WordTokenizer, got {type(tokenizer).__name__} (CLIP BPE and "
                        "Hugging Face tokenizers are saved in Hugging Face's files)")
    return {"format": SPEC_FORMAT, "version": 1, "type": "word",
            "words": list(tokenizer.encoder), "context_length": tokenizer.context_length}


def write_tokenizer(directory: str | os.PathLike, tokenizer) -> str:
    """Writes ``tokenizer`` into a model folder so that ``load_tokenizer`` reads it back.

    A ``WordTokenizer`` -> ``jclip_tokenizer.json``; a CLIP BPE ``jclip.Tokenizer`` -> the files
    transformers' CLIPTokenizer reads; an ``HFTokenizer`` -> its transformers tokenizer's
    ``save_pretrained``. Returns the directory.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    if isinstance(tokenizer, WordTokenizer):
        with open(os.path.join(directory, JCLIP_TOKENIZER), "w", encoding="utf-8") as f:
            json.dump(tokenizer_spec(tokenizer), f, ensure_ascii=False)
    elif isinstance(tokenizer, (Tokenizer, HFTokenizer)):
        write_hf_tokenizer(tokenizer, directory)
    else:
        raise TypeError(f"cannot save a tokenizer of type {type(tokenizer).__name__}: expected "
                        "jclip.Tokenizer, HFTokenizer or WordTokenizer")
    return directory


def write_hf_tokenizer(tokenizer, directory: str) -> None:
    """Writes the tokenizer files transformers' CLIPTokenizer (or the HFTokenizer's own class)
    reads from ``directory``."""
    if isinstance(tokenizer, HFTokenizer):
        tokenizer.hf_tokenizer.save_pretrained(directory)
        return
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"expected a jclip.Tokenizer or HFTokenizer, got "
                        f"{type(tokenizer).__name__}")
    vocab = dict(sorted(tokenizer.encoder.items(), key=lambda item: item[1]))
    _write_json(os.path.join(directory, "vocab.json"), vocab, indent=None)
    merges = sorted(tokenizer.ranks, key=tokenizer.ranks.get)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    # transformers' CLIP conventions: pad with the end token (jclip pads with 0; both give the
    # same text features, as CLIP pools at the first end token).
    special = dict(bos_token=SOT, eos_token=EOT, unk_token=EOT, pad_token=EOT)
    _write_json(os.path.join(directory, "special_tokens_map.json"), special)
    _write_json(os.path.join(directory, "tokenizer_config.json"), dict(
        tokenizer_class="CLIPTokenizer", model_max_length=tokenizer.context_length,
        do_lower_case=True, errors="replace", add_prefix_space=False, **special))


def _write_json(path: str, obj, indent: int | None = 1) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)


def is_jclip_spec(obj) -> bool:
    """Whether a parsed JSON object is jclip's tokenizer description (not Hugging Face's)."""
    return (isinstance(obj, dict) and obj.get("type") in SPEC_TYPES
            and not any(k in obj for k in _HF_TOKENIZER_KEYS))


def _read_spec(path: str) -> dict | None:
    """jclip's description in ``path`` (None when the file is Hugging Face's)."""
    with open(path, encoding="utf-8") as f:
        try:
            obj = json.load(f)
        except ValueError as e:
            raise ValueError(f"{path} is truncated or corrupt: it is not valid JSON "
                             f"({e})") from None
    return obj if is_jclip_spec(obj) else None


def _from_spec(spec: dict, path: str, context_length: int | None):
    if spec.get("type") not in SPEC_TYPES:
        raise ValueError(f"{path}: unknown tokenizer type {spec.get('type')!r}; expected one of "
                         f"{SPEC_TYPES}")
    if spec["type"] == "word":
        words = spec.get("words")
        if not isinstance(words, list) or not words:
            raise ValueError(f"{path}: a word tokenizer needs a non-empty 'words' list")
        length = spec.get("context_length", context_length)
        if length is None:
            raise ValueError(f"{path}: a word tokenizer needs 'context_length'")
        return WordTokenizer(words, int(length))
    source = spec.get("source")
    if not isinstance(source, str) or not source or source == "None":
        raise ValueError(f"{path}: a 'pretrained' tokenizer needs a 'source' (hub id or folder)")
    return Tokenizer.from_pretrained(source, context_length=context_length)


def tokenizer_folder(source: str | os.PathLike) -> str:
    """The folder a model source keeps its tokenizer in ("" for a hub id)."""
    source = os.fspath(source)
    if os.path.isdir(source):
        return source
    if os.path.isfile(source):  # an OpenCLIP / OpenAI weights file: its folder
        return os.path.dirname(os.path.abspath(source))
    return ""


def load_tokenizer(source: str | os.PathLike, *, context_length: int | None = None,
                   tokenizer: str | os.PathLike | None = None):
    """The tokenizer of a model source (the one function the CLI, trainer and studies use).

    Order: ``tokenizer`` when given (a hub id, folder or BPE file, as
    ``jclip.Tokenizer.from_pretrained``); else ``jclip_tokenizer.json`` in the source's folder;
    else an earlier jclip version's ``tokenizer.json`` description (recognised by content);
    else the source's Hugging Face tokenizer files (folder or hub id).

    Args:
      source: a model source as ``jclip.load`` takes it (hub id, ``hf-hub:`` id, folder, or a
        weights file whose folder holds the tokenizer).
      context_length: tokens per text, normally ``model.config.context_length``; None takes
        the tokenizer's own (its description or configs).
      tokenizer: an explicit tokenizer source overriding the model's.
    Returns:
      A ``jclip.Tokenizer``, ``HFTokenizer`` or ``WordTokenizer``.
    """
    if tokenizer is not None:
        return Tokenizer.from_pretrained(tokenizer, context_length=context_length)
    source = os.fspath(source)
    folder = tokenizer_folder(source)
    for name in (JCLIP_TOKENIZER, LEGACY_TOKENIZER):
        path = os.path.join(folder, name) if folder else ""
        if path and os.path.isfile(path):
            spec = _read_spec(path)
            if spec is None and name == JCLIP_TOKENIZER:
                raise ValueError(f"{path} is not a jclip tokenizer description (expected a JSON "
                                 f"object with 'type' in {SPEC_TYPES})")
            if spec is not None:
                return _from_spec(spec, path, context_length)
    target = folder or source.removeprefix("hf-hub:")
    try:
        return Tokenizer.from_pretrained(target, context_length=context_length)
    except (OSError, ValueError) as e:
        raise ValueError(f"no tokenizer found for {source!r} ({e}); pass a tokenizer source, "
                         "e.g. tokenizer='openai/clip-vit-base-patch32'") from e
