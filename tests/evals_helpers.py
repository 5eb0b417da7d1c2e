"""A tiny CLIP over the scenes' vocabulary, for the jclip.evals tests (random init, 32 px)."""

import functools
import os

import jax
import numpy as np

import jclip
from jclip.data import shapes
from jclip.tokenizer import WordTokenizer

SHAPES3 = ("circle", "square", "triangle")


@functools.cache
def tiny_model(seed: int = 0):
    """(model, params, tokenizer): tiny-clip at 32 px over ``shapes.vocabulary()``."""
    tok = WordTokenizer(shapes.vocabulary(), context_length=12)
    config = jclip.get_config("tiny-clip", image_size=32, vocab_size=tok.vocab_size,
                              context_length=tok.context_length, eos_token_id=tok.eos_id)
    model = jclip.create_model(config)
    params = model.init(jax.random.key(seed), np.zeros((1, 32, 32, 3), np.float32),
                        np.zeros((1, 12), np.int32))["params"]
    return model, params, tok


def save_workdir(path) -> str:
    """A trainer-style workdir: model/ (jclip format with its word tokenizer)."""
    model, params, tok = tiny_model()
    jclip.save(os.path.join(path, "model"), model, params, tokenizer=tok)
    return str(path)


class HashTokenizer:
    """Any text -> ids of the tiny model's vocabulary (words hashed), for data with free text."""

    def __init__(self, words_tokenizer):
        self.base = words_tokenizer

    def __call__(self, texts):
        import zlib

        base = self.base
        out = np.zeros((len(texts), base.context_length), np.int32)
        for row, text in enumerate(texts):
            words = [1 + zlib.crc32(w.encode()) % (base.vocab_size - 3) for w in text.split()]
            ids = [base.sot_id, *words, base.eos_id][: base.context_length]
            ids[-1] = base.eos_id
            out[row, : len(ids)] = ids
        return out
