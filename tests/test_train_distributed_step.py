"""The loss under shard_map over (data, fsdp) on 8 CPU devices equals one device: value and
gradients w.r.t. the params (through fsdp-sharded encoders) for every loss and strategy."""

import jax
import numpy as np
import pytest

import jclip
from jclip.train import sharding, state
from jclip.train import step as step_lib
from tests.helpers.sharded_step import CONFIGS, B, jitted_value_and_grad, loss_config, random_tokens


@pytest.fixture(scope="module")
def setup():
    if jax.device_count() < 8:
        pytest.skip("needs 8 devices (tests/conftest.py)")
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(B, 32, 32, 3)).astype(np.float32),
             "tokens": random_tokens(rng, B), "tokens_counterfactual": random_tokens(rng, B)}
    models = {}
    for kind, config in CONFIGS.items():
        model = jclip.create_model(config)
        params = jax.jit(lambda r, m=model: state.init_params(m, r))(jax.random.PRNGKey(1))
        models[kind] = (model, params)
    return models, batch


def _close(a, b, tol=1e-5):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert np.max(np.abs(a - b)) <= tol * max(np.max(np.abs(b)), 1e-3)


# model kind -> loss configs; each is checked on a (data, fsdp) = (4, 2) and a (2, 4) mesh.
CASES = {
    "clip": [("clip", {"strategy": "all_gather", "label_smoothing": 0.1}),
             ("clip", {"strategy": "local"}), ("clip", {"impl": "kernel"}),
             ("cwcl", {"counting_weight": 0.5}), ("cloob", {"inv_tau": 14.3}),
             ("cloob", {"inv_tau": 0.0})],  # fixed and learned inverse temperature
    "siglip": [("siglip", {"strategy": "all_gather"}), ("siglip", {"strategy": "ring"}),
               ("siglip", {"impl": "kernel"})],
}


@pytest.mark.parametrize("kind,shape", [("clip", (4, 2)), ("siglip", (2, 4))])
def test_sharded_loss_equals_one_device(setup, kind, shape):
    models, batch = setup
    model, params = models[kind]
    configs = [loss_config(name, **extra) for name, extra in CASES[kind]]
    refs = jitted_value_and_grad([step_lib.make_loss_fn(c, model) for c in configs], params, batch)
    mesh = sharding.make_mesh(*shape)
    outs = jitted_value_and_grad([step_lib.make_loss_fn(c, model, mesh=mesh) for c in configs],
                                 params, batch, mesh)
    for config, ((ref, ref_aux), ref_grads), ((loss, aux), grads) in zip(configs, refs, outs):
        where = f"{config.name} {dict(config)}"
        _close(loss, ref)
        for key in ref_aux:
            _close(aux[key], ref_aux[key])
        flat_ref, flat = jax.tree.leaves(ref_grads), jax.tree.leaves(grads)
        assert len(flat) == len(flat_ref)
        # Every leaf within 1e-5 of the gradient's scale (some leaves are ~0 up to float noise);
        # a gradient N times too large (gathered copies summed) would fail by far.
        scale = max(float(np.max(np.abs(r))) for r in flat_ref)
        assert scale > 0
        for g, r in zip(flat, flat_ref):
            err = float(np.max(np.abs(np.asarray(g, np.float64) - r)))
            assert err <= 1e-5 * scale, (where, err, scale)


def test_strategy_errors_name_the_choices(setup):
    models, _ = setup
    model, _ = models["clip"]
    with pytest.raises(ValueError, match=r"strategy='ring' does not exist for clip.*local"):
        step_lib.make_loss_fn(loss_config("clip", strategy="ring"), model)
    with pytest.raises(ValueError, match="does not exist for cwcl"):
        step_lib.make_loss_fn(loss_config("cwcl", strategy="local"), model)
