"""Input checks shared by the metrics: shapes are checked always, values only when concrete.

Non-finite values: a metric given concrete NaN / inf scores raises (``check_finite``); under jit,
where values cannot be checked, each metric counts them against the model (a NaN prediction is a
miss, a NaN in-distribution score ranks last), never for it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds values (not a tracer inside jit/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def as_float_array(name: str, x, ndim: int):
    """``x`` as a floating jnp array of rank ``ndim``; raises ValueError/TypeError otherwise."""
    x = jnp.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"{name} must have rank {ndim}, got shape {tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        if jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_:
            x = x.astype(jnp.float32)
        else:
            raise TypeError(f"{name} must be a real array, got dtype {x.dtype}")
    return x


def as_labels(name: str, labels, n: int, num_classes: int | None = None):
    """Integer labels of shape [n], checked to lie in [0, num_classes) when concrete."""
    labels = jnp.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(labels.shape)}")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"{name} must be integer class ids, got dtype {labels.dtype}")
    if num_classes is not None and n and is_concrete(labels):
        lo, hi = int(jnp.min(labels)), int(jnp.max(labels))
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"{name} must lie in [0, {num_classes}), got values in [{lo}, {hi}]")
    return labels.astype(jnp.int32)


def as_mask(mask, n: int):
    """Float weights [n] from an optional boolean/0-1 mask (None = all ones)."""
    if mask is None:
        return jnp.ones((n,), jnp.float32)
    mask = jnp.asarray(mask)
    if mask.shape != (n,):
        raise ValueError(f"mask must have shape ({n},), got {tuple(mask.shape)}")
    return mask.astype(jnp.float32)


def check_nonempty(name: str, x) -> None:
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty; the metric needs at least one row")


def check_same_dim(a_name: str, a, b_name: str, b) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{a_name} and {b_name} must have the same feature dimension, got "
            f"{a.shape[-1]} and {b.shape[-1]}"
        )


def check_finite(name: str, x) -> None:
    """Raises ValueError (with the count) if concrete ``x`` holds NaN or inf."""
    if is_concrete(x):
        bad = int(jnp.size(x) - jnp.sum(jnp.isfinite(x)))
        if bad:
            raise ValueError(f"{name} contains {bad} NaN or inf values: the metric would be "
                             "meaningless (check the model's outputs)")


def positive_scalar(name: str, value) -> float:
    """A Python float > 0 (for static hyper-parameters such as sigma)."""
    try:
        value = float(value)
    except TypeError as err:
        raise TypeError(f"{name} must be a positive number, got {value!r}") from err
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value
