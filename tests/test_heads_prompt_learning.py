"""CoOp prompt learning: prompt layout, the context-word initialisation reproduces the plain
text features, and learning the context lowers the loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jclip.heads import prompt_learning
from jclip.ops import l2_normalize
from tests.helpers.models import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


def test_layout_locates_the_context_and_the_slot(tiny):
    model, params, tok = tiny
    prompts = prompt_learning.build_prompts(tok, ["circle", "red square"], model.config,
                                            "a photo of a")
    assert (prompts.start, prompts.num_context, prompts.slot) == (1, 4, 5)
    ids = [tok.encoder[w] for w in "a photo of a".split()]
    assert prompts.tokens[:, 1:5].tolist() == [ids, ids]
    assert prompts.tokens[0, 5] == tok.encoder["circle"]
    assert prompts.tokens[1, 5:7].tolist() == [tok.encoder["red"], tok.encoder["square"]]
    # cut after the longest prompt's end token (CLIP pools there; nothing after it matters)
    assert prompts.tokens.shape[1] >= 8 and prompts.tokens[1, 7] == tok.eos_id


def test_context_words_as_vectors_give_the_plain_text_features(tiny):
    model, params, tok = tiny
    names = ["circle", "square", "triangle"]
    prompts = prompt_learning.build_prompts(tok, names, model.config, "a photo of a")
    ctx = prompt_learning.init_context(params, prompts)
    features = jax.jit(lambda p, c: prompt_learning.text_features(model, p, prompts, c))
    plain = jax.jit(lambda p, t: l2_normalize(model.apply({"params": p}, t,
                                                          method="encode_text")))(
        params, jnp.asarray(tok([f"a photo of a {n}" for n in names])))
    np.testing.assert_allclose(features(params, ctx), plain, rtol=0, atol=1e-6)
    per_class = prompt_learning.init_context(params, prompts, per_class=True)
    assert per_class.shape == (3, 4, model.config.text_width)
    np.testing.assert_allclose(features(params, per_class), plain, rtol=0, atol=1e-6)


def test_learning_the_context_lowers_the_coop_loss(tiny):
    model, params, tok = tiny
    prompts = prompt_learning.build_prompts(tok, ["circle", "square", "triangle"],
                                            model.config, "a photo of a")
    rng = np.random.default_rng(0)
    labels = jnp.asarray(rng.integers(0, 3, 48))
    centers = rng.normal(size=(3, model.config.embed_dim))
    feats = l2_normalize(jnp.asarray(centers[np.asarray(labels)]
                                     + 0.3 * rng.normal(size=(48, model.config.embed_dim)),
                                     jnp.float32))
    loss = jax.jit(lambda c: prompt_learning.coop_loss(model, params, prompts, c, feats,
                                                       labels))
    first = float(loss(prompt_learning.init_context(params, prompts)))
    ctx, history = prompt_learning.fit_coop(model, params, prompts, feats, labels, steps=15,
                                            lr=0.05, batch_size=48)
    assert len(history) == 15 and float(loss(ctx)) < first - 0.05


def test_bad_prompt_inputs(tiny):
    model, params, tok = tiny
    with pytest.raises(ValueError, match="at least one word"):
        prompt_learning.build_prompts(tok, ["circle"], model.config, " ")
    with pytest.raises(ValueError, match="non-empty strings"):
        prompt_learning.build_prompts(tok, [], model.config)
    prompts = prompt_learning.build_prompts(tok, ["circle"], model.config)
    with pytest.raises(ValueError, match="context must be"):
        prompt_learning.prompt_embeddings(params, prompts, jnp.zeros((2, 3)))
