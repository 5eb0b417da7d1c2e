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


@jax.jit
def _aupr(pos, neg):
    scores = -jnp.sort(-jnp.concatenate([pos, neg]))  # decreasing
    truth = jnp.concatenate([jnp.ones(pos.shape[0]), jnp.zeros(neg.shape[0])])
    truth = truth[jnp.argsort(-jnp.concatenate([pos, neg]), stable=True)]
    precision = jnp.cumsum(truth) / jnp.arange(1, scores.shape[0] + 1)
    # A run of tied scores is one threshold: each positive counts at its run's last row.
    last = jnp.searchsorted(-scores, -scores, side="right") - 1
    return jnp.sum(truth * precision[last]) / pos.shape[0]


def aupr(scores_pos, scores_neg):
    """Area under the precision-recall curve with the ``scores_pos`` samples as positives:
    average precision AP = sum_k (R_k - R_{k-1}) P_k over the distinct score thresholds in
    decreasing order (equal to ``sklearn.metrics.average_precision_score``). AUPR-In passes
    (ID, OOD) scores; AUPR-Out passes (-OOD, -ID) (Hendrycks & Gimpel, 2017).

    Args:
      scores_pos: [P] scores of the positives; scores_neg: [N] scores of the negatives.
    Returns:
      Scalar float32 in [0, 1].
    """
    pos = as_float_array("scores_pos", scores_pos, 1)
    neg = as_float_array("scores_neg", scores_neg, 1)
    check_nonempty("scores_pos", pos)
    check_nonempty("scores_neg", neg)
    check_finite("scores_pos", pos)
    check_finite("scores_neg", neg)
    return _aupr(*_against(pos, neg))


# Zero-shot OOD scores from the cosine similarities [N, C] of images with the ID class prompts
# (higher = more in-distribution). MSP, max-logit and energy over the logits 100 cos, as CLIPN
# (Wang et al., 2023) runs them as baselines; MCM over the raw cosines with temperature T = 1
# (Ming et al., 2022, "Delving into OOD Detection with Vision-Language Representations").
SCORES = {
    "msp": lambda cos, t: jnp.max(jax.nn.softmax(100.0 * cos, axis=-1), axis=-1),
    "max_logit": lambda cos, t: jnp.max(cos, axis=-1),
    "energy": lambda cos, t: jax.nn.logsumexp(100.0 * cos, axis=-1),
    "mcm": lambda cos, t: jnp.max(jax.nn.softmax(cos / t, axis=-1), axis=-1),
}


def ood_score(cosine, name: str, temperature: float = 1.0):
    """A zero-shot OOD score per image (higher = more in-distribution).

      msp       = max_c softmax_c(100 cos)
      max_logit = max_c cos_c
      energy    = logsumexp_c(100 cos)  (the negative free energy, Liu et al., 2020)
      mcm       = max_c softmax_c(cos / T), T = ``temperature`` (1 in MCM)

    Args:
      cosine: [N, C] cosine similarities of unit image and unit class embeddings.
      name: one of ``SCORES``.
    Returns:
      [N] float32 scores.
    """
    if name not in SCORES:
        raise ValueError(f"unknown OOD score {name!r}; known scores: {sorted(SCORES)}")
    if not float(temperature) > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    cosine = as_float_array("cosine", cosine, 2)
    check_nonempty("cosine", cosine)
    if cosine.shape[1] < 2:
        raise ValueError(f"OOD scores need at least 2 ID classes, got {cosine.shape[1]}")
    return SCORES[name](cosine.astype(jnp.float32), float(temperature))
