"""Pallas kernels: row reductions over tiles of l_ij = rs_i * <a_i, b_j> (+ column offsets).

One kernel shape serves every pass of the losses and of the Gaussian kernel mean: for a block
of rows of ``a`` it walks over blocks of rows of ``b`` and folds each [bm, bn] tile into per-row
accumulators (a log-sum-exp, a sum, or a [bm, D] gradient). Only one tile is alive at a time.
The tile functions are written once and run by the GPU (Triton), TPU (Mosaic) and CPU
(interpret) drivers of pallas_drivers.py. A row scale carries ``scale``; a column offset carries
the bias and masks padded columns with -inf (+inf squared norms for the Gaussian).
"""

import jax.numpy as jnp
from jax import lax

from jclip.kernels import tiled
from jclip.kernels.pallas_drivers import dispatch, run_kernel


def _dot_nt(a, b):
    """a @ b.T with fp32 (or f64) accumulation: [bm, D] x [bn, D] -> [bm, bn]."""
    acc = jnp.promote_types(a.dtype, jnp.float32)
    return lax.dot_general(a, b, (((1,), (1,)), ((), ())), preferred_element_type=acc)


def _finite_or_zero(m):
    return jnp.where(jnp.isfinite(m), m, 0.0)


# --- tile functions: (accumulators, a [bm, D], b [bn, D], row blocks [bm, 1], column blocks
# [1, bn], index of the tile's first column) -> accumulators -----------------------------------


def _lse_tile(acc, a, b, rows, cols, col_start):
    """Online log-sum-exp of l = rs * a b^T + off: accumulators (running max, sum exp(l - max))."""
    (scale,), (offset,) = rows, cols
    m_old, s_old = acc
    logits = scale * _dot_nt(a, b) + offset
    m_new = jnp.maximum(m_old, jnp.max(logits, axis=1, keepdims=True))
    shift = _finite_or_zero(m_new)
    s_new = s_old * jnp.exp(m_old - shift) + jnp.sum(jnp.exp(logits - shift), axis=1, keepdims=True)
    return m_new, s_new


def _softmax_grad_tile(acc, a, b, rows, cols, col_start):
    """acc += (exp(l - r_i) + exp(l - c_j)) @ b: row plus column softmax of the CLIP logits."""
    scale, r = rows
    offset, c = cols
    logits = scale * _dot_nt(a, b) + offset
    g = jnp.exp(logits - r) + jnp.exp(logits - c)
    return (acc[0] + jnp.dot(g.astype(b.dtype), b, preferred_element_type=acc[0].dtype),)


def _signs(row_index, col_start, bn):
    """-1 where the column is the row's positive pair (row_index = its column, -1 for none)."""
    cols = (col_start + lax.broadcasted_iota(jnp.int32, (1, bn), 1)).astype(row_index.dtype)
    return jnp.where(row_index == cols, -1.0, 1.0)


def _softplus_tile(acc, a, b, rows, cols, col_start):
    """acc += sum_j softplus(sign_ij l_ij); padded columns: offset -inf, softplus(-inf) = 0."""
    scale, row_index = rows
    (offset,) = cols
    t = _signs(row_index, col_start, b.shape[0]) * (scale * _dot_nt(a, b) + offset)
    softplus = jnp.maximum(t, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(t)))
    return (acc[0] + jnp.sum(softplus, axis=1, keepdims=True),)


def _sigmoid_grad_tile(acc, a, b, rows, cols, col_start):
    """G = sign * sigmoid(sign * l); acc += (G @ b, sum_j G_ij). G = 0 on padded columns."""
    scale, row_index = rows
    (offset,) = cols
    signs = _signs(row_index, col_start, b.shape[0])
    g = signs / (1.0 + jnp.exp(-signs * (scale * _dot_nt(a, b) + offset)))
    gb = jnp.dot(g.astype(b.dtype), b, preferred_element_type=acc[0].dtype)
    return acc[0] + gb, acc[1] + jnp.sum(g, axis=1, keepdims=True)


def _gaussian_tile(acc, a, b, rows, cols, col_start):
    """acc += sum_j exp(-coef * ||a_i - b_j||^2); padded columns have ||b_j||^2 = +inf."""
    a_sq, coef = rows
    (b_sq,) = cols
    dist_sq = jnp.maximum(a_sq + b_sq - 2.0 * _dot_nt(a, b), 0.0)
    return (acc[0] + jnp.sum(jnp.exp(-coef * dist_sq), axis=1, keepdims=True),)


# --- the passes (same results as kernels/tiled.py) ------------------------------------------


def _acc(a):
    return jnp.promote_types(a.dtype, jnp.float32)


