"""XLA tiled passes: row strips of the logit matrix, one strip alive at a time.

Every pass walks over strips of ``block`` rows of ``x`` with ``lax.scan``; a strip is the
[block, Ny] tile of logits l_ij = scale * <x_i, y_j> (+ bias) of those rows against every
column. Row statistics of a strip are exact; column statistics and column gradients are carried
across strips. Memory is O(block * Ny + (Nx + Ny) * D), linear in the batch for a fixed block.

The passes are the building blocks of ``contrastive.py`` / ``sigmoid.py`` (one call per
device pair in the ring of ``ring.py``); the Pallas kernels in ``pallas_tiles.py`` compute the
same quantities. All results are in the accumulation dtype (float32 for bf16/fp32 inputs).
Rows are padded to a multiple of ``block`` and the padded rows masked out of every column sum.
"""

import jax
import jax.numpy as jnp
from jax import lax

# Target elements of one [block, Ny] strip (32 MB in float32): big enough for efficient
# matmuls, small enough that a few live copies of the strip stay far below the batch's memory.
STRIP_ELEMENTS = 1 << 23


def default_block(nx, ny):
    """Rows per strip: a power of two with block * ny ~ STRIP_ELEMENTS, in [8, 4096], <= nx."""
    block = 8
    while block < 4096 and 2 * block * ny <= STRIP_ELEMENTS:
        block *= 2
    return max(1, min(block, nx))


