"""Memory-flat SigLIP loss: a tiled sum forward and a recomputing backward (custom_vjp).

The sigmoid loss (Zhai et al., 2023, "Sigmoid Loss for Language Image Pre-Training", eq. 1)
over l_ij = s * <x_i, y_j> + b of a global batch of B pairs, with labels z_ii = 1 and z_ij = -1
otherwise, is

    loss = -(1/B) sum_ij log sigmoid(z_ij l_ij) = (1/B) sum_ij softplus(-z_ij l_ij),

a plain sum over tiles (no normalisation step); each tile flips the sign on the positive pairs
it contains, so no term cancels against another. The gradient is
dloss/dl_ij = (1/B) G_ij with G_ij = -z_ij sigmoid(-z_ij l_ij), so dx_i = (s/B) sum_j G_ij y_j,
dy_j = (s/B) sum_i G_ij x_i, db = (1/B) sum_ij G_ij and ds = sum_i <x_i, (1/s) dx_i>.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jclip.kernels import ring


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _device_partial(zimg, ztxt, scale, bias, axis_name, passes):
    """This device's share (its image rows against all texts) of the global loss."""
    return _forward(zimg, ztxt, scale, bias, axis_name, passes)[0]


def _forward(zimg, ztxt, scale, bias, axis_name, passes):
    dtype = passes.dtype
    s, t = scale.astype(dtype), bias.astype(dtype)
    b = zimg.shape[0] * ring.num_devices(axis_name)
    total = ring.softplus_sum(zimg, ztxt, s, t, axis_name, passes)
    return total / b, (zimg, ztxt, scale, bias)


def _backward(axis_name, passes, residuals, g):
    zimg, ztxt, scale, bias = residuals
    dtype = passes.dtype
    s, t = scale.astype(dtype), bias.astype(dtype)
    b = zimg.shape[0] * ring.num_devices(axis_name)
    gx, gy, total = ring.sigmoid_grads(zimg, ztxt, s, t, axis_name, passes)
    # As in contrastive.py: every device's share has the same cotangent g.
    w = g.astype(dtype) / b
    x = zimg.astype(dtype)
    hx = w * gx  # sum_j dloss/dl_ij y_j
    hy = w * gy  # sum_i dloss/dl_ij x_i
    dscale = ring.reduce_replicated_grad(jnp.sum(x * hx), scale, zimg, axis_name)
    dbias = ring.reduce_replicated_grad(w * total, bias, zimg, axis_name)
    return (
        (s * hx).astype(zimg.dtype),
        (s * hy).astype(ztxt.dtype),
        dscale.astype(scale.dtype),
        dbias.astype(bias.dtype),
    )


_device_partial.defvjp(_forward, _backward)


def siglip_loss_tiled(zimg, ztxt, scale, bias, *, axis_name, passes):
    """SigLIP loss of the global batch, O(B_local * block) memory per device.

    Args:
      zimg, ztxt: [B_local, D] embeddings (fp32, bf16 or f64), row i a matching pair.
      scale, bias: scalars (t and b of the paper).
      axis_name: batch axis under shard_map / pmap (rows in device order), or None.
      passes: ring.Passes, the tile implementation.
    Returns:
      Scalar loss in the accumulation dtype, the same on every device.
    """
    partial = _device_partial(zimg, ztxt, scale, bias, axis_name, passes)
    return partial if axis_name is None else lax.psum(partial, axis_name)