def _xla_block(a, b):
    return tiled.default_block(a.shape[0], b.shape[0])


def row_lse(a, b, scale, block=None):
    """r_i = logsumexp_j scale * <a_i, b_j>: [Na]."""

    def kernel(backend, a, b, scale):
        ones = jnp.ones((a.shape[0],), a.dtype)
        zeros = jnp.zeros((b.shape[0],), scale.dtype)
        m, s = run_kernel(
            backend,
            block,
            _lse_tile,
            (-jnp.inf, 0.0),
            False,
            a,
            b,
            [scale * ones],
            [(zeros, -jnp.inf)],
        )
        return m + jnp.log(s)

    def xla(a, b, scale):
        return tiled.lse_rows_cols(a, b, scale, _xla_block(a, b), _acc(a))[0]

    return dispatch(kernel, a, b, scale, fallback=xla)


def softmax_grad_rows(a, b, scale, r, c, block=None):
    """sum_j (exp(l_ij - r_i) + exp(l_ij - c_j)) b_j with l = scale * a b^T: [Na, D]."""

    def kernel(backend, a, b, scale, r, c):
        ones = jnp.ones((a.shape[0],), r.dtype)
        zeros = jnp.zeros((b.shape[0],), r.dtype)
        (g,) = run_kernel(
            backend,
            block,
            _softmax_grad_tile,
            (0.0,),
            True,
            a,
            b,
            [scale * ones, r],
            [(zeros, -jnp.inf), (c, 0.0)],
        )
        return g

    def xla(a, b, scale, r, c):
        return tiled.softmax_grads(a, b, scale, r, c, _xla_block(a, b), _acc(a))[0]

    return dispatch(kernel, a, b, scale, r, c, fallback=xla)


def _row_index(n, diagonal, dtype):
    """Column of each row's positive pair: i when a and b are matching pairs, else -1."""
    return jnp.arange(n, dtype=dtype) if diagonal else jnp.full((n,), -1.0, dtype)


def softplus_row_sums(a, b, scale, bias, diagonal, block=None):
    """sum_j softplus(sign_ij (scale * <a_i, b_j> + bias)): [Na]; sign_ii = -1 if diagonal."""

    def kernel(backend, a, b, scale, bias):
        ones = jnp.ones((a.shape[0],), scale.dtype)
        (s,) = run_kernel(
            backend,
            block,
            _softplus_tile,
            (0.0,),
            False,
            a,
            b,
            [scale * ones, _row_index(a.shape[0], diagonal, scale.dtype)],
            [(bias * jnp.ones((b.shape[0],), bias.dtype), -jnp.inf)],
        )
        return s

    def xla(a, b, scale, bias):
        return tiled.softplus_row_sums(a, b, scale, bias, _xla_block(a, b), _acc(a), diagonal)

    return dispatch(kernel, a, b, scale, bias, fallback=xla)


def sigmoid_grad_rows(a, b, scale, bias, diagonal, block=None):
    """(sum_j G_ij b_j [Na, D], sum_ij G_ij), G_ij = sign_ij sigmoid(sign_ij l_ij)."""

    def kernel(backend, a, b, scale, bias):
        ones = jnp.ones((a.shape[0],), scale.dtype)
        g, total = run_kernel(
            backend,
            block,
            _sigmoid_grad_tile,
            (0.0, 0.0),
            True,
            a,
            b,
            [scale * ones, _row_index(a.shape[0], diagonal, scale.dtype)],
            [(bias * jnp.ones((b.shape[0],), bias.dtype), -jnp.inf)],
        )
        return g, jnp.sum(total)

    def xla(a, b, scale, bias):
        gx, _, total = tiled.sigmoid_grads(a, b, scale, bias, _xla_block(a, b), _acc(a), diagonal)
        return gx, total

    return dispatch(kernel, a, b, scale, bias, fallback=xla)


def gaussian_row_sums(x, y, coef, block=None):
    """sum_j exp(-coef * ||x_i - y_j||^2): [Nx]."""

    def kernel(backend, x, y, coef):
        acc = jnp.promote_types(x.dtype, jnp.float32)
        x_sq = jnp.sum(jnp.square(x.astype(acc)), axis=1)
        y_sq = jnp.sum(jnp.square(y.astype(acc)), axis=1)
        (s,) = run_kernel(
            backend,
            block,
            _gaussian_tile,
            (0.0,),
            False,
            x,
            y,
            [x_sq, coef * jnp.ones_like(x_sq)],
            [(y_sq, jnp.inf)],
        )
        return s

    return dispatch(kernel, x, y, coef)