def _strips(x, block):
    """[Nx, D] -> ([S, block, D] zero-padded strips, [S, block] validity mask)."""
    nx = x.shape[0]
    n_strips = -(-nx // block)
    pad = n_strips * block - nx
    xs = jnp.pad(x, ((0, pad), (0, 0))).reshape(n_strips, block, x.shape[1])
    valid = (jnp.arange(n_strips * block) < nx).reshape(n_strips, block)
    return xs, valid


def _pad_rows(v, block):
    """[Nx] -> [S, block], zero-padded (values of padded rows are masked, never used)."""
    n_strips = -(-v.shape[0] // block)
    return jnp.pad(v, (0, n_strips * block - v.shape[0])).reshape(n_strips, block)


def _logits(xb, y, scale, dtype):
    """scale * xb @ y.T: [block, D] x [Ny, D] -> [block, Ny] in ``dtype``."""
    dots = lax.dot_general(xb, y, (((1,), (1,)), ((), ())), preferred_element_type=dtype)
    return scale * dots


def varying_axes(x):
    """Mesh axes over which ``x`` varies under ``shard_map`` (empty outside, or under pmap)."""
    aval = jax.typeof(x)
    manual = getattr(aval, "manual_axis_type", None)
    if manual is not None:
        return frozenset(manual.varying)
    return frozenset(getattr(aval, "vma", ()))


def varying_like(init, *refs):
    """Marks fresh values as varying over every mesh axis that ``refs`` vary over.

    Under ``shard_map`` a scan carry that starts as a constant but is updated from per-device
    data must be declared per-device from the start (scan checks the carry types); so must the
    operands of a Pallas call, whose outputs are declared varying over the same axes.
    """
    axes = frozenset().union(*(varying_axes(r) for r in refs)) if refs else frozenset()

    def cast(v):
        missing = tuple(sorted(axes - varying_axes(v)))
        return lax.pcast(v, missing, to="varying") if missing else v

    return jax.tree.map(cast, init)


def _finite_or_zero(m):
    return jnp.where(jnp.isfinite(m), m, 0.0)


def logsumexp_combine(m1, s1, m2, s2):
    """Merges two partial log-sum-exps kept as (max m, sum of exp(l - m)): online softmax."""
    m = jnp.maximum(m1, m2)
    shift = _finite_or_zero(m)
    return m, s1 * jnp.exp(m1 - shift) + s2 * jnp.exp(m2 - shift)


def lse_rows_cols(x, y, scale, block, dtype):
    """Row and column log-sum-exps of l = scale * x @ y.T in one pass.

    Args:
      x: [Nx, D], y: [Ny, D]; scale: scalar; block: rows per strip; dtype: accumulation dtype.
    Returns:
      (r [Nx], c [Ny]): r_i = logsumexp_j l_ij, c_j = logsumexp_i l_ij.
    """
    xs, valid = _strips(x, block)
    ny = y.shape[0]

    def step(carry, strip):
        col_max, col_sum = carry
        xb, vb = strip
        logits = _logits(xb, y, scale, dtype)
        row_max = jnp.max(logits, axis=1)
        row_lse = row_max + jnp.log(
            jnp.sum(jnp.exp(logits - _finite_or_zero(row_max)[:, None]), axis=1)
        )
        masked = jnp.where(vb[:, None], logits, -jnp.inf)
        strip_max = jnp.max(masked, axis=0)
        strip_sum = jnp.sum(jnp.exp(masked - _finite_or_zero(strip_max)[None, :]), axis=0)
        return logsumexp_combine(col_max, col_sum, strip_max, strip_sum), row_lse

    init = (jnp.full((ny,), -jnp.inf, dtype), jnp.zeros((ny,), dtype))
    init = varying_like(init, x, y, scale)
    (col_max, col_sum), row_lse = lax.scan(step, init, (xs, valid))
    return row_lse.reshape(-1)[: x.shape[0]], col_max + jnp.log(col_sum)


def _grad_pass(x, y, block, dtype, coefficients, row_values, closed_over=()):
    """Sum_j G_ij y_j and sum_i G_ij x_i for a coefficient matrix G computed strip by strip.

    ``coefficients(logits_strip, row_values_strip)`` gives the [block, Ny] strip of G (before
    masking); ``closed_over`` lists the arrays it uses. Returns (gx [Nx, D], gy [Ny, D],
    sum_ij G_ij), all in ``dtype``.
    """
    xs, valid = _strips(x, block)
    rows = [_pad_rows(v, block) for v in row_values]

    def step(carry, strip):
        gy, total = carry
        xb, vb, *row_strip = strip
        g = jnp.where(vb[:, None], coefficients(xb, row_strip), 0.0)
        # Cast G to the input dtype (no-op for fp32) so bf16 matmuls stay bf16, fp32-accumulated.
        g_in = g.astype(y.dtype)
        gx_strip = jnp.dot(g_in, y, preferred_element_type=dtype)
        gy = gy + lax.dot_general(g_in, xb, (((0,), (0,)), ((), ())), preferred_element_type=dtype)
        return (gy, total + jnp.sum(g)), gx_strip

    init = varying_like(
        (jnp.zeros(y.shape, dtype), jnp.zeros((), dtype)), x, y, *row_values, *closed_over
    )
    (gy, total), gx = lax.scan(step, init, (xs, valid, *rows))
    return gx.reshape(-1, x.shape[1])[: x.shape[0]], gy, total


def softmax_grads(x, y, scale, r, c, block, dtype):
    """G_ij = exp(l_ij - r_i) + exp(l_ij - c_j) (row softmax + column softmax of l).

    Returns (gx [Nx, D] = sum_j G_ij y_j, gy [Ny, D] = sum_i G_ij x_i).
    """

    def coefficients(xb, row_strip):
        logits = _logits(xb, y, scale, dtype)
        return jnp.exp(logits - row_strip[0][:, None]) + jnp.exp(logits - c[None, :])

    gx, gy, _ = _grad_pass(x, y, block, dtype, coefficients, [r], (scale, c))
    return gx, gy


def _signs(xb_start, block, ny, diagonal):
    """[block, Ny] label signs of a strip: -1 on the positive pairs (i, i) when ``diagonal``.

    The loss term of a pair is softplus(sign * l): softplus(l) = -log sigmoid(-l) for a negative
    pair, softplus(-l) = -log sigmoid(l) for a positive one, both without cancellation.
    """
    if not diagonal:
        return 1.0
    rows = xb_start + jnp.arange(block)
    return jnp.where(rows[:, None] == jnp.arange(ny)[None, :], -1.0, 1.0)


def softplus_row_sums(x, y, scale, bias, block, dtype, diagonal):
    """sum_j softplus(sign_ij * (scale * <x_i, y_j> + bias)) for each row i: [Nx].

    sign_ij = -1 for i = j when ``diagonal`` (x and y are matching pairs), else +1.
    """
    xs, _ = _strips(x, block)
    starts = jnp.arange(xs.shape[0]) * block

    def step(_, strip):
        xb, start = strip
        signs = _signs(start, block, y.shape[0], diagonal)
        logits = _logits(xb, y, scale, dtype) + bias
        return None, jnp.sum(jax.nn.softplus(signs * logits), axis=1)

    _, sums = lax.scan(step, None, (xs, starts))
    return sums.reshape(-1)[: x.shape[0]]


def sigmoid_grads(x, y, scale, bias, block, dtype, diagonal):
    """G_ij = d softplus(sign_ij l_ij) / d l_ij = sign_ij * sigmoid(sign_ij * l_ij).

    With l_ij = scale * <x_i, y_j> + bias and sign as in ``softplus_row_sums``.
    Returns (gx [Nx, D] = sum_j G_ij y_j, gy [Ny, D] = sum_i G_ij x_i, sum_ij G_ij).
    """

    def coefficients(xb, row_strip):
        # row_strip[0] holds the strip's row indices; its first entry is the strip's start.
        signs = _signs(row_strip[0][0], block, y.shape[0], diagonal)
        return signs * jax.nn.sigmoid(signs * (_logits(xb, y, scale, dtype) + bias))

    rows = [jnp.arange(x.shape[0])]
    return _grad_pass(x, y, block, dtype, coefficients, rows, (scale, bias))
