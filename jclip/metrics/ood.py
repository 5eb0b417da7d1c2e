"""Out-of-distribution detection metrics: AUROC and FPR at a fixed TPR.

Scores follow the convention of MSP / MCM / energy detectors: higher = more in-distribution.
Concrete NaN / inf scores raise; under jit a non-finite in-distribution score ranks below every
other score and a non-finite out-of-distribution score above, so they count against the detector.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jclip.metrics._checks import as_float_array, check_finite, check_nonempty


def _against(pos, neg):
    """Non-finite positives -> -inf (rank last), non-finite negatives -> +inf (rank first)."""
    return (jnp.where(jnp.isfinite(pos), pos, -jnp.inf),
            jnp.where(jnp.isfinite(neg), neg, jnp.inf))


@jax.jit
def _auroc(pos, neg):
    pos, neg = _against(pos, neg)
    ordered = jnp.sort(neg)
    below = jnp.searchsorted(ordered, pos, side="left")
    up_to = jnp.searchsorted(ordered, pos, side="right")
    # Per positive: the fraction of negatives it beats, ties counting 1/2.
    wins = (below + 0.5 * (up_to - below)) / neg.shape[0]
    wins = jnp.where(jnp.isneginf(pos), 0.0, wins)  # a broken positive beats nothing
    return jnp.mean(wins)


def auroc(scores_pos, scores_neg):
    """Area under the ROC curve = P(s_pos > s_neg) + P(s_pos = s_neg) / 2 (Mann-Whitney U).

    Equal to ``sklearn.metrics.roc_auc_score`` with the positives labelled 1. O((P+N) log N).

    Args:
      scores_pos: [P] scores of the positive (e.g. in-distribution) samples.
      scores_neg: [N] scores of the negative samples.
    Returns:
      Scalar float32 in [0, 1].
    """
    pos = as_float_array("scores_pos", scores_pos, 1)
    neg = as_float_array("scores_neg", scores_neg, 1)
    check_nonempty("scores_pos", pos)
    check_nonempty("scores_neg", neg)
    check_finite("scores_pos", pos)
    check_finite("scores_neg", neg)
    return _auroc(pos, neg)


def _rank_needed(n: int, tpr: float) -> int:
    """Smallest k with k / n >= tpr, robust to the rounding of tpr * n."""
    k = max(1, math.ceil(tpr * n))
    while k > 1 and (k - 1) / n >= tpr:
        k -= 1
    while k / n < tpr:
        k += 1
    return k


def fpr_at_tpr(scores_in, scores_out, tpr: float = 0.95):
    """False-positive rate at the first ROC point whose true-positive rate reaches ``tpr``.

    In-distribution samples are the positives. The threshold t is the k-th largest in-score with
    k = ceil(tpr * N_in) (so at least ``tpr`` of the in-samples have score >= t) and the result
    is the fraction of out-samples with score >= t: FPR@95 for ``tpr=0.95``, the same point as
    ``fpr[searchsorted(tpr_curve, 0.95)]`` on ``sklearn.metrics.roc_curve``.

    Args:
      scores_in: [N_in] scores of in-distribution samples.
      scores_out: [N_out] scores of out-of-distribution samples.
      tpr: target true-positive rate in (0, 1].
    Returns:
      Scalar float32 in [0, 1].
    """
    scores_in = as_float_array("scores_in", scores_in, 1)
    scores_out = as_float_array("scores_out", scores_out, 1)
    check_nonempty("scores_in", scores_in)
    check_nonempty("scores_out", scores_out)
    check_finite("scores_in", scores_in)
    check_finite("scores_out", scores_out)
    scores_in, scores_out = _against(scores_in, scores_out)
    if not 0.0 < float(tpr) <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr}")
    k = _rank_needed(scores_in.shape[0], float(tpr))
    threshold = -jnp.sort(-scores_in)[k - 1]
    return jnp.mean((scores_out >= threshold).astype(jnp.float32))
