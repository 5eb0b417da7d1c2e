import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jclip
from jclip.heads import prompts, zeroshot
from jclip.tokenizer import WordTokenizer


def _unit(x, axis=-1):
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


def test_prompt_data():
    names = prompts.imagenet_classnames()
    assert len(names) == 1000 and names[0] == "tench" and names[-1] == "toilet paper"
    assert len(prompts.IMAGENET_TEMPLATES) == 80 and len(set(prompts.IMAGENET_TEMPLATES)) == 80
    assert len(prompts.SIMPLE_IMAGENET_TEMPLATES) == 7
    assert set(prompts.SIMPLE_IMAGENET_TEMPLATES) <= set(prompts.IMAGENET_TEMPLATES)
    assert prompts.format_prompts(["cat", "dog"], ["a {}.", lambda c: c + "!"]) == [
        "a cat.", "cat!", "a dog.", "dog!"]
    with pytest.raises(ValueError, match="slot"):
        prompts.format_prompts(["cat"], ["no placeholder"])


def test_ensemble_weighted_and_uniform_match_numpy():
    rng = np.random.default_rng(0)
    z = _unit(rng.normal(size=(4, 3, 8)))
    np.testing.assert_allclose(np.asarray(zeroshot.ensemble(z)), _unit(z.mean(0)).T, rtol=1e-5)
    w = np.array([0.1, 0.2, 0.3, 0.4])
    want = _unit(np.einsum("t,tcd->cd", w, z)).T
    np.testing.assert_allclose(np.asarray(zeroshot.ensemble(z, w * 5)), want, rtol=1e-5)


def test_zpe_weights_match_numpy_and_cancel_generic_bias():
    rng = np.random.default_rng(1)
    z = _unit(rng.normal(size=(3, 4, 6)))
    test, ref = _unit(rng.normal(size=(10, 6))), _unit(rng.normal(size=(7, 6)))
    s = [np.mean(np.max(100 * test @ z[t].T, 1)) - np.mean(np.max(100 * ref @ z[t].T, 1))
         for t in range(3)]
    want = np.exp(np.array(s) - max(s)) / np.sum(np.exp(np.array(s) - max(s)))
    got = zeroshot.zpe_weights(test, z, ref)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-6)
    # identical test and reference sets: every score is 0, weights are uniform
    same = zeroshot.zpe_weights(test, z, test)
    np.testing.assert_allclose(np.asarray(same), np.full(3, 1 / 3), rtol=1e-5)


@pytest.fixture(scope="module")
def tiny():
    words = ["a", "photo", "of", "the", "red", "blue", "circle", "square", "."]
    tok = WordTokenizer(words, context_length=12)
    model = jclip.create_model("tiny-clip", vocab_size=tok.vocab_size,
                               eos_token_id=tok.vocab_size - 1, context_length=12)
    images = jnp.zeros((1, 32, 32, 3))
    init = jax.jit(model.init)
    params = init(jax.random.key(0), images, jnp.asarray(tok(["a photo"])))["params"]
    return tok, model, params


def test_build_classifier_equals_direct_prompt_ensembling(tiny):
    tok, model, params = tiny
    classes = ["red circle", "blue square", "circle"]
    templates = ["a photo of the {}.", "the {}", "a {}."]
    got = zeroshot.build_classifier(model, params, tok, classes, templates, batch_size=4)
    ids = jnp.asarray(tok([t.format(c) for c in classes for t in templates]))
    encode = jax.jit(lambda p, t: model.apply({"params": p}, t, method="encode_text"))
    z = _unit(np.asarray(encode(params, ids), np.float64)).reshape(3, 3, -1)
    want = _unit(z.mean(1)).T  # per class: mean over its templates, re-normalised
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    logits = zeroshot.classify(want.T[:1] * 3.0, got)  # any norm: normalised inside
    assert int(jnp.argmax(logits)) == 0


def test_encode_images_batches_arrays_and_masked_dicts(tiny):
    _, model, params = tiny
    images = np.random.default_rng(2).normal(size=(5, 32, 32, 3)).astype(np.float32)
    got = zeroshot.encode_images(model, params, images, batch_size=2, normalize=False)
    assert got.shape == (5, model.config.embed_dim)
    # the padded last batch gives the same rows as unpadded batches of the same size
    pairs = zeroshot.encode_images(model, params, images[:4], batch_size=2, normalize=False)
    np.testing.assert_allclose(np.asarray(got[:4]), np.asarray(pairs), atol=1e-5)
    batches = [{"image": images[:2], "mask": np.array([1, 0], bool)}, {"image": images[2:4]}]
    masked = zeroshot.encode_images(model, params, batches)
    np.testing.assert_allclose(np.asarray(masked), _unit(np.asarray(got)[[0, 2, 3]]), atol=1e-5)
    single = zeroshot.encode_images(model, params, images[4:] , batch_size=2, normalize=False)
    np.testing.assert_allclose(np.asarray(single), np.asarray(got[4:]), atol=1e-4)
