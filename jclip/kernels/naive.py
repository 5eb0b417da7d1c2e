"""Materialised reference implementations: the full B x B (or n x m) matrix at once.

The losses are jclip.losses' own (the reference the tiled kernels must match); the Gaussian
kernel mean is the one-line dense formula.
"""

import jax.numpy as jnp


def clip_loss(zimg, ztxt, scale, *, axis_name=None):
    from jclip import losses

    return losses.clip_loss(zimg, ztxt, scale, axis_name=axis_name)


def siglip_loss(zimg, ztxt, scale, bias, *, axis_name=None):
    from jclip import losses

    return losses.siglip_loss(zimg, ztxt, scale, bias, axis_name=axis_name)


def gaussian_kernel_mean(x, y, coef):
    """mean_ij exp(-coef ||x_i - y_j||^2) from the dense [N, M] distance matrix."""
    dtype = jnp.promote_types(jnp.result_type(x, y), jnp.float32)
    x, y = x.astype(dtype), y.astype(dtype)
    dist_sq = jnp.sum(x * x, 1)[:, None] + jnp.sum(y * y, 1)[None, :] - 2.0 * x @ y.T
    return jnp.mean(jnp.exp(-coef * jnp.maximum(dist_sq, 0.0)))
