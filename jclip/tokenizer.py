"""Text tokenizers: the CLIP byte-level BPE, SentencePiece models (SigLIP), and a word-level one.

``Tokenizer`` reproduces the ids of the original CLIP tokenizer (Radford et al., 2021,
"Learning Transferable Visual Models From Natural Language Supervision"; the ``simple_tokenizer``
shipped with the OpenAI weights and with OpenCLIP):

1. clean-up: ``ftfy.fix_text``, HTML unescaping (twice), whitespace runs -> one space, strip,
   lower-case;
2. pre-tokenisation with the CLIP regex: the two special tokens, the contractions
   ``'s 't 're 've 'm 'll 'd``, runs of letters, single digits, runs of other non-space symbols;
3. every UTF-8 byte of a piece is mapped to a printable unicode character (the GPT-2 byte table),
   the last symbol gets the end-of-word marker ``</w>``, and adjacent symbols are merged
   greedily by merge rank;
4. ``<|startoftext|>`` (49406) + ids + ``<|endoftext|>`` (49407); sequences longer than the
   context length are cut and their last id is set back to the end token; the rest is padded
   with 0, as OpenCLIP does.

transformers' ``CLIPTokenizer`` gives the same ids for the sequence itself but pads with
``<|endoftext|>`` (49407) rather than 0, does not run ftfy or HTML unescaping (only NFC
normalisation, whitespace clean-up and lower-casing), and needs ``padding="max_length"`` for a
fixed length. Both pad conventions give the same CLIP text features, because CLIP pools the
text at the first end token. Two rare casing details follow the original (Python) rather than
transformers: a word-final capital sigma becomes 'ς', and U+0345 (which the case-insensitive
CLIP regex matches with no class) is dropped. The regex module's Unicode tables decide which
characters count as letters, so characters assigned in recent Unicode versions can differ.
"""

from __future__ import annotations

import functools
import gzip
import html
import json
import os
from collections.abc import Iterable, Sequence

import ftfy
import numpy as np
import regex

SOT, EOT = "<|startoftext|>", "<|endoftext|>"
_CLIP_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
_NUM_CLIP_MERGES = 49152 - 256 - 2  # the original vocabulary uses the first 48,894 merges
_TOKENIZER_FILES = (
    "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "spiece.model", "config.json", "open_clip_config.json",
)


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """The GPT-2 byte table: each of the 256 byte values -> a printable unicode character.

    Printable Latin-1 bytes map to themselves; the others (controls, space, ...) map to
    ``chr(256 + k)`` in byte order, so that BPE symbols never contain whitespace. The dict
    order matters: the CLIP vocabulary lists the printable bytes first, then the others.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable},
            **{b: chr(256 + k) for k, b in enumerate(others)}}


def clean_text(text: str) -> str:
    """ftfy repair, HTML unescape (twice, as CLIP does), whitespace runs -> ' ', strip, lower."""
    text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return regex.sub(r"\s+", " ", text).strip().lower()


def read_bpe_merges(path: str | os.PathLike, limit: int | None = None) -> list[tuple[str, str]]:
    """The first ``limit`` merges of a CLIP ``bpe_simple_vocab_16e6.txt[.gz]`` or HF merges.txt.

    Both files start with a ``#version`` line, then one merge ``a b`` per line.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (EOFError, OSError, UnicodeDecodeError) as e:  # gzip.BadGzipFile is an OSError
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path} is truncated or corrupt: it cannot be read as a BPE merge "
                         f"file ({type(e).__name__}: {e})") from None
    if lines and "#version" in lines[0]:
        lines = lines[1:]
    merges = [tuple(ln.split(" ")) for ln in lines if ln][:limit]
    bad = [m for m in merges if len(m) != 2]
    if bad:
        raise ValueError(f"{path}: expected merge lines 'a b', got {' '.join(bad[0])!r}")
    return merges


