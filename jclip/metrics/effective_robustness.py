"""Effective robustness: OOD accuracy beyond what a model's ID accuracy predicts.

Taori et al. (2020), "Measuring Robustness to Natural Distribution Shifts in Image
Classification" (the imagenet-testbed code): over a reference set of models fit the line

  logit(acc_OOD) = slope * logit(acc_ID) + intercept,   logit(p) = log(p / (1 - p)),

by least squares (``scipy.stats.linregress`` of the logit values), and give each model

  ER = acc_OOD - sigmoid(slope * logit(acc_ID) + intercept),

its OOD accuracy above the fit's prediction at its ID accuracy. Accuracies are fractions; as the
logit of 0 or 1 is infinite they are clipped to [eps, 1 - eps] first (``eps`` = 1e-4 by default,
so a perfect 1.0 enters the fit as logit 9.2). All arithmetic is numpy float64.
"""

from __future__ import annotations

import numpy as np


def _accuracies(name: str, values, eps: float) -> np.ndarray:
    x = np.asarray(values, np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D list of accuracies, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds {int(np.sum(~np.isfinite(x)))} NaN or inf value(s)")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must be fractions in [0, 1] (not percent), got values in "
                         f"[{x.min():.4g}, {x.max():.4g}]")
    if not 0 < eps < 0.5:
        raise ValueError(f"eps must lie in (0, 0.5), got {eps}")
    return np.clip(x, eps, 1 - eps)


def logit(p):
    """log(p / (1 - p)), float64."""
    p = np.asarray(p, np.float64)
    return np.log(p) - np.log1p(-p)


def sigmoid(z):
    """1 / (1 + exp(-z)), float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


def logit_linear_fit(acc_id, acc_ood, *, eps: float = 1e-4) -> dict:
    """The least-squares line of logit(acc_OOD) on logit(acc_ID) over reference models.

    Args:
      acc_id, acc_ood: [M] ID and OOD accuracies (fractions) of the M >= 2 reference models.
      eps: accuracies are clipped to [eps, 1 - eps] before the logit.
    Returns:
      {"slope", "intercept", "r" (Pearson r of the logit values), "num_models"}.
    Raises:
      ValueError for fewer than 2 models, mismatched lengths, values outside [0, 1], or ID
      accuracies that are all equal (no line through them).
    """
    x = logit(_accuracies("acc_id", acc_id, eps))
    y = logit(_accuracies("acc_ood", acc_ood, eps))
    if x.shape != y.shape:
        raise ValueError(f"acc_id and acc_ood must have the same length, got {x.size} and "
                         f"{y.size}")
    if x.size < 2:
        raise ValueError(f"the effective-robustness fit needs a reference set of at least 2 "
                         f"models, got {x.size}")
    dx, dy = x - x.mean(), y - y.mean()
    sxx = float(np.sum(dx * dx))
    if sxx <= 1e-12 * max(1.0, float(np.sum(x * x))):
        raise ValueError("the reference models all have the same ID accuracy: no line can be "
                         "fitted through them")
    slope = float(np.sum(dx * dy)) / sxx
    syy = float(np.sum(dy * dy))
    r = float(np.sum(dx * dy) / np.sqrt(sxx * syy)) if syy > 0 else 0.0
    return {"slope": slope, "intercept": float(y.mean() - slope * x.mean()), "r": r,
            "num_models": int(x.size)}


def predicted_ood_accuracy(acc_id, fit: dict, *, eps: float = 1e-4) -> np.ndarray:
    """sigmoid(slope * logit(acc_ID) + intercept): the fit's OOD accuracy at ``acc_id``."""
    x = logit(_accuracies("acc_id", np.atleast_1d(acc_id), eps))
    return sigmoid(fit["slope"] * x + fit["intercept"])


def effective_robustness(acc_id, acc_ood, fit: dict, *, eps: float = 1e-4) -> np.ndarray:
    """ER = acc_OOD - sigmoid(slope * logit(acc_ID) + intercept) per model ([M] float64).

    ``fit`` is a ``logit_linear_fit`` result (over the reference set, which need not contain
    these models).
    """
    ood = np.atleast_1d(np.asarray(acc_ood, np.float64))
    ind = np.atleast_1d(np.asarray(acc_id, np.float64))
    if ood.shape != ind.shape:
        raise ValueError(f"acc_id and acc_ood must have the same length, got {ind.size} and "
                         f"{ood.size}")
    _accuracies("acc_ood", ood, eps)
    return ood - predicted_ood_accuracy(ind, fit, eps=eps)
