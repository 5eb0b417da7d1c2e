"""Single-device tests of jclip.losses against the float64 numpy references."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jclip import losses
from tests.helpers.reference_losses import (
    clip_loss_np,
    cloob_loss_np,
    counting_loss_np,
    cwcl_loss_np,
    distill_loss_np,
    hopfield_retrieval_np,
    siglip_loss_np,
)


def unit_rows(rng, b, d):
    z = rng.normal(size=(b, d))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


# Each case: (jax loss of (arrays..., scalars...), numpy reference, array shapes fn, scalars).
def _cases():
    return {
        "clip": (
            lambda x, y, s: losses.clip_loss(x, y, s),
            lambda x, y, s: clip_loss_np(x, y, s),
        ),
        "clip_smoothed": (
            lambda x, y, s: losses.clip_loss(x, y, s, label_smoothing=0.1),
            lambda x, y, s: clip_loss_np(x, y, s, label_smoothing=0.1),
        ),
        "siglip": (
            lambda x, y, s, bias: losses.siglip_loss(x, y, s, bias),
            siglip_loss_np,
        ),
        "cloob": (
            lambda x, y, s, beta: losses.cloob_loss(x, y, s, hopfield_beta=beta),
            cloob_loss_np,
        ),
        "cwcl": (
            lambda x, y, r, s: losses.cwcl_loss(x, y, s, r),
            lambda x, y, r, s: cwcl_loss_np(x, y, s, r),
        ),
        "counting": (
            lambda x, y, cf, s: losses.counting_loss(x, y, cf, s),
            counting_loss_np,
        ),
    }


def _inputs(name, rng, b, d, scale, bias):
    x, y = unit_rows(rng, b, d), unit_rows(rng, b, d)
    if name == "siglip":
        return (x, y), (scale, bias)
    if name == "cloob":
        return (x, y), (scale, 8.0)
    if name == "cwcl":
        return (x, y, unit_rows(rng, b, d + 3)), (scale,)
    if name == "counting":
        return (x, y, unit_rows(rng, b, d)), (scale,)
    return (x, y), (scale,)


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(
    "b, d, scale, bias", [(1, 3, 1.0, 0.0), (5, 7, 14.3, -10.0), (12, 4, 100.0, 10.0)]
)
def test_matches_float64_reference(name, b, d, scale, bias):
    if name == "cloob" and b == 1:
        pytest.skip("cloob needs two examples: its B=1 error is tested in test_bad_input")
    fn, fn_np = CASES[name]
    arrays, scalars = _inputs(name, np.random.default_rng(b * 31 + d), b, d, scale, bias)
    expected = fn_np(*arrays, *scalars)
    with jax.enable_x64(True):
        got64 = float(jax.jit(fn)(*arrays, *scalars))
    got32 = float(jax.jit(fn)(*[a.astype(np.float32) for a in arrays], *scalars))
    np.testing.assert_allclose(got64, expected, rtol=1e-12, atol=1e-12)
    # fp32: logits carry ~1e-7 relative error times the scale.
    np.testing.assert_allclose(got32, expected, rtol=1e-5, atol=2e-6 * scale)


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_grads_including_scalars(name):
    fn, _ = CASES[name]
    arrays, scalars = _inputs(name, np.random.default_rng(7), 4, 3, 5.0, -2.0)
    if name == "cwcl":  # zref is a target (stop-gradient): check the other arguments.
        zref = arrays[2]
        fn = functools.partial(lambda f, r, x, y, s: f(x, y, r, s), fn, zref)
        arrays = arrays[:2]
    with jax.enable_x64(True):
        args = tuple(jnp.asarray(a) for a in arrays) + tuple(jnp.float64(s) for s in scalars)
        check_grads(jax.jit(fn), args, order=1, modes=("rev",), atol=1e-6, rtol=1e-6)


def test_distill_matches_reference_and_grads():
    rng = np.random.default_rng(3)
    fn = jax.jit(lambda s, t, temp: losses.distill_loss(s, t, temperature=temp))
    for m, n, t in [(1, 1, 1.0), (4, 6, 2.0), (7, 3, 0.5)]:
        s, tl = 10 * rng.normal(size=(m, n)), 10 * rng.normal(size=(m, n))
        with jax.enable_x64(True):
            got = float(fn(s, tl, t))
            check_grads(
                functools.partial(lambda tl, s, temp: fn(s, tl, temp), tl),
                (jnp.asarray(s), jnp.float64(t)),
                order=1,
                modes=("rev",),
                atol=1e-6,
                rtol=1e-6,
            )
        np.testing.assert_allclose(got, distill_loss_np(s, tl, t), rtol=1e-12)


def test_hopfield_retrieval_matches_reference():
    rng = np.random.default_rng(11)
    state, stored = unit_rows(rng, 3, 5), unit_rows(rng, 7, 5)
    got = jax.jit(losses.hopfield_retrieval)(state, stored, 8.0)
    np.testing.assert_allclose(got, hopfield_retrieval_np(state, stored, 8.0), atol=1e-6)
    with pytest.raises(ValueError, match="embedding widths differ"):
        losses.hopfield_retrieval(state, stored[:, :4], 8.0)


def test_targets_receive_no_gradient():
    rng = np.random.default_rng(4)
    x, y, r = unit_rows(rng, 4, 3), unit_rows(rng, 4, 3), unit_rows(rng, 4, 5)
    g = jax.jit(jax.grad(lambda r: losses.cwcl_loss(x, y, 3.0, r)))(r)
    assert not np.any(g)
    s, t = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    g = jax.jit(jax.grad(lambda t: losses.distill_loss(s, t)))(t)
    assert not np.any(g)


def test_cwcl_with_one_hot_weights_is_clip():
    # B = 2 with antipodal reference embeddings gives w = identity, i.e. CLIP's targets.
    rng = np.random.default_rng(5)
    x, y = unit_rows(rng, 2, 4), unit_rows(rng, 2, 4)
    zref = np.array([[1.0, 0.0], [-1.0, 0.0]])
    both = jax.jit(lambda x, y: (losses.cwcl_loss(x, y, 9.0, zref), losses.clip_loss(x, y, 9.0)))
    np.testing.assert_allclose(*both(x, y), rtol=1e-6)


def test_counting_equals_two_way_softmax():
    rng = np.random.default_rng(6)
    x, y, cf = unit_rows(rng, 5, 4), unit_rows(rng, 5, 4), unit_rows(rng, 5, 4)
    logits = 20.0 * np.stack([np.sum(x * y, 1), np.sum(x * cf, 1)], axis=1)
    expected = -np.mean(jax.nn.log_softmax(logits, axis=1)[:, 0])
    got = jax.jit(losses.counting_loss)(x, y, cf, 20.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_traced_scale_under_jit():
    rng = np.random.default_rng(8)
    x, y = unit_rows(rng, 6, 4), unit_rows(rng, 6, 4)
    f = jax.jit(lambda log_s, b: losses.siglip_loss(x, y, jnp.exp(log_s), b))
    np.testing.assert_allclose(f(jnp.log(10.0), -10.0), siglip_loss_np(x, y, 10, -10), 1e-5)
    g = jax.jit(jax.grad(lambda log_s: losses.clip_loss(x, y, jnp.exp(log_s))))(jnp.log(10.0))
    assert np.isfinite(g)


# ---------------------------------------------------------------------------------------------
# Numerical stability.


def _all_losses(x, y, scale):
    """Every loss on the same embeddings (extra inputs derived from them)."""
    cf = jnp.roll(y, 1, axis=0)
    logits = scale * x.astype(jnp.float32) @ y.astype(jnp.float32).T
    out = {
        "clip": losses.clip_loss(x, y, scale),
        "clip_local": losses.clip_loss(x, y, scale, strategy="local", label_smoothing=0.1),
        "siglip": losses.siglip_loss(x, y, scale, -10.0),
        "cwcl": losses.cwcl_loss(x, y, scale, x),
        "counting": losses.counting_loss(x, y, cf, scale),
        "distill": losses.distill_loss(logits, 2 * logits),
    }
    if x.shape[0] > 1:
        out["cloob"] = losses.cloob_loss(x, y, scale, hopfield_beta=scale)
    return out


@pytest.mark.parametrize("b", [1, 16])
def test_near_duplicates_at_scale_100_are_finite(b):
    rng = np.random.default_rng(9)
    base = unit_rows(rng, 1, 8)
    x = base + 1e-4 * rng.normal(size=(b, 8))
    y = base + 1e-4 * rng.normal(size=(b, 8))
    x = jnp.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), jnp.float32)
    y = jnp.asarray(y / np.linalg.norm(y, axis=1, keepdims=True), jnp.float32)

    def total(x, y, scale):
        return sum(_all_losses(x, y, scale).values())

    values = jax.jit(_all_losses)(x, y, 100.0)
    grads = jax.jit(jax.grad(total, argnums=(0, 1, 2)))(x, y, jnp.float32(100.0))
    for name, v in values.items():
        assert np.isfinite(v), name
    for g in grads:
        assert np.all(np.isfinite(g))
    # Near-duplicates: all logits ~equal, so CLIP's loss is ~log B.
    np.testing.assert_allclose(values["clip"], np.log(b), atol=0.05)


def test_bf16_inputs_accumulate_in_float32():
    rng = np.random.default_rng(10)
    x = jnp.asarray(unit_rows(rng, 32, 64), jnp.bfloat16)
    y = jnp.asarray(unit_rows(rng, 32, 64), jnp.bfloat16)
    got = jax.jit(_all_losses)(x, y, 50.0)
    # float64 references on the same (bf16-rounded) values: bf16 accumulation would be off ~1e-2.
    x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
    logits = 50.0 * x64 @ y64.T
    want = {
        "clip": clip_loss_np(x64, y64, 50.0),
        "clip_local": clip_loss_np(x64, y64, 50.0, label_smoothing=0.1),
        "siglip": siglip_loss_np(x64, y64, 50.0, -10.0),
        "cwcl": cwcl_loss_np(x64, y64, 50.0, x64),
        "counting": counting_loss_np(x64, y64, np.roll(y64, 1, axis=0), 50.0),
        "distill": distill_loss_np(logits, 2 * logits),
        "cloob": cloob_loss_np(x64, y64, 50.0, 50.0),
    }
    assert set(got) == set(want)
    for name in got:
        assert got[name].dtype == jnp.float32, name
        np.testing.assert_allclose(got[name], want[name], rtol=2e-5, err_msg=name)
    gx = jax.jit(jax.grad(lambda x: losses.clip_loss(x, y, 50.0)))(x)
    assert gx.dtype == jnp.bfloat16 and np.all(np.isfinite(gx.astype(np.float32)))


# ---------------------------------------------------------------------------------------------
# Bad input: errors at trace time that name the problem.

X = np.eye(4, 3, dtype=np.float32)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: losses.clip_loss(X, X[:3], 1.0), "batch sizes differ"),
        (lambda: losses.clip_loss(X, np.eye(4, 5), 1.0), "embedding widths differ"),
        (lambda: losses.siglip_loss(X[0], X[0], 1.0, 0.0), "rank 2"),
        (lambda: losses.clip_loss(X, X, 0.0), "scale must be > 0"),
        (lambda: losses.siglip_loss(X, X, -1.0, 0.0), "scale must be > 0"),
        (lambda: losses.siglip_loss(X, X, 1.0, np.inf), "bias must be finite"),
        (lambda: losses.clip_loss(X, X, np.ones(2)), "scale must be a scalar"),
        (lambda: losses.cloob_loss(X, X, 1.0, hopfield_beta=0.0), "hopfield_beta must be > 0"),
        (lambda: losses.cloob_loss(X, X, -2.0, hopfield_beta=1.0), "inv_tau must be > 0"),
        (lambda: losses.cloob_loss(X[:1], X[:1], 1.0, hopfield_beta=1.0), "at least 2"),
        (lambda: losses.cwcl_loss(X, X, 1.0, X[:2]), "batch sizes differ"),
        (lambda: losses.counting_loss(X, X, X[:, :2], 1.0), "embedding widths differ"),
        (lambda: losses.distill_loss(X, X[:, :2]), "differ"),
        (lambda: losses.distill_loss(X, X, temperature=0.0), "temperature must be > 0"),
        (lambda: losses.clip_loss(X, X, 1.0, strategy="ring"), "strategy must be one of"),
        (lambda: losses.siglip_loss(X, X, 1.0, 0.0, strategy="local"), "strategy must be one"),
        (lambda: losses.clip_loss(X, X, 1.0, label_smoothing=1.0), "label_smoothing"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_integer_embeddings_raise_type_error():
    with pytest.raises(TypeError, match="floating point"):
        losses.clip_loss(np.eye(3, dtype=np.int32), np.eye(3, dtype=np.int32), 1.0)


def test_shape_errors_raise_at_trace_time():
    with pytest.raises(ValueError, match="batch sizes differ"):
        jax.jit(losses.clip_loss).lower(X, X[:2], 1.0)
