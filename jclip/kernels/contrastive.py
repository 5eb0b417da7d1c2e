"""Memory-flat CLIP loss: tiled online log-sum-exp forward, recomputing backward (custom_vjp).

The CLIP loss (Radford et al., 2021, "Learning Transferable Visual Models From Natural Language
Supervision") over logits l_ij = s * <x_i, y_j> of a global batch of B pairs is

    loss = 1/(2B) [ sum_i (r_i - l_ii) + sum_j (c_j - l_jj) ],
    r_i = logsumexp_j l_ij,  c_j = logsumexp_i l_ij.

The forward pass keeps only r and c (O(B) numbers, computed tile by tile with an online
log-sum-exp, as in FlashAttention, Dao et al. 2022). The backward pass recomputes each tile
from them:

    dloss/dl_ij = (1/(2B)) (exp(l_ij - r_i) + exp(l_ij - c_j)) - (1/B) [i = j],
    dx_i = s sum_j dloss/dl_ij y_j,  dy_j = s sum_i dloss/dl_ij x_i,
    ds = sum_ij dloss/dl_ij <x_i, y_j> = sum_i <x_i, (1/s) dx_i>,

so the diagonal is an O(B * D) correction and nothing B x B is ever stored.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jclip.kernels import ring


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _device_partial(zimg, ztxt, scale, axis_name, passes):
    """This device's share of the global loss (the loss itself on one device)."""
    return _forward(zimg, ztxt, scale, axis_name, passes)[0]


def _forward(zimg, ztxt, scale, axis_name, passes):
    dtype = passes.dtype
    s = scale.astype(dtype)
    b = zimg.shape[0] * ring.num_devices(axis_name)
    r, c = ring.lse(zimg, ztxt, s, axis_name, passes)
    positives = s * jnp.sum(zimg.astype(dtype) * ztxt.astype(dtype))
    partial = (jnp.sum(r) + jnp.sum(c)) / (2 * b) - positives / b
    return partial, (zimg, ztxt, scale, r, c)


def _backward(axis_name, passes, residuals, g):
    zimg, ztxt, scale, r, c = residuals
    dtype = passes.dtype
    s = scale.astype(dtype)
    b = zimg.shape[0] * ring.num_devices(axis_name)
    gx, gy = ring.softmax_grads(zimg, ztxt, s, r, c, axis_name, passes)
    # Every device's share gets the same cotangent g (psum transposes to a broadcast under
    # shard_map, to a psum of equal values under pmap), so the travelling column gradients
    # may be scaled by the local g.
    w = g.astype(dtype) / (2 * b)
    x, y = zimg.astype(dtype), ztxt.astype(dtype)
    hx = w * gx - 2 * w * y  # sum_j dloss/dl_ij y_j
    hy = w * gy - 2 * w * x  # sum_i dloss/dl_ij x_i
    dscale = ring.reduce_replicated_grad(jnp.sum(x * hx), scale, zimg, axis_name)
    return (s * hx).astype(zimg.dtype), (s * hy).astype(ztxt.dtype), dscale.astype(scale.dtype)


_device_partial.defvjp(_forward, _backward)


def clip_loss_tiled(zimg, ztxt, scale, *, axis_name, passes):
    """CLIP loss of the global batch, O(B_local * block) memory per device.

    Args:
      zimg, ztxt: [B_local, D] embeddings (fp32, bf16 or f64), row i a matching pair.
      scale: scalar multiplier of the similarities.
      axis_name: batch axis under shard_map / pmap (rows in device order), or None.
      passes: ring.Passes, the tile implementation.
    Returns:
      Scalar loss in the accumulation dtype, the same on every device.
    """
    partial = _device_partial(zimg, ztxt, scale, axis_name, passes)
    return partial if axis_name is None else lax.psum(partial, axis_name)
