"""Small array helpers shared by every layer (models, losses, metrics, heads, evals, train)."""

from __future__ import annotations

import jax.numpy as jnp


def l2_normalize(x, axis: int = -1, *, eps: float = 0.0):
    """x / max(||x||_2, eps) along ``axis``.

    With the default ``eps=0`` a zero row gives NaN, as transformers' CLIP does; training code
    passes a small ``eps`` so that a degenerate row cannot poison a step.
    """
    norm = jnp.linalg.norm(x, axis=axis, keepdims=True)
    return x / (jnp.maximum(norm, eps) if eps else norm)
