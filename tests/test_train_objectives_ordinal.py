"""NumCLIP's coarse stage in the trainer's loss table: the value equals the head's FCRC CE + KL
on the towers' embeddings, and under shard_map on 8 CPU devices value and gradients equal one
device."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import jclip
from jclip.heads import numclip
from jclip.ops import l2_normalize
from jclip.train import sharding, state
from jclip.train import step as step_lib

SMALL = dict(vocab_size=64, eos_token_id=63, context_length=8, embed_dim=32, vision_width=32,
             vision_layers=1, vision_heads=2, vision_mlp_dim=64, text_width=32, text_layers=1,
             text_heads=2, text_mlp_dim=64)
B = 16


def _config(**kw):
    bins = np.array([[5, 6, 7, 63, 0, 0], [5, 6, 8, 63, 0, 0], [5, 6, 9, 63, 0, 0]])
    return ml_collections.ConfigDict({"name": "numclip", "impl": "xla",
                                      "numclip_bin_tokens": bins.tolist(),
                                      "numclip_label_bins": (0, 0, 1, 2, 2), **kw})


@pytest.fixture(scope="module")
def setup():
    model = jclip.create_model(jclip.get_config("tiny-clip", **SMALL))
    params = jax.jit(lambda r: state.init_params(model, r))(jax.random.PRNGKey(1))
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(B, 32, 32, 3)).astype(np.float32),
             "tokens": np.full((B, 8), 63, np.int32),
             "label": rng.integers(0, 5, B).astype(np.int32)}
    return model, params, batch


def test_value_is_the_fcrc_coarse_loss(setup):
    model, params, batch = setup
    loss_fn = step_lib.make_loss_fn(_config(), model)
    loss, aux = jax.jit(loss_fn)(params, batch, jax.random.PRNGKey(0))
    v = {"params": params}
    img = l2_normalize(model.apply(v, batch["image"], method="encode_image"))
    txt = l2_normalize(model.apply(v, jnp.asarray(_config().numclip_bin_tokens),
                                   method="encode_text"))
    logits = jnp.exp(params["logit_scale"]) * img @ txt.T
    bins = jnp.asarray([0, 0, 1, 2, 2])[batch["label"]]
    ce, kl = numclip.coarse_loss(logits, bins, 3)
    np.testing.assert_allclose(loss, ce + kl, rtol=1e-5)
    np.testing.assert_allclose(aux["numclip_kl"], kl, rtol=1e-5)


def test_sharded_equals_one_device(setup):
    if jax.device_count() < 8:
        pytest.skip("needs 8 devices (tests/conftest.py)")
    model, params, batch = setup
    config = _config()
    fn = lambda f: jax.value_and_grad(f, has_aux=True)
    (ref, _), ref_grads = jax.jit(fn(step_lib.make_loss_fn(config, model)))(
        params, batch, jax.random.PRNGKey(3))
    mesh = sharding.make_mesh(4, 2)
    shardings = sharding.fsdp_shardings(params, mesh, min_size=256)
    (loss, _), grads = jax.jit(fn(step_lib.make_loss_fn(config, model, mesh=mesh)),
                               in_shardings=(shardings, sharding.batch_sharding(mesh), None))(
        jax.device_put(params, shardings), sharding.global_batch(batch, mesh),
        jax.random.PRNGKey(3))
    np.testing.assert_allclose(loss, ref, rtol=1e-5)
    flat, flat_ref = jax.tree.leaves(grads), jax.tree.leaves(ref_grads)
    scale = max(float(np.max(np.abs(r))) for r in flat_ref)
    assert scale > 0
    for g, r in zip(flat, flat_ref):
        assert float(np.max(np.abs(np.asarray(g) - np.asarray(r)))) <= 1e-5 * scale


def test_bad_numclip_configs(setup):
    model, _, _ = setup
    with pytest.raises(ValueError, match="needs loss.numclip_bin_tokens"):
        step_lib.make_loss_fn(_config(numclip_bin_tokens=()), model)
    with pytest.raises(ValueError, match="non-decreasing"):
        step_lib.make_loss_fn(_config(numclip_label_bins=(0, 2, 1)), model)
