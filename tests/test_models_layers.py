"""Tests of jclip.models.layers: float32-accumulating dense layers and single-row last blocks."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from jclip.models import layers


def _bf16(x):
    return np.asarray(x, np.float32).astype(ml_dtypes.bfloat16)


def test_dense_bfloat16_is_rounded_float32_accumulation():
    """bf16 inputs, float32 accumulation, one rounding to bf16: checked against float64."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3, 96)).astype(np.float32)
    module = layers.dense(40, jnp.bfloat16, "fc")
    params = module.init(jax.random.key(0), x)
    params = jax.tree.map(lambda p: p + 0.1 * rng.normal(size=p.shape).astype(np.float32), params)
    out = jax.jit(module.apply)(params, x)
    assert out.dtype == jnp.bfloat16 and out.shape == (5, 3, 40)
    w, b = params["params"]["kernel"], params["params"]["bias"]
    xs, ws, bs = (np.asarray(_bf16(a), np.float64) for a in (x, w, b))
    matmul = _bf16(xs @ ws).astype(np.float64)  # the dot is rounded to bf16, then the bias added
    want = np.asarray(_bf16(matmul + bs), np.float64)
    got = np.asarray(out, np.float64)
    # at most one bf16 ulp apart (float32 vs float64 accumulation can flip a rounding)
    ulp = np.abs(want) * 2.0**-7 + 1e-30
    assert np.all(np.abs(got - want) <= ulp)
    # and far closer than a bf16-accumulated matmul would be on average
    assert np.mean(np.abs(got - want)) < 0.05 * np.mean(ulp)


def test_dense_float32_is_plain_dense():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 24)).astype(np.float32)
    ours = layers.dense(8, jnp.float32, "fc")
    plain = nn.Dense(8, name="fc")
    params = plain.init(jax.random.key(0), x)
    np.testing.assert_array_equal(ours.apply(params, x), plain.apply(params, x))


@pytest.mark.parametrize("causal", [False, True])
def test_encoder_rows_equal_full_output_at_those_rows(causal):
    """Computing only one row in the last block gives that row of the full computation."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 9, 16)).astype(np.float32)
    rows = np.array([0, 8, 3, 5], np.int32)
    encoder = layers.Encoder(num_layers=2, num_heads=2, mlp_dim=32, act="gelu", eps=1e-5,
                             causal=causal)
    params = encoder.init(jax.random.key(0), x)
    full = np.asarray(encoder.apply(params, x))
    picked = np.asarray(jax.jit(encoder.apply)(params, x, rows))
    assert picked.shape == (4, 16)
    np.testing.assert_allclose(picked, full[np.arange(4), rows], rtol=1e-5, atol=1e-5)
    if causal:  # a row never sees later positions: changing them leaves it unchanged
        later = x.copy()
        later[:, 6:] = rng.normal(size=later[:, 6:].shape)
        again = np.asarray(encoder.apply(params, later, rows))
        early = rows < 6
        np.testing.assert_allclose(again[early], picked[early], rtol=1e-5, atol=1e-5)
        assert not np.allclose(again[~early], picked[~early])


def test_encoder_rows_gradients_match_full_computation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 6, 16)).astype(np.float32)
    rows = np.array([0, 2, 5], np.int32)
    encoder = layers.Encoder(num_layers=2, num_heads=2, mlp_dim=32, act="quick_gelu", eps=1e-5,
                             causal=True)
    params = encoder.init(jax.random.key(1), x)
    full = lambda p: jnp.sum(jnp.sin(encoder.apply(p, x)[jnp.arange(3), rows]))
    pruned = lambda p: jnp.sum(jnp.sin(encoder.apply(p, x, rows)))
    g_full, g_pruned = jax.grad(full)(params), jax.grad(pruned)(params)
    for a, b in zip(jax.tree.leaves(g_full), jax.tree.leaves(g_pruned), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
