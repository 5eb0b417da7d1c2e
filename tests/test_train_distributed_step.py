"""The loss under shard_map over (data, fsdp) on 8 CPU devices equals one device: value and
gradients w.r.t. the params (through fsdp-sharded encoders) for every loss and strategy."""

import jax
import ml_collections
import numpy as np
import pytest

import jclip
from jclip.train import sharding, state
from jclip.train import step as step_lib

SMALL = dict(vocab_size=64, eos_token_id=63, context_length=8, embed_dim=32, vision_width=32,
             vision_layers=1, vision_heads=2, vision_mlp_dim=64, text_width=32, text_layers=1,
             text_heads=2, text_mlp_dim=64)
CONFIGS = {"clip": jclip.get_config("tiny-clip", **SMALL),
           "siglip": jclip.get_config("tiny-siglip", pad_token_id=0, **SMALL)}
B = 16  # B_local = 2 on 8 devices


def _loss_config(name, **kw):
    return ml_collections.ConfigDict({"name": name, "impl": "xla", "strategy": None,
                                      "label_smoothing": 0.0, "counting_weight": 0.0,
                                      "inv_tau": 0.0, "hopfield_beta": 14.3,
                                      "cwcl_reference": "text", **kw})


def _tokens(rng, n):
    tokens = rng.integers(1, 62, (n, 8)).astype(np.int32)
    tokens[:, 6] = 63
    return tokens


@pytest.fixture(scope="module")
def setup():
    if jax.device_count() < 8:
        pytest.skip("needs 8 devices (tests/conftest.py)")
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(B, 32, 32, 3)).astype(np.float32),
             "tokens": _tokens(rng, B), "tokens_counterfactual": _tokens(rng, B)}
    models = {}
    for kind, config in CONFIGS.items():
        model = jclip.create_model(config)
        params = jax.jit(lambda r, m=model: state.init_params(m, r))(jax.random.PRNGKey(1))
        models[kind] = (model, params)
    return models, batch


def _value_and_grad(loss_fns, params, batch, mesh=None):
    """value_and_grad of several loss_fns in one jitted program (one compilation)."""
    fns = [jax.value_and_grad(f, has_aux=True) for f in loss_fns]
    fn = lambda p, b, r: [f(p, b, r) for f in fns]
    rng = jax.random.PRNGKey(3)
    if mesh is None:
        return jax.jit(fn)(params, batch, rng)
    shardings = sharding.fsdp_shardings(params, mesh, min_size=256)
    params = jax.device_put(params, shardings)
    return jax.jit(fn, in_shardings=(shardings, sharding.batch_sharding(mesh), None))(
        params, sharding.global_batch(batch, mesh), rng)


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
    configs = [_loss_config(name, **extra) for name, extra in CASES[kind]]
    refs = _value_and_grad([step_lib.make_loss_fn(c, model) for c in configs], params, batch)
    mesh = sharding.make_mesh(*shape)
    outs = _value_and_grad([step_lib.make_loss_fn(c, model, mesh=mesh) for c in configs],
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
        step_lib.make_loss_fn(_loss_config("clip", strategy="ring"), model)
    with pytest.raises(ValueError, match="does not exist for cwcl"):
        step_lib.make_loss_fn(_loss_config("cwcl", strategy="local"), model)
