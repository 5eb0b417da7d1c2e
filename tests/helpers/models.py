"""Tiny models and tokenizers of the tests: a tiny CLIP over the scenes' vocabulary (random init,
32 px) and its trainer-style workdir, the trainer's micro config, the openclip_native fixture's
architecture, and tokenizers of free text."""

import functools
import os

import jax
import numpy as np
import pytest

import jclip
from jclip.data import shapes
from jclip.tokenizer import WordTokenizer

SHAPES3 = ("circle", "square", "triangle")
MICRO = "experiments/configs/shapes_micro.py"

# The architecture of the openclip_native fixture (make_openclip_fixture.py's MODEL_CFG).
OPENCLIP_NATIVE = jclip.ModelConfig(
    kind="clip", embed_dim=24, image_size=32, patch_size=8, vision_width=32, vision_layers=2,
    vision_heads=2, vision_mlp_dim=64, vocab_size=500, context_length=16, text_width=32,
    text_layers=2, text_heads=4, text_mlp_dim=48, eos_token_id=499, act="quick_gelu",
)


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


@pytest.fixture(scope="module", name="micro")
def micro_fixture():
    """The fixture ``micro``: (config, model, word tokenizer) of the trainer's micro config. Import
    micro_fixture into a test module to use it (its tests take an argument named micro)."""
    from jclip.train import config as config_lib
    from jclip.train import loop

    config = config_lib.load_config(MICRO)
    model, tokenizer, _ = loop.build_model(config)
    return config, model, tokenizer


def any_text_tokenizer(texts):
    """int32 [B, 8] from any text (character codes), for captions outside the word vocabulary."""
    return np.array([[ord(ch) % 97 for ch in (t + " " * 8)[:8]] for t in texts], np.int32)
