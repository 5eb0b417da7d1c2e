"""The tile passes of one device pair, and the ring that runs them over every pair of shards.

Across devices (Inf-CL, Yu et al. 2024, "Breaking the Memory Barrier: Near Infinite Batch Size
Scaling for Contrastive Loss"): each device keeps its image rows x and passes its text shard y to
the next device with ``ppermute``, N times around the ring. The row statistics of x (its
log-sum-exps, its gradient) accumulate in place; the column statistics of a text shard (its
log-sum-exp, its gradient) travel with the shard and come home after the last hop. No device
ever holds more than its own rows, one visiting shard and one tile of logits, so memory is
O(B_local * block) per device and the result is exact.

``Passes`` selects the tile implementation (``"xla"`` strips of kernels/tiled.py, or the
``"pallas"`` kernels of kernels/pallas_tiles.py); all passes return accumulation-dtype arrays.
"""

import dataclasses

import jax.numpy as jnp
from jax import lax

from jclip.kernels import pallas_tiles, tiled


@dataclasses.dataclass(frozen=True)
class Passes:
    """Tile passes over one (x, y) pair of [Nx, D], [Ny, D] shards.

    impl: "xla" or "pallas"; block: rows per strip (xla) or tile edge (pallas), None = default.
    dtype: accumulation dtype name ("float32" or "float64").
    """

    impl: str
    block: int | None
    dtype: str

    def _xla_block(self, x, y):
        return min(self.block or tiled.default_block(x.shape[0], y.shape[0]), x.shape[0])

    def lse(self, x, y, scale):
        """(r [Nx], c [Ny]): row and column log-sum-exps of scale * x y^T."""
        if self.impl == "xla":
            return tiled.lse_rows_cols(x, y, scale, self._xla_block(x, y), self.dtype)
        return (
            pallas_tiles.row_lse(x, y, scale, self.block),
            pallas_tiles.row_lse(y, x, scale, self.block),
        )

    def softmax_grads(self, x, y, scale, r, c):
        """(sum_j G_ij y_j, sum_i G_ij x_i), G_ij = exp(l_ij - r_i) + exp(l_ij - c_j)."""
        if self.impl == "xla":
            return tiled.softmax_grads(x, y, scale, r, c, self._xla_block(x, y), self.dtype)
        return (
            pallas_tiles.softmax_grad_rows(x, y, scale, r, c, self.block),
            pallas_tiles.softmax_grad_rows(y, x, scale, c, r, self.block),
        )

    def softplus_sum(self, x, y, scale, bias, diagonal):
        """sum_ij softplus(sign_ij l_ij), l = scale x y^T + bias, sign_ii = -1 if diagonal."""
        if self.impl == "xla":
            block = self._xla_block(x, y)
            sums = tiled.softplus_row_sums(x, y, scale, bias, block, self.dtype, diagonal)
        else:
            sums = pallas_tiles.softplus_row_sums(x, y, scale, bias, diagonal, self.block)
        return jnp.sum(sums)

    def sigmoid_grads(self, x, y, scale, bias, diagonal):
        """(sum_j G_ij y_j, sum_i G_ij x_i, sum_ij G_ij), G_ij = sign_ij sigmoid(sign_ij l_ij)."""
        if self.impl == "xla":
            block = self._xla_block(x, y)
            return tiled.sigmoid_grads(x, y, scale, bias, block, self.dtype, diagonal)
        gx, total = pallas_tiles.sigmoid_grad_rows(x, y, scale, bias, diagonal, self.block)
        gy, _ = pallas_tiles.sigmoid_grad_rows(y, x, scale, bias, diagonal, self.block)
        return gx, gy, total


def num_devices(axis_name):
    return 1 if axis_name is None else lax.axis_size(axis_name)


def _hop(tree, axis_name):
    """Sends every device's ``tree`` to the next device along the ring."""
    n = lax.axis_size(axis_name)
    return lax.ppermute(tree, axis_name, [(k, (k + 1) % n) for k in range(n)])


