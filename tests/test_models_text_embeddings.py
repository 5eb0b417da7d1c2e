"""The text tower's embedding input (prompt learning): exact equality with the token path,
the pooled position under replaced embeddings, and the transformers reference outputs."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jclip
from jclip.models.text import token_embeddings

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "models")


@pytest.fixture(scope="module", params=["hf_clip_gelu", "hf_siglip"])
def loaded(request):
    folder = os.path.join(FIXTURES, request.param)
    model, params = jclip.load(folder)
    with np.load(os.path.join(folder, "reference.npz")) as npz:
        ref = dict(npz)
    return model, params, ref


def _encode(model, params, tokens, embeddings=None):
    return model.apply({"params": params}, tokens, method="encode_text",
                       prompt_embeddings=embeddings)


def _jitted(model):
    return jax.jit(lambda p, t, e: _encode(model, p, t, e))


def test_token_embeddings_give_exactly_encode_text(loaded):
    model, params, ref = loaded
    tokens = jnp.asarray(ref["tokens"])
    plain = _encode(model, params, tokens)
    via = _encode(model, params, tokens, token_embeddings(params, tokens))
    np.testing.assert_array_equal(np.asarray(via), np.asarray(plain))
    # ... and both equal transformers' text embeddings of the fixture.
    np.testing.assert_allclose(via, ref["text_embeds"], rtol=0, atol=1e-5)


def test_pooled_position_follows_the_tokens_not_the_embeddings(loaded):
    """Context vectors replace the embeddings of placeholder tokens; the output is still read at
    CLIP's first eos / SigLIP's last position, so changing embeddings after the eos (CLIP, causal)
    changes nothing, and changing a replaced position changes the output."""
    model, params, ref = loaded
    tokens = jnp.asarray(ref["tokens"])
    emb = token_embeddings(params, tokens)
    rng = np.random.default_rng(0)
    context = jnp.asarray(rng.normal(size=emb[:, 1:3].shape).astype(np.float32))
    replaced = emb.at[:, 1:3].set(context)
    encode = _jitted(model)
    out = encode(params, tokens, replaced)
    assert not np.allclose(out, encode(params, tokens, emb))
    if model.config.kind == "clip":
        eos = np.argmax(np.asarray(tokens) == model.config.eos_token_id, axis=1)
        after = np.arange(tokens.shape[1])[None, :] > eos[:, None]
        assert after.any()
        noise = jnp.asarray(rng.normal(size=emb.shape).astype(np.float32))
        tail = jnp.where(jnp.asarray(after)[..., None], noise, replaced)
        np.testing.assert_allclose(encode(params, tokens, tail), out, rtol=0, atol=1e-6)
        # Moving the eos token moves the pooled row: the output changes.
        moved = np.asarray(tokens).copy()
        moved[0, eos[0]] = 1
        moved[0, eos[0] - 1] = model.config.eos_token_id
        assert not np.allclose(encode(params, jnp.asarray(moved), replaced)[0], out[0])


def test_bad_embeddings_raise(loaded):
    model, params, ref = loaded
    tokens = jnp.asarray(ref["tokens"])
    emb = token_embeddings(params, tokens)
    with pytest.raises(ValueError, match="prompt embeddings must be"):
        _encode(model, params, tokens, emb[:, :-1])
    with pytest.raises(TypeError, match="must be floats"):
        _encode(model, params, tokens, emb.astype(jnp.int32))
