"""Calibration: expected calibration error and the reliability diagram behind it."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jclip.metrics._checks import as_float_array, as_labels, as_mask, check_finite, is_concrete


@functools.partial(jax.jit, static_argnames=("n_bins",))
def _binned(probs, labels, weights, n_bins):
    confidence = jnp.max(probs, axis=1)
    correct = (jnp.argmax(probs, axis=1) == labels).astype(jnp.float32)
    edges = jnp.linspace(0.0, 1.0, n_bins + 1)
    # Bin b holds confidences in (edges[b], edges[b+1]]; a confidence of exactly 0 goes to bin 0.
    bins = jnp.searchsorted(edges[1:-1], confidence, side="left")
    count = jnp.zeros(n_bins).at[bins].add(weights)
    sum_conf = jnp.zeros(n_bins).at[bins].add(weights * confidence)
    sum_correct = jnp.zeros(n_bins).at[bins].add(weights * correct)
    return count, sum_conf, sum_correct


def _prepare(probs, labels, mask):
    probs = as_float_array("probs", probs, 2)
    if probs.shape[0] == 0:
        raise ValueError("probs is empty; the metric needs at least one row")
    check_finite("probs", probs)
    if is_concrete(probs):  # logits passed as probabilities would give a plausible wrong ECE
        lo, hi = float(jnp.min(probs)), float(jnp.max(probs))
        worst = float(jnp.max(jnp.abs(jnp.sum(probs, axis=1) - 1.0)))
        if lo < 0.0 or hi > 1.0 or worst > 1e-3:
            raise ValueError(
                f"probs must be probabilities (each row in [0, 1], summing to 1), got values in "
                f"[{lo:.4g}, {hi:.4g}] and a row sum off by {worst:.3g}: pass "
                "jax.nn.softmax(logits, axis=-1), not the logits")
    labels = as_labels("labels", labels, probs.shape[0], probs.shape[1])
    return probs, labels, as_mask(mask, probs.shape[0])


def _check_bins(n_bins) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")


def expected_calibration_error(probs, labels, n_bins: int = 15, *, mask=None):
    """Expected calibration error with equal-width confidence bins (Guo et al., 2017, eq. 3).

    ECE = sum_b (|B_b| / N) |acc(B_b) - conf(B_b)|, the confidence of a row being its largest
    probability and B_b the rows whose confidence lies in ((b-1)/n_bins, b/n_bins].

    Args:
      probs: [N, C] class probabilities (e.g. ``softmax(logits)``).
      labels: [N] int class ids.
      n_bins: number of equal-width bins on [0, 1].
      mask: optional [N] weights.
    Returns:
      Scalar float32 in [0, 1].
    """
    _check_bins(n_bins)
    count, sum_conf, sum_correct = _binned(*_prepare(probs, labels, mask), n_bins)
    return jnp.sum(jnp.abs(sum_correct - sum_conf)) / jnp.sum(count)


def reliability_diagram(probs, labels, n_bins: int = 15, *, mask=None):
    """Per-bin statistics of the reliability diagram (the data of ``expected_calibration_error``).

    Returns:
      dict of [n_bins] arrays: "count", "confidence" (mean confidence, NaN for empty bins),
      "accuracy" (NaN for empty bins) and "edges" ([n_bins + 1]).
    """
    _check_bins(n_bins)
    count, sum_conf, sum_correct = _binned(*_prepare(probs, labels, mask), n_bins)
    safe = jnp.where(count > 0, count, jnp.nan)
    return {
        "count": count,
        "confidence": sum_conf / safe,
        "accuracy": sum_correct / safe,
        "edges": jnp.linspace(0.0, 1.0, n_bins + 1),
    }
