"""Metrics for ordered labels: mean absolute error, Spearman's rho and Kendall's tau-b."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jclip.metrics._checks import as_float_array, as_mask, check_finite, check_nonempty


def _pair(name_a, a, name_b, b):
    a = as_float_array(name_a, a, 1)
    b = as_float_array(name_b, b, 1)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} differ in shape: {a.shape} vs {b.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"a rank correlation needs at least 2 values, got {a.shape[0]}")
    check_finite(name_a, a)
    check_finite(name_b, b)
    return a, b


def mae(predictions, targets, *, mask=None):
    """Mean absolute error ``mean_i |predictions_i - targets_i|``.

    Args:
      predictions, targets: [N] numbers (e.g. predicted and true counts or ages).
      mask: optional [N] weights.
    Returns:
      Scalar float32.
    """
    predictions = as_float_array("predictions", predictions, 1)
    targets = as_float_array("targets", targets, 1)
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions {predictions.shape} and targets {targets.shape} differ")
    check_nonempty("predictions", predictions)
    check_finite("predictions", predictions)
    check_finite("targets", targets)
    weights = as_mask(mask, predictions.shape[0])
    return jnp.sum(jnp.abs(predictions - targets) * weights) / jnp.sum(weights)


def _average_ranks(x):
    """1-based ranks with ties given their average rank (scipy.stats.rankdata 'average')."""
    ordered = jnp.sort(x)
    below = jnp.searchsorted(ordered, x, side="left")
    up_to = jnp.searchsorted(ordered, x, side="right")
    return (below + up_to + 1).astype(jnp.float32) / 2


@jax.jit
def _spearman(x, y):
    # Under jit a NaN cannot be refused: the result is NaN, as scipy.stats.spearmanr gives.
    broken = ~(jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(y)))
    return jnp.where(broken, jnp.nan, _spearman_finite(x, y))


def _spearman_finite(x, y):
    rx = _average_ranks(x)
    ry = _average_ranks(y)
    rx = rx - jnp.mean(rx)
    ry = ry - jnp.mean(ry)
    return jnp.sum(rx * ry) / jnp.sqrt(jnp.sum(rx * rx) * jnp.sum(ry * ry))


def spearman(x, y):
    """Spearman's rank correlation: Pearson's r of the average ranks of x and y.

    rho = cov(R(x), R(y)) / (std R(x) std R(y)), ties ranked by their mean rank, which is
    ``scipy.stats.spearmanr``. O(N log N). NaN when x or y is constant.

    Args:
      x, y: [N] numbers, N >= 2.
    Returns:
      Scalar float32 in [-1, 1].
    """
    x, y = _pair("x", x, "y", y)
    return _spearman(x, y)


@functools.partial(jax.jit, static_argnames=("block",))
def _kendall_block_sums(x, y, block):
    n = x.shape[0]
    num_blocks = -(-n // block)
    pad = num_blocks * block - n
    xp = jnp.pad(x, (0, pad))
    yp = jnp.pad(y, (0, pad))
    valid = jnp.arange(num_blocks * block) < n

    def one_block(b):
        rows = jax.lax.dynamic_slice(jnp.arange(num_blocks * block), (b * block,), (block,))
        xi, yi, vi = xp[rows], yp[rows], valid[rows]
        sx = jnp.sign(xi[:, None] - x[None, :]) * vi[:, None]
        sy = jnp.sign(yi[:, None] - y[None, :]) * vi[:, None]
        # Per-block integer sums stay below 2**31 for block * n < 2**31.
        s = jnp.sum((sx * sy).astype(jnp.int32))
        tx = jnp.sum((sx != 0).astype(jnp.int32))
        ty = jnp.sum((sy != 0).astype(jnp.int32))
        return jnp.stack([s, tx, ty])

    return jax.lax.map(one_block, jnp.arange(num_blocks))


def kendall_tau(x, y, *, block_size: int = 1024):
    """Kendall's tau-b, the tie-corrected rank correlation of ``scipy.stats.kendalltau``.

    tau_b = (n_c - n_d) / sqrt((n_0 - n_x)(n_0 - n_y)), n_c / n_d the concordant / discordant
    pairs, n_0 = N(N-1)/2, n_x / n_y the pairs tied in x / in y. Computed exactly over all pairs
    in row blocks: O(N^2) work, O(block_size * N) memory; the block sums are added in int64 on
    the host so the counts do not overflow.

    Args:
      x, y: [N] numbers, N >= 2.
      block_size: rows of the pair matrix formed at once.
    Returns:
      Python float in [-1, 1] (NaN when x or y is constant).
    """
    x, y = _pair("x", x, "y", y)
    block = max(1, min(int(block_size), x.shape[0], (2**31 - 1) // x.shape[0]))
    sums = np.asarray(_kendall_block_sums(x, y, block)).astype(np.int64).sum(axis=0)
    s, tx, ty = (int(v) for v in sums)
    if tx == 0 or ty == 0:
        return float("nan")
    return s / math.sqrt(tx * ty)


def per_rank_mae(predictions, targets, num_ranks: int, values=None) -> np.ndarray:
    """Mean absolute error within each true rank: ``mae_r = mean_{i: t_i = r} |p_i - v_r|``.

    Args:
      predictions: [N] predicted values (numbers; e.g. an expectation over ranks).
      targets: [N] int true ranks in [0, num_ranks).
      num_ranks: R.
      values: [R] values of the ranks (default v_r = r).
    Returns:
      float64 [R]; NaN for a rank without examples.
    """
    predictions = np.asarray(predictions, np.float64)
    targets = np.asarray(targets)
    if predictions.ndim != 1 or predictions.shape != targets.shape:
        raise ValueError(f"predictions and targets must both be [N], got {predictions.shape} "
                         f"and {targets.shape}")
    if not np.all(np.isfinite(predictions)):
        raise ValueError("predictions contain NaN or inf values")
    if targets.size and (not np.issubdtype(targets.dtype, np.integer) or targets.min() < 0
                         or targets.max() >= num_ranks):
        raise ValueError(f"targets must be int ranks in [0, {num_ranks}), got dtype "
                         f"{targets.dtype} and values in [{targets.min()}, {targets.max()}]")
    v = np.arange(num_ranks, dtype=np.float64) if values is None else np.asarray(values,
                                                                                  np.float64)
    if v.shape != (num_ranks,):
        raise ValueError(f"values must be [{num_ranks}], got shape {v.shape}")
    err = np.abs(predictions - v[targets])
    sums = np.bincount(targets, weights=err, minlength=num_ranks)
    counts = np.bincount(targets, minlength=num_ranks)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