def clip_vocabulary(merges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """The CLIP vocabulary derived from its merges: bytes, bytes + '</w>', merges, SOT, EOT."""
    symbols = list(bytes_to_unicode().values())
    symbols += [s + "</w>" for s in symbols]
    symbols += ["".join(m) for m in merges]
    symbols += [SOT, EOT]
    return {s: i for i, s in enumerate(symbols)}


class Tokenizer:
    """CLIP byte-level BPE tokenizer with a fixed context length.

    ``tok(texts)`` -> np.int32 [N, context_length] for a str or a list of N str.
    Attributes: ``context_length``, ``vocab_size`` (49408 for CLIP), ``pad_id`` (0),
    ``sot_id`` (49406), ``eos_id`` (49407).
    """

    def __init__(self, vocab: dict[str, int], merges: Sequence[tuple[str, str]],
                 context_length: int = 77):
        for special in (SOT, EOT):
            if special not in vocab:
                raise ValueError(f"A CLIP vocabulary needs the special token {special!r}")
        self.encoder = dict(vocab)
        self.decoder = {i: s for s, i in self.encoder.items()}
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self.context_length = _check_context_length(context_length)
        self.vocab_size = max(self.encoder.values()) + 1
        self.sot_id, self.eos_id, self.pad_id = self.encoder[SOT], self.encoder[EOT], 0
        self._cache = {SOT: (self.sot_id,), EOT: (self.eos_id,)}

    @classmethod
    def from_bpe_file(cls, path: str | os.PathLike, context_length: int = 77) -> Tokenizer:
        """From the original CLIP merge file ``bpe_simple_vocab_16e6.txt.gz``."""
        merges = read_bpe_merges(path, limit=_NUM_CLIP_MERGES)
        if len(merges) != _NUM_CLIP_MERGES:
            raise ValueError(f"{path}: expected at least {_NUM_CLIP_MERGES} merges, "
                             f"got {len(merges)}")
        return cls(clip_vocabulary(merges), merges, context_length)

    @classmethod
    def from_pretrained(cls, source: str | os.PathLike, context_length: int | None = None,
                        **hub_kwargs):
        """Loads a tokenizer from a hub id, a local tokenizer folder or a BPE merge file.

        Args:
          source: a Hugging Face hub id (``"openai/clip-vit-base-patch32"``, downloaded with
            huggingface_hub, honouring its cache and ``HF_HUB_OFFLINE``), a folder holding
            ``vocab.json`` + ``merges.txt`` or ``tokenizer.json`` (CLIP BPE) or a SentencePiece
            tokenizer (``spiece.model``, SigLIP), or a path to ``bpe_simple_vocab_16e6.txt.gz``.
          context_length: tokens per text; default from the folder's configs, else 77 (CLIP)
            or 64 (SentencePiece / SigLIP).
          **hub_kwargs: passed to ``huggingface_hub.snapshot_download`` (cache_dir, revision).
        Returns:
          A ``Tokenizer`` for CLIP BPE vocabularies, else an ``HFTokenizer`` (same interface).
        """
        source = os.fspath(source)
        if os.path.isfile(source):
            if source.endswith((".txt.gz", ".txt")):
                return cls.from_bpe_file(source, 77 if context_length is None else context_length)
            raise ValueError(f"Expected a BPE merge file (*.txt.gz) or a folder, got {source!r}")
        folder = source if os.path.isdir(source) else _download(source, **hub_kwargs)
        return _from_folder(cls, folder, context_length)

    def bpe(self, piece: str) -> tuple[int, ...]:
        """Ids of one pre-tokenised piece (already byte-mapped), merged by rank; cached."""
        if piece in self._cache:
            return self._cache[piece]
        word = [*piece[:-1], piece[-1] + "</w>"]
        while len(word) > 1:
            pair = min(zip(word, word[1:]), key=lambda p: self.ranks.get(p, np.inf))
            if pair not in self.ranks:
                break
            first, second = pair
            merged, i = [], 0
            while i < len(word):  # merge every occurrence of the best pair, left to right
                if i + 1 < len(word) and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        ids = tuple(self.encoder[s] for s in word)
        if len(self._cache) < 100_000:
            self._cache[piece] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` without the start / end tokens and without truncation."""
        ids = []
        for piece in _CLIP_PATTERN.findall(clean_text(text)):
            if piece not in (SOT, EOT):
                piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.bpe(piece))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; padding and the start / end tokens are dropped."""
        skip = {self.pad_id, self.sot_id, self.eos_id}
        text = "".join(self.decoder[int(i)] for i in ids if int(i) not in skip)
        raw = bytearray(self.byte_decoder[c] for c in text)
        return raw.decode("utf-8", errors="replace").replace("</w>", " ").strip()

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = _as_text_list(texts)
        out = np.full((len(texts), self.context_length), self.pad_id, np.int32)
        for row, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text), self.eos_id]
            if len(ids) > self.context_length:  # truncate, keeping the end token
                ids = ids[: self.context_length]
                ids[-1] = self.eos_id
            out[row, : len(ids)] = ids
        return out

    def __repr__(self):
        return (f"Tokenizer(clip_bpe, vocab_size={self.vocab_size}, "
                f"context_length={self.context_length})")


class HFTokenizer:
    """A transformers tokenizer (e.g. SigLIP's SentencePiece) with jclip's call interface.

    ``tok(texts)`` -> np.int32 [N, context_length], padded to ``max_length`` and truncated as
    SigLIP needs (``padding="max_length", truncation=True``); SigLIP pads with its end token
    ``</s>`` (id 1).
    """

    def __init__(self, hf_tokenizer, context_length: int = 64):
        self.hf_tokenizer = hf_tokenizer
        self.context_length = _check_context_length(context_length)
        self.vocab_size = len(hf_tokenizer)
        self.pad_id = hf_tokenizer.pad_token_id
        self.eos_id = hf_tokenizer.eos_token_id
        self.sot_id = hf_tokenizer.bos_token_id

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = _as_text_list(texts)
        if not texts:
            return np.zeros((0, self.context_length), np.int32)
        ids = self.hf_tokenizer(texts, padding="max_length", truncation=True,
                                max_length=self.context_length)["input_ids"]
        return np.asarray(ids, np.int32).reshape(len(texts), self.context_length)

    def decode(self, ids: Iterable[int]) -> str:
        return self.hf_tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    def __repr__(self):
        return (f"HFTokenizer({type(self.hf_tokenizer).__name__}, vocab_size={self.vocab_size}, "
                f"context_length={self.context_length})")


def _check_context_length(context_length) -> int:
    if isinstance(context_length, bool) or not isinstance(context_length, (int, np.integer)):
        raise TypeError(f"context_length must be an int, got {type(context_length).__name__}")
    if context_length < 2:
        raise ValueError(f"context_length must be >= 2 (start + end token), got {context_length}")
    return int(context_length)


def _as_text_list(texts) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, np.ndarray):  # e.g. a caption column of a dataset
        if texts.ndim > 1:
            raise ValueError(f"Expected a 1-D array of str, got shape {texts.shape}")
        texts = texts.reshape(-1).tolist()
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"Expected a str or a list of str, got {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"Expected a str or a list of str; item {i} is {type(t).__name__}")
    return list(texts)


def _download(repo_id: str, **hub_kwargs) -> str:
    """Tokenizer files of a hub repo (cache first; ``HF_HUB_OFFLINE=1`` -> cache only)."""
    import huggingface_hub

    try:
        return huggingface_hub.snapshot_download(
            repo_id, allow_patterns=list(_TOKENIZER_FILES), **hub_kwargs
        )
    except Exception as e:
        raise OSError(
            f"Could not get the tokenizer of {repo_id!r}: it is not a local file or folder, and "
            f"the hub download failed ({type(e).__name__}: {e}). Offline, the files must be in "
            "the huggingface_hub cache."
        ) from e


def _read_json(folder: str, name: str) -> dict:
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except ValueError as e:  # JSONDecodeError / UnicodeDecodeError
            raise ValueError(f"{path} is truncated or corrupt: it is not valid JSON "
                             f"({e})") from None


def _configured_length(folder: str) -> int | None:
    """Context length from the folder's tokenizer / model configs, if any says it."""
    max_len = _read_json(folder, "tokenizer_config.json").get("model_max_length")
    if isinstance(max_len, int) and 0 < max_len < 100_000:  # HF writes 1e30 for "unset"
        return max_len
    text_config = _read_json(folder, "config.json").get("text_config") or {}
    if "max_position_embeddings" in text_config:
        return int(text_config["max_position_embeddings"])
    model_cfg = _read_json(folder, "open_clip_config.json").get("model_cfg", {})
    return model_cfg.get("text_cfg", {}).get("context_length")


def _clip_bpe_from_tokenizer_json(folder: str):
    """(vocab, merges) if tokenizer.json holds a CLIP-style BPE (end-of-word '</w>'), else None."""
    model = _read_json(folder, "tokenizer.json").get("model", {})
    if model.get("type") != "BPE" or model.get("end_of_word_suffix") != "</w>":
        return None
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def _refuse_jclip_description(folder: str) -> None:
    """Earlier jclip versions saved their word-tokenizer description as tokenizer.json."""
    spec = _read_json(folder, "tokenizer.json")
    if spec.get("type") in ("word", "pretrained") and "model" not in spec:
        raise ValueError(
            f"{os.path.join(folder, 'tokenizer.json')} is a jclip tokenizer description (type "
            f"{spec['type']!r}), not a Hugging Face tokenizer: load it with "
            "jclip.load_tokenizer(folder)")


def _from_folder(cls, folder: str, context_length: int | None):
    length = _configured_length(folder) if context_length is None else context_length
    has = lambda name: os.path.isfile(os.path.join(folder, name))
    vocab_merges = None
    if has("vocab.json") and has("merges.txt"):
        vocab_merges = _read_json(folder, "vocab.json"), read_bpe_merges(
            os.path.join(folder, "merges.txt"))
    elif has("tokenizer.json"):
        _refuse_jclip_description(folder)
        vocab_merges = _clip_bpe_from_tokenizer_json(folder)
    if vocab_merges is not None and SOT in vocab_merges[0] and EOT in vocab_merges[0]:
        return cls(*vocab_merges, context_length=77 if length is None else length)
    if not any(has(n) for n in ("tokenizer.json", "spiece.model", "vocab.json",
                                "tokenizer_config.json")):
        raise FileNotFoundError(
            f"No tokenizer in {folder!r}: expected vocab.json + merges.txt, tokenizer.json or "
            f"spiece.model; found {sorted(os.listdir(folder))}"
        )
    import transformers

    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return HFTokenizer(hf_tokenizer, 64 if length is None else length)


class UnknownWordError(KeyError, ValueError):
    """A text holds words outside a ``WordTokenizer``'s closed vocabulary (bad input: a
    ``ValueError``; also a ``KeyError``, the lookup that failed)."""


class WordTokenizer:
    """Closed-vocabulary word-level tokenizer (offline, no files), e.g. for synthetic captions.

    Ids: 0 = padding, the words 1..n in the order given (lower-cased, duplicates dropped),
    n + 1 = start token, n + 2 = end token, so ``vocab_size = n + 3`` and the end token is the
    last id (a CLIP text tower with ``eos_token_id = vocab_size - 1`` pools there).

    Text handling: lower-cased and split on whitespace; the punctuation characters
    ``. , ; : ! ? " ( )`` are split off as tokens of their own and kept if they are in the
    vocabulary, dropped otherwise; hyphens and apostrophes stay inside words. Any other word
    not in the vocabulary raises ``UnknownWordError`` (a ``KeyError`` and a ``ValueError``).
    Rows longer than the context length are cut and end with the end token, as in CLIP.
    """

    PUNCTUATION = '.,;:!?"()'

    def __init__(self, words: Iterable[str], context_length: int = 16):
        if isinstance(words, str):
            raise TypeError("words must be an iterable of words, not one str")
        vocab = {}
        for w in words:
            if not isinstance(w, str) or not w or w != w.strip() or len(w.split()) != 1:
                raise ValueError(f"Each word must be a non-empty str without spaces, got {w!r}")
            vocab.setdefault(w.lower(), len(vocab) + 1)
        if not vocab:
            raise ValueError("WordTokenizer needs at least one word")
        self.encoder = vocab
        self.decoder = {i: w for w, i in vocab.items()}
        self.context_length = _check_context_length(context_length)
        self.pad_id, self.sot_id, self.eos_id = 0, len(vocab) + 1, len(vocab) + 2
        self.vocab_size = len(vocab) + 3

    def split(self, text: str) -> list[str]:
        """Lower-cased words and punctuation marks of ``text`` (see the class docstring)."""
        text = text.lower()
        for p in self.PUNCTUATION:
            text = text.replace(p, f" {p} ")
        return [w for w in text.split() if w not in self.PUNCTUATION or w in self.encoder]

    def encode(self, text: str) -> list[int]:
        words = self.split(text)
        unknown = sorted({w for w in words if w not in self.encoder})
        if unknown:
            raise UnknownWordError(f"Words not in the vocabulary of the WordTokenizer: {unknown} "
                           f"(in {text!r})")
        return [self.encoder[w] for w in words]

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.decoder[int(i)] for i in ids if int(i) in self.decoder)

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = _as_text_list(texts)
        out = np.full((len(texts), self.context_length), self.pad_id, np.int32)
        for row, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text), self.eos_id][: self.context_length]
            ids[-1] = self.eos_id
            out[row, : len(ids)] = ids
        return out

    def __repr__(self):
        return (f"WordTokenizer(vocab_size={self.vocab_size}, "
                f"context_length={self.context_length})")
