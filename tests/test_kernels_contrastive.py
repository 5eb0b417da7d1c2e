"""kernels.contrastive_loss: every impl equals jclip.losses.clip_loss and a float64 formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jclip import kernels
from tests.helpers.kernel_cases import CASES, close, pair
from tests.helpers.reference_losses import clip_loss_np


def _value_and_grads(impl, block, x, y, scale):
    f = lambda x, y, s: kernels.contrastive_loss(x, y, s, impl=impl, block_size=block)
    return jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(x, y, scale)


@pytest.mark.parametrize("impl,block,b,d", CASES)
def test_value_and_grads_equal_naive(impl, block, b, d):
    x, y = pair(b, d, seed=b)
    scale = jnp.float32(14.3)
    value, grads = _value_and_grads(impl, block, x, y, scale)
    ref_value, ref_grads = _value_and_grads("naive", None, x, y, scale)
    close(value, ref_value, 1e-5)
    close(value, clip_loss_np(x, y, scale), 1e-5)
    for g, ref in zip(grads, ref_grads):
        assert g.shape == ref.shape and g.dtype == ref.dtype
        close(g, ref, 1e-5)


def test_large_scale_and_unnormalised_inputs_stay_finite():
    # Logits up to +-400: the online log-sum-exp must not overflow. fp32 rounding of such
    # logits (400 * 6e-8) alone moves the softmax weights by ~2e-5 (naive included).
    x, y = pair(45, 9, seed=3)
    x = 2.0 * x
    value, grads = _value_and_grads("xla", 8, x, y, jnp.float32(200.0))
    assert np.isfinite(value) and all(np.isfinite(g).all() for g in grads)
    close(value, clip_loss_np(x, y, 200.0), 1e-5)
    ref_value, ref_grads = _value_and_grads("naive", None, x, y, jnp.float32(200.0))
    for g, ref in zip(grads, ref_grads):
        close(g, ref, 1e-4)


@pytest.mark.parametrize("impl,block", [("xla", 16), ("pallas", 16)])
def test_bfloat16_inputs_accumulate_in_float32(impl, block):
    x, y = pair(37, 12, seed=5, dtype=jnp.bfloat16)
    value, grads = _value_and_grads(impl, block, x, y, jnp.float32(10.0))
    ref_value, ref_grads = _value_and_grads("naive", None, x, y, jnp.float32(10.0))
    assert value.dtype == jnp.float32
    close(value, ref_value, 1e-5)
    close(value, clip_loss_np(x, y, 10.0), 1e-5)
    for g, ref in zip(grads, ref_grads):
        assert g.dtype == ref.dtype
        # The backward casts each tile of softmax weights to bf16 for the matmul.
        close(g, ref, 2e-2)


@pytest.mark.parametrize("impl,block", [("xla", 4), ("pallas", 8)])
def test_check_grads_float64(impl, block):
    with jax.enable_x64(True):
        x, y = pair(11, 5, seed=7, dtype=jnp.float64)
        f = lambda x, y, s: kernels.contrastive_loss(x, y, s, impl=impl, block_size=block)
        check_grads(f, (x, y, jnp.float64(3.0)), order=1, modes=("rev",), eps=1e-5)


def test_auto_is_xla_on_cpu_and_jit_with_traced_scale():
    x, y = pair(20, 6)
    f = jax.jit(lambda x, y, log_s: kernels.contrastive_loss(x, y, jnp.exp(log_s)))
    close(f(x, y, jnp.log(7.0)), clip_loss_np(x, y, 7.0), 1e-5)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(impl="cuda"), ValueError, "impl must be one of"),
        (dict(block_size=0), ValueError, "block_size must be >= 1"),
        (dict(block_size=2.5), TypeError, "block_size must be an int"),
        (dict(impl="pallas", block_size=24), ValueError, "power of two"),
    ],
)
def test_bad_options(kwargs, error, match):
    x, y = pair(4, 3)
    with pytest.raises(error, match=match):
        kernels.contrastive_loss(x, y, 1.0, **kwargs)


def test_bad_inputs():
    x, y = pair(4, 3)
    with pytest.raises(ValueError, match="same shape"):
        kernels.contrastive_loss(x, y[:3], 1.0)
    with pytest.raises(ValueError, match="rank 2"):
        kernels.contrastive_loss(x[0], y[0], 1.0)
    with pytest.raises(TypeError, match="floating point"):
        kernels.contrastive_loss(x.astype(jnp.int32), y.astype(jnp.int32), 1.0)
    with pytest.raises(ValueError, match="scale must be > 0"):
        kernels.contrastive_loss(x, y, -1.0)
    with pytest.raises(ValueError, match="scale must be a scalar"):
        kernels.contrastive_loss(x, y, jnp.ones(2))
