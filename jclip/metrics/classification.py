"""Classification metrics: top-k accuracy, mean per-class recall, confusion matrix.

Ties are broken as ``jax.lax.top_k`` breaks them: among equal logits the lower class index ranks
first, so ``accuracy(..., k=1)`` equals ``mean(argmax(logits) == labels)``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jclip.metrics._checks import (
    as_float_array,
    as_labels,
    as_mask,
    check_finite,
    check_nonempty,
)


@functools.partial(jax.jit, static_argnames=("k",))
def _topk_hits(logits, labels, k):
    true = jnp.take_along_axis(logits, labels[:, None], axis=1)
    classes = jnp.arange(logits.shape[1])
    ahead = (logits > true) | ((logits == true) & (classes[None, :] < labels[:, None]))
    finite = jnp.all(jnp.isfinite(logits), axis=1)  # under jit a non-finite row is a miss
    return ((jnp.sum(ahead, axis=1) < k) & finite).astype(jnp.float32)


def accuracy(logits, labels, k: int = 1, *, mask=None):
    """Top-k accuracy: the fraction of rows whose label is among the k largest logits.

    Args:
      logits: [N, C] scores (logits, probabilities or similarities).
      labels: [N] int class ids in [0, C).
      k: how many top classes count as a hit (1 <= k).
      mask: optional [N] weights (e.g. the padding mask of an eval batch); 0 drops a row.
    Returns:
      Scalar float32 in [0, 1] (NaN when the mask is all zeros).
    Raises:
      ValueError for empty or (concrete) non-finite logits; under jit a row holding NaN / inf
      counts as a miss.
    """
    logits = as_float_array("logits", logits, 2)
    check_nonempty("logits", logits)
    check_finite("logits", logits)
    labels = as_labels("labels", labels, logits.shape[0], logits.shape[1])
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k > logits.shape[1]:  # every row would be a hit: top-k of k >= C classes is trivial
        raise ValueError(f"top-{k} accuracy needs more than {k} classes, got "
                         f"{logits.shape[1]} (CLIP_benchmark reports acc5 as NaN below 5)")
    weights = as_mask(mask, logits.shape[0])
    hits = _topk_hits(logits, labels, k)
    return jnp.sum(hits * weights) / jnp.sum(weights)


@functools.partial(jax.jit, static_argnames=("num_classes",))
def _confusion(labels, predictions, weights, num_classes):
    counts = jnp.zeros((num_classes, num_classes), jnp.float32)
    return counts.at[labels, predictions].add(weights)


def confusion_matrix(labels, predictions, num_classes: int | None = None, *, mask=None):
    """Confusion matrix ``M[i, j]`` = number of rows with true class i predicted as j.

    Same orientation as ``sklearn.metrics.confusion_matrix(y_true, y_pred)``.

    Args:
      labels: [N] int true class ids.
      predictions: [N] int predicted ids, or [N, C] scores (their argmax is used).
      num_classes: C; defaults to the score width, else 1 + the largest id seen.
      mask: optional [N] weights; counts are weighted sums.
    Returns:
      [C, C] float32 counts (integers unless the mask has fractional weights).
    """
    predictions = jnp.asarray(predictions)
    if predictions.ndim == 2:
        if num_classes is None:
            num_classes = predictions.shape[1]
        predictions = jnp.argmax(predictions, axis=1)
    if predictions.ndim != 1:
        raise ValueError(f"predictions must be [N] ids or [N, C] scores, got {predictions.shape}")
    n = predictions.shape[0]
    if num_classes is None:
        num_classes = int(max(jnp.max(jnp.asarray(labels)), jnp.max(predictions))) + 1
    labels = as_labels("labels", labels, n, num_classes)
    predictions = as_labels("predictions", predictions, n, num_classes)
    return _confusion(labels, predictions, as_mask(mask, n), int(num_classes))


def mean_per_class_recall(logits, labels, *, mask=None):
    """Mean over classes of the recall ``M[c, c] / sum_j M[c, j]`` (balanced accuracy).

    Classes absent from ``labels`` are left out of the mean, as in
    ``sklearn.metrics.balanced_accuracy_score``. This is the "mean per-class accuracy" that CLIP
    reports for FGVC Aircraft, Oxford Pets, Caltech-101 and Flowers-102.

    Args:
      logits: [N, C] scores; the prediction is their argmax.
      labels: [N] int class ids.
      mask: optional [N] weights.
    Returns:
      Scalar float32.
    Raises:
      ValueError for empty or (concrete) non-finite logits; under jit a row holding NaN / inf
      counts as a miss of its class.
    """
    logits = as_float_array("logits", logits, 2)
    check_nonempty("logits", logits)
    check_finite("logits", logits)
    labels = as_labels("labels", labels, logits.shape[0], logits.shape[1])
    weights = as_mask(mask, logits.shape[0])
    return _mean_recall(logits, labels, weights, int(logits.shape[1]))


@functools.partial(jax.jit, static_argnames=("num_classes",))
def _mean_recall(logits, labels, weights, num_classes):
    finite = jnp.all(jnp.isfinite(logits), axis=1)
    hit = ((jnp.argmax(logits, axis=1) == labels) & finite).astype(jnp.float32) * weights
    support = jax.ops.segment_sum(weights, labels, num_segments=num_classes)
    correct = jax.ops.segment_sum(hit, labels, num_segments=num_classes)
    present = support > 0
    recall = correct / jnp.where(present, support, 1.0)
    return jnp.sum(jnp.where(present, recall, 0.0)) / jnp.sum(present)
