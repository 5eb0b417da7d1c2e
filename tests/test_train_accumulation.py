"""Gradient caching (Gao et al., 2021): accum_steps > 1 gives the loss and gradients of the
full batch, whole-batch negatives included, on one device and on a mesh."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

import jclip
from jclip.train import sharding, state
from jclip.train import step as step_lib

SMALL = dict(vocab_size=64, eos_token_id=63, context_length=8, embed_dim=32, vision_width=32,
             vision_layers=1, vision_heads=2, vision_mlp_dim=64, text_width=32, text_layers=1,
             text_heads=2, text_mlp_dim=64)
CONFIGS = {"clip": jclip.get_config("tiny-clip", **SMALL),
           "siglip": jclip.get_config("tiny-siglip", pad_token_id=0, **SMALL)}
B = 16


def _loss_config(name, **kw):
    return ml_collections.ConfigDict({"name": name, "impl": "xla", "counting_weight": 0.0, **kw})


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 62, (2, B, 8)).astype(np.int32)
    tokens[:, :, 6] = 63
    batch = {"image": rng.normal(size=(B, 32, 32, 3)).astype(np.float32),
             "tokens": tokens[0], "tokens_counterfactual": tokens[1]}
    models = {}
    for kind, config in CONFIGS.items():
        model = jclip.create_model(config)
        params = jax.jit(lambda r, m=model: state.init_params(m, r))(jax.random.PRNGKey(2))
        models[kind] = (model, params)
    return models, batch


def _assert_same(out, ref):
    (loss, aux), grads = out
    (ref_loss, ref_aux), ref_grads = ref
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-5)
    for key in ref_aux:
        assert float(aux[key]) == pytest.approx(float(ref_aux[key]), rel=1e-5)
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(ref_grads))
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads)):
        assert float(jnp.max(jnp.abs(g - r))) <= 1e-5 * scale


@pytest.mark.parametrize("name,extra", [("clip", {"counting_weight": 0.5}), ("siglip", {})])
def test_cached_gradients_equal_the_full_batch(setup, name, extra):
    models, batch = setup
    model, params = models[name]
    objective = step_lib.make_objective(_loss_config(name, **extra), model)
    rng = jax.random.PRNGKey(5)

    def both(params, batch, rng):
        full = jax.value_and_grad(objective.loss_fn, has_aux=True)(params, batch, rng)
        return full, step_lib.cached_value_and_grad(objective, params, batch, rng, 4)

    ref, out = jax.jit(both)(params, batch, rng)
    _assert_same(out, ref)
    # Per-microbatch negatives (the old accumulation) give a different, smaller-batch loss.
    micro = jax.tree.map(lambda x: x[::4], batch)
    small, _ = jax.jit(objective.loss_fn)(params, micro, rng)
    assert abs(float(small) - float(ref[0][0])) > 1e-3


def test_cached_gradients_on_a_mesh_and_the_train_step(setup):
    models, batch = setup
    model, params = models["clip"]
    mesh = sharding.make_mesh(2, 1, devices=jax.devices()[:2])
    objective = step_lib.make_objective(_loss_config("clip", strategy="local"), model,
                                        mesh=mesh)
    tx = optax.sgd(0.5)
    results = []
    for accum in (1, 2):
        train_state, shardings = state.create_train_state(
            functools.partial(state.init_params, model), tx, mesh, jax.random.PRNGKey(2),
            min_shard_size=256)
        step_fn = step_lib.jit_train_step(
            step_lib.make_train_step(objective, tx, optax.constant_schedule(0.5),
                                     accum_steps=accum), shardings, mesh)
        results.append(step_fn(train_state, sharding.global_batch(batch, mesh)))
    (full, m_full), (acc, m_acc) = results
    assert float(m_acc["loss"]) == pytest.approx(float(m_full["loss"]), rel=1e-5)
    assert float(m_acc["grad_norm"]) == pytest.approx(float(m_full["grad_norm"]), rel=1e-5)
    for a, f in zip(jax.tree.leaves(acc["params"]), jax.tree.leaves(full["params"])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(f), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(acc["rng"]), np.asarray(full["rng"]))


def test_microbatches_must_split_every_device_evenly(setup):
    models, batch = setup
    model, params = models["clip"]
    objective = step_lib.make_objective(_loss_config("clip"), model)
    with pytest.raises(ValueError, match="not divisible by accum_steps=3"):
        jax.eval_shape(lambda p, b: step_lib.cached_value_and_grad(
            objective, p, b, jax.random.PRNGKey(0), 3), params, batch)
    with pytest.raises(ValueError, match="accum_steps must be >= 1"):
        step_lib.make_train_step(objective, optax.sgd(0.1), optax.constant_schedule(0.1),
                                 accum_steps=0)
