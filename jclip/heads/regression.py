"""Least-squares regression on frozen features: the regression baseline of ordinal tasks.

Ridge regression with an unpenalised intercept (Hoerl & Kennard, 1970), in closed form on the
centred features: w = (X_c^T X_c + lambda I)^-1 X_c^T (y - mean y), b = mean y - mean(X) w;
``l2 = 0`` is ordinary least squares (solved with the pseudo-inverse).
"""

from __future__ import annotations

import numpy as np


def ridge_fit(features, targets, l2: float = 0.0):
    """[N, D] features, [N] targets -> (w [D], b) in float64."""
    x = np.asarray(features, np.float64)
    y = np.asarray(targets, np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"features must be [N, D] and targets [N], got {x.shape} and {y.shape}")
    if x.shape[0] < 2:
        raise ValueError("least-squares regression needs at least 2 examples")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("features and targets must be finite")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    mx, my = x.mean(0), y.mean()
    xc = x - mx
    gram = xc.T @ xc + l2 * np.eye(x.shape[1])
    w = np.linalg.pinv(gram, hermitian=True) @ (xc.T @ (y - my))
    return w, float(my - mx @ w)


def ridge_predict(params, features) -> np.ndarray:
    w, b = params
    return np.asarray(features, np.float64) @ w + b
