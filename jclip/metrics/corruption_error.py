"""Corruption error: CE, mCE and relative mCE against a baseline model.

Hendrycks & Dietterich (2019), "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", section 3. With E_{s,c} the top-1 error (a fraction in [0, 1]) of the model at
severity s of corruption c, E_clean its clean error and E^base those of the baseline model
(AlexNet in the paper):

  CE_c          = sum_s E_{s,c} / sum_s E^base_{s,c}
  relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)
  mCE = mean_c CE_c,  relative mCE = mean_c relative CE_c.

Values are fractions (1.0 = as robust as the baseline); the paper reports them x100 (%).
Errors are given per corruption as a sequence over severities or a mapping severity -> error
(``{"gaussian_noise": {"1": 0.3, ...}}``, the ``"accuracy"`` layout of the corruption eval task
turned into errors with ``errors_from_accuracy``). Host-side numpy: these are a few numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def _as_table(name: str, errors) -> dict[str, dict[str, float]]:
    """{corruption: {severity (str): error}} from sequences or mappings; checks the values."""
    if not isinstance(errors, Mapping) or not errors:
        raise ValueError(f"{name} must be a non-empty mapping corruption -> errors per severity, "
                         f"got {type(errors).__name__}")
    table = {}
    for corruption, per in errors.items():
        if isinstance(per, Mapping):
            items = {str(k): v for k, v in per.items()}
        else:
            values = list(np.asarray(per, np.float64).reshape(-1))
            items = {str(i + 1): v for i, v in enumerate(values)}
        if not items:
            raise ValueError(f"{name}[{corruption!r}] has no severities")
        for sev, v in items.items():
            v = float(v)
            if not math.isfinite(v) or not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}[{corruption!r}][{sev}] = {v!r} is not an error in "
                                 "[0, 1] (pass errors as fractions, not percentages or "
                                 "accuracies)")
            items[sev] = v
        table[str(corruption)] = items
    return table


def _check_error(name: str, value) -> float:
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} = {value!r} is not an error in [0, 1]")
    return value


def _matched(errors, base_errors):
    ours, base = _as_table("errors", errors), _as_table("base_errors", base_errors)
    missing = sorted(set(ours) - set(base))
    if missing:
        raise ValueError(f"the baseline has no errors for corruption(s) {missing}")
    for corruption, per in ours.items():
        if set(per) != set(base[corruption]):
            raise ValueError(f"{corruption}: severities {sorted(per)} differ from the "
                             f"baseline's {sorted(base[corruption])}")
    return ours, base


def corruption_errors(errors, base_errors) -> dict[str, float]:
    """CE_c = sum_s E_{s,c} / sum_s E^base_{s,c} for every corruption c of ``errors``."""
    ours, base = _matched(errors, base_errors)
    out = {}
    for corruption, per in ours.items():
        denominator = sum(base[corruption].values())
        if denominator <= 0:
            raise ValueError(f"{corruption}: the baseline's errors sum to 0, CE is undefined")
        out[corruption] = sum(per.values()) / denominator
    return out


def relative_corruption_errors(errors, clean_error, base_errors,
                               base_clean_error) -> dict[str, float]:
    """Relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)."""
    ours, base = _matched(errors, base_errors)
    clean = _check_error("clean_error", clean_error)
    base_clean = _check_error("base_clean_error", base_clean_error)
    out = {}
    for corruption, per in ours.items():
        denominator = sum(v - base_clean for v in base[corruption].values())
        if denominator == 0:
            raise ValueError(f"{corruption}: the baseline's error does not change under it "
                             "(sum_s E^base_s - E^base_clean = 0), relative CE is undefined")
        out[corruption] = sum(v - clean for v in per.values()) / denominator
    return out


def mean_corruption_error(errors, base_errors) -> float:
    """mCE = mean over corruptions of CE_c (a fraction; x100 for the paper's %)."""
    return float(np.mean(list(corruption_errors(errors, base_errors).values())))


def relative_mean_corruption_error(errors, clean_error, base_errors, base_clean_error) -> float:
    """Relative mCE = mean over corruptions of relative CE_c."""
    return float(np.mean(list(relative_corruption_errors(
        errors, clean_error, base_errors, base_clean_error).values())))


def errors_from_accuracy(accuracy) -> dict[str, dict[str, float]]:
    """{corruption: {severity: 1 - accuracy}} from the same layout of accuracies."""
    return {c: {s: 1.0 - a for s, a in per.items()}
            for c, per in _as_table("accuracy", accuracy).items()}
