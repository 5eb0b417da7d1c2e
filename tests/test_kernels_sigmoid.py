"""kernels.sigmoid_loss: every impl equals jclip.losses.siglip_loss and a float64 formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jclip import kernels
from tests.helpers.kernel_cases import CASES, close, pair
from tests.helpers.reference_losses import siglip_loss_np


def _value_and_grads(impl, block, x, y, scale, bias):
    f = lambda x, y, s, t: kernels.sigmoid_loss(x, y, s, t, impl=impl, block_size=block)
    return jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2, 3)))(x, y, scale, bias)


@pytest.mark.parametrize("impl,block,b,d", CASES)
def test_value_and_grads_equal_naive(impl, block, b, d):
    x, y = pair(b, d, seed=b)
    scale, bias = jnp.float32(10.0), jnp.float32(-4.0)
    value, grads = _value_and_grads(impl, block, x, y, scale, bias)
    ref_value, ref_grads = _value_and_grads("naive", None, x, y, scale, bias)
    close(value, ref_value, 1e-5)
    close(value, siglip_loss_np(x, y, scale, bias), 1e-5)
    for g, ref in zip(grads, ref_grads):
        assert g.shape == ref.shape and g.dtype == ref.dtype
        close(g, ref, 1e-5)


def test_paper_init_and_extreme_logits():
    # t = 10, b = -10 (the paper's init), and logits up to +-300 (softplus must not overflow).
    x, y = pair(33, 5, seed=2)
    for scale, bias in [(10.0, -10.0), (300.0, 0.0)]:
        value, grads = _value_and_grads("xla", 8, x, y, jnp.float32(scale), jnp.float32(bias))
        assert np.isfinite(value) and all(np.isfinite(g).all() for g in grads)
        close(value, siglip_loss_np(x, y, scale, bias), 1e-5)


@pytest.mark.parametrize("impl,block", [("xla", 16), ("pallas", 16)])
def test_bfloat16_inputs_accumulate_in_float32(impl, block):
    x, y = pair(37, 12, seed=5, dtype=jnp.bfloat16)
    args = (x, y, jnp.float32(10.0), jnp.float32(-3.0))
    value, grads = _value_and_grads(impl, block, *args)
    ref_value, ref_grads = _value_and_grads("naive", None, *args)
    assert value.dtype == jnp.float32
    close(value, ref_value, 1e-5)
    close(value, siglip_loss_np(*args), 1e-5)
    for g, ref in zip(grads, ref_grads):
        assert g.dtype == ref.dtype
        close(g, ref, 2e-2)  # sigmoid tiles are cast to bf16 for the backward matmuls


@pytest.mark.parametrize("impl,block", [("xla", 4), ("pallas", 8)])
def test_check_grads_float64(impl, block):
    with jax.enable_x64(True):
        x, y = pair(11, 5, seed=7, dtype=jnp.float64)
        f = lambda x, y, s, t: kernels.sigmoid_loss(x, y, s, t, impl=impl, block_size=block)
        args = (x, y, jnp.float64(3.0), jnp.float64(-1.5))
        check_grads(f, args, order=1, modes=("rev",), eps=1e-5)


def test_bad_inputs():
    x, y = pair(4, 3)
    with pytest.raises(ValueError, match="same shape"):
        kernels.sigmoid_loss(x, y[:, :2], 1.0, 0.0)
    with pytest.raises(ValueError, match="bias must be a scalar"):
        kernels.sigmoid_loss(x, y, 1.0, jnp.zeros(3))
    with pytest.raises(ValueError, match="bias must be finite"):
        kernels.sigmoid_loss(x, y, 1.0, float("nan"))
    with pytest.raises(ValueError, match="impl must be one of"):
        kernels.sigmoid_loss(x, y, 1.0, 0.0, impl="triton")