def lse(x, y, scale, axis_name, passes):
    """Global row and column log-sum-exps of this device's rows / columns: ([Bl], [Bl])."""
    r, c = passes.lse(x, y, scale)
    if axis_name is None:
        return r, c

    def visit(_, state):
        r, y_vis, c_vis = state
        y_vis, c_vis = _hop((y_vis, c_vis), axis_name)
        r_t, c_t = passes.lse(x, y_vis, scale)
        return jnp.logaddexp(r, r_t), y_vis, jnp.logaddexp(c_vis, c_t)

    r, _, c = lax.fori_loop(1, num_devices(axis_name), visit, (r, y, c))
    return r, _hop(c, axis_name)


def softmax_grads(x, y, scale, r, c, axis_name, passes):
    """(sum over all columns j of G_ij y_j for local rows, sum over all rows i of G_ij x_i for
    local columns), G_ij = exp(l_ij - r_i) + exp(l_ij - c_j) with global r and c."""
    gx, gy = passes.softmax_grads(x, y, scale, r, c)
    if axis_name is None:
        return gx, gy

    def visit(_, state):
        gx, y_vis, c_vis, gy_vis = state
        y_vis, c_vis, gy_vis = _hop((y_vis, c_vis, gy_vis), axis_name)
        gx_t, gy_t = passes.softmax_grads(x, y_vis, scale, r, c_vis)
        return gx + gx_t, y_vis, c_vis, gy_vis + gy_t

    gx, _, _, gy = lax.fori_loop(1, num_devices(axis_name), visit, (gx, y, c, gy))
    return gx, _hop(gy, axis_name)


def softplus_sum(x, y, scale, bias, axis_name, passes):
    """sum over local rows i and all columns j of softplus(sign_ij l_ij): a scalar.

    The positive pairs (sign -1) are the local pairs, met on the first visit only.
    """
    total = passes.softplus_sum(x, y, scale, bias, True)
    if axis_name is None:
        return total

    def visit(_, state):
        total, y_vis = state
        y_vis = _hop(y_vis, axis_name)
        return total + passes.softplus_sum(x, y_vis, scale, bias, False), y_vis

    total, _ = lax.fori_loop(1, num_devices(axis_name), visit, (total, y))
    return total


def sigmoid_grads(x, y, scale, bias, axis_name, passes):
    """Ring version of Passes.sigmoid_grads: (gx local rows, gy local columns, local-row total)."""
    gx, gy, total = passes.sigmoid_grads(x, y, scale, bias, True)
    if axis_name is None:
        return gx, gy, total

    def visit(_, state):
        gx, total, y_vis, gy_vis = state
        y_vis, gy_vis = _hop((y_vis, gy_vis), axis_name)
        gx_t, gy_t, total_t = passes.sigmoid_grads(x, y_vis, scale, bias, False)
        return gx + gx_t, total + total_t, y_vis, gy_vis + gy_t

    gx, total, _, gy = lax.fori_loop(1, num_devices(axis_name), visit, (gx, total, y, gy))
    return gx, _hop(gy, axis_name), total


def _axis_names(axis_name):
    return tuple(axis_name) if isinstance(axis_name, tuple | list) else (axis_name,)


def reduce_replicated_grad(grad, param, sharded, axis_name):
    """Cotangent of a replicated scalar parameter (scale, bias) from this device's share.

    Under ``shard_map`` with varying-axis checks, a parameter that is the same on every device
    (invariant over ``axis_name``) needs the global cotangent: the sum of the devices' shares.
    A parameter that varies over the axis (or any value under ``pmap``, which has no such
    types) gets this device's share; summing the shares over devices gives the global value.
    """
    if axis_name is None:
        return grad
    names = _axis_names(axis_name)
    vma_param = tiled.varying_axes(param)
    vma_sharded = tiled.varying_axes(sharded)
    if all(n in vma_sharded for n in names) and not any(n in vma_param for n in names):
        return lax.psum(grad, axis_name)
    return grad
