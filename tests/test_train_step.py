"""The loss chosen by the config: values against a float64 reference, every loss name, the
counting term, the kernel path and clear errors."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from scipy.special import logsumexp

import jclip
from jclip.train import state
from jclip.train import step as step_lib

SMALL = dict(vocab_size=64, eos_token_id=63, context_length=8, embed_dim=32, vision_width=32,
             vision_layers=1, vision_heads=2, vision_mlp_dim=64, text_width=32, text_layers=1,
             text_heads=2, text_mlp_dim=64)
CLIP = jclip.get_config("tiny-clip", **SMALL)
SIGLIP = jclip.get_config("tiny-siglip", pad_token_id=0, **SMALL)
RNG = jax.random.PRNGKey(0)


def _loss_config(name, **kw):
    return ml_collections.ConfigDict({"name": name, "impl": "xla", "label_smoothing": 0.0,
                                      "counting_weight": 0.0, "inv_tau": 0.0,
                                      "hopfield_beta": 14.3, "cwcl_reference": "text", **kw})


def _tokens(rng, n):
    tokens = rng.integers(1, 62, (n, 8)).astype(np.int32)
    tokens[:, 6] = 63
    return tokens


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(8, 32, 32, 3)).astype(np.float32),
             "tokens": _tokens(rng, 8), "tokens_counterfactual": _tokens(rng, 8)}
    out = {}
    for config in (CLIP, SIGLIP):
        model = jclip.create_model(config)
        init = jax.jit(lambda rng, model=model: state.init_params(model, rng))
        out[config.kind] = (model, init(jax.random.PRNGKey(0)))
    return out, batch


def _embeddings(model, params, batch):
    zi = np.asarray(model.apply({"params": params}, batch["image"], method="encode_image"),
                    np.float64)
    zt = np.asarray(model.apply({"params": params}, batch["tokens"], method="encode_text"),
                    np.float64)
    return (zi / np.linalg.norm(zi, axis=1, keepdims=True),
            zt / np.linalg.norm(zt, axis=1, keepdims=True))


def test_clip_loss_matches_float64_infonce(setup):
    models, batch = setup
    model, params = models["clip"]
    loss, aux = jax.jit(step_lib.make_loss_fn(_loss_config("clip"), model))(params, batch, RNG)
    zi, zt = _embeddings(model, params, batch)
    logits = np.exp(float(params["logit_scale"])) * zi @ zt.T
    idx = np.arange(len(zi))
    ce_i = np.mean(logsumexp(logits, axis=1) - logits[idx, idx])
    ce_t = np.mean(logsumexp(logits, axis=0) - logits[idx, idx])
    assert float(loss) == pytest.approx((ce_i + ce_t) / 2, rel=1e-4)
    assert float(aux["contrastive_loss"]) == pytest.approx(float(loss))


def test_siglip_loss_matches_float64_reference(setup):
    models, batch = setup
    model, params = models["siglip"]
    loss, _ = jax.jit(step_lib.make_loss_fn(_loss_config("siglip"), model))(params, batch, RNG)
    zi, zt = _embeddings(model, params, batch)
    z = np.exp(float(params["logit_scale"])) * zi @ zt.T + float(params["logit_bias"])
    sign = 2 * np.eye(len(zi)) - 1
    expected = np.sum(np.logaddexp(0, -sign * z)) / len(zi)  # -sum log sigmoid(s z) / B
    assert float(loss) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("name, extra", [
    ("cloob", {"inv_tau": 30.0, "hopfield_beta": 8.0}),
    ("cwcl", {}),
    ("clip", {"counting_weight": 1.0}),
    ("clip", {"impl": "kernel"}),
])
def test_every_loss_gives_finite_values_and_gradients(setup, name, extra):
    models, batch = setup
    model, params = models["clip"]
    loss_fn = step_lib.make_loss_fn(_loss_config(name, **extra), model)
    (loss, aux), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params, batch, RNG)
    assert np.isfinite(float(loss))
    norms = [float(jnp.abs(g).max()) for g in jax.tree.leaves(grads["vision"])]
    assert all(np.isfinite(norms)) and max(norms) > 0
    if extra.get("counting_weight"):
        assert float(loss) == pytest.approx(
            float(aux["contrastive_loss"]) + float(aux["counting_loss"]), rel=1e-6)
    if extra.get("impl") == "kernel":
        reference_fn = jax.jit(step_lib.make_loss_fn(_loss_config("clip"), model))
        reference, _ = reference_fn(params, batch, RNG)
        assert float(loss) == pytest.approx(float(reference), rel=1e-5)


def test_bad_loss_configs_raise(setup):
    models, batch = setup
    model, params = models["clip"]
    with pytest.raises(ValueError, match="Unknown loss 'infonce'"):
        step_lib.make_loss_fn(_loss_config("infonce"), model)
    with pytest.raises(ValueError, match="impl='kernel' exists for clip and siglip"):
        step_lib.make_loss_fn(_loss_config("cloob", impl="kernel"), model)
    with pytest.raises(ValueError, match=r"needs a model with a logit_bias.*tiny-siglip"):
        step_lib.make_loss_fn(_loss_config("siglip"), model)  # checked in the factory
    del batch["tokens_counterfactual"]
    with pytest.raises(ValueError, match="counterfactual captions"):
        step_lib.make_loss_fn(_loss_config("clip", counting_weight=1.0), model)(params, batch, RNG)


def test_the_table_takes_a_new_entry_and_threads_the_step_rng(setup, monkeypatch):
    """Adding a loss is adding an entry; its head gets the step's key, split from the state's."""
    models, batch = setup
    model, params = models["clip"]
    seen = []

    def noisy(config, model):
        def head(p, e, rng, axis_name):
            seen.append(rng)
            return jnp.mean(e["image"] * e["text"]) + 0.0 * jax.random.uniform(rng)
        return head

    monkeypatch.setitem(step_lib.LOSSES, "noisy", noisy)
    objective = step_lib.make_objective(_loss_config("noisy"), model)
    tx = optax.sgd(0.1)
    train_state = {"step": jnp.zeros((), jnp.int32), "params": params,
                   "opt_state": tx.init(params), "rng": jax.random.PRNGKey(7)}
    train_step = step_lib.make_train_step(objective, tx, optax.constant_schedule(0.1))
    new_state, metrics = train_step(train_state, batch)
    next_rng, step_rng = jax.random.split(jax.random.PRNGKey(7))
    np.testing.assert_array_equal(np.asarray(new_state["rng"]), np.asarray(next_rng))
    _, head_rng = jax.random.split(step_rng)  # loss_fn: (encoder key, head key)
    np.testing.assert_array_equal(np.asarray(seen[-1]), np.asarray(head_rng))
    assert np.isfinite(float(metrics["loss"]))
