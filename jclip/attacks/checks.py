"""Eager checks of attack inputs (values are checked only where they are concrete).

Under ``jax.jit`` the pixel range, label range and number ranges of traced values cannot be
inspected: those checks are skipped for tracers and only shapes / ranks / static settings are
checked. Call the attacks once eagerly (or check the data) to get the value checks.
"""

from __future__ import annotations

import jax
import numpy as np

NORMS = ("linf", "l2")


def is_concrete(x) -> bool:
    """True when ``x`` holds values (not a tracer under jit / grad / vmap)."""
    return not isinstance(x, jax.core.Tracer)


def check_pixels(x, name: str = "x") -> None:
    """Raises unless ``x`` is a floating [B, H, W, 3] batch of pixels in [0, 1].

    Pixels that are negative, or above 1, are named as the likely mistake: images already
    normalised with the model's mean / std (values about [-2, 2.7]), or uint8-range [0, 255]
    values. Only the rank, channels and dtype are checked for traced values.
    """
    shape = getattr(x, "shape", None)
    if shape is None:
        raise TypeError(f"{name} must be an array [B, H, W, 3] of pixels in [0, 1], "
                        f"got {type(x).__name__}")
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"{name} must be a batch [B, H, W, 3] (RGB, channels last) of pixels "
                         f"in [0, 1], got shape {tuple(shape)}")
    dtype = np.dtype(x.dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{name} must be floating pixels in [0, 1], got dtype {dtype}; "
                        "convert uint8 images with images.astype(np.float32) / 255")
    if not is_concrete(x):
        return
    values = np.asarray(x)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} has non-finite pixels (NaN or inf)")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0.0:
        raise ValueError(
            f"{name} has negative pixels (min {lo:.3g}): attacks take raw pixels in [0, 1] and "
            "normalise inside the forward; these look already normalised with a mean / std")
    if hi > 1.0:
        hint = ("these look like [0, 255] values; divide by 255" if hi > 2.0 else
                "these may be already normalised with a mean / std")
        raise ValueError(f"{name} has pixels above 1 (max {hi:.3g}): attacks take pixels in "
                         f"[0, 1]; {hint}")


def check_number(value, name: str, *, positive: bool = False) -> None:
    """Raises if a concrete ``value`` is negative (or, with ``positive``, not > 0) or non-finite."""
    if not is_concrete(value):
        return
    v = np.asarray(value)
    if v.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {v.shape}")
    v = float(v)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if positive and v <= 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")


def check_linf_fraction(value, name: str) -> None:
    """An l_inf radius or step above 1 spans the whole [0, 1] pixel range: almost surely a
    value in /255 units (``8`` for 8/255), which would replace the image outright."""
    if is_concrete(value) and float(np.asarray(value)) > 1.0:
        v = float(np.asarray(value))
        raise ValueError(f"{name}={v:g} exceeds the [0, 1] pixel range: l_inf attacks take "
                         f"fractions of the range, e.g. {name}={v:g}/255 for '{name} {v:g}'")


def check_steps(steps, name: str = "steps", minimum: int = 1) -> int:
    """``steps`` is static (a Python int >= minimum): it sets the length of the loop."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"{name} must be a Python int (static under jit), got "
                        f"{type(steps).__name__}")
    if steps < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {steps}")
    return int(steps)


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"Unknown norm {norm!r}; expected one of {NORMS}")
    return norm


def check_labels(labels, num_classes: int | None = None, batch: int | None = None,
                 name: str = "labels") -> None:
    """Raises unless labels is an integer [B] vector (values in [0, num_classes) if concrete)."""
    shape = getattr(labels, "shape", None)
    if shape is None or len(shape) != 1:
        raise ValueError(f"{name} must be an integer vector [B], got "
                         f"{'shape ' + str(tuple(shape)) if shape is not None else type(labels)}")
    if not np.issubdtype(np.dtype(labels.dtype), np.integer):
        raise TypeError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    if batch is not None and shape[0] != batch:
        raise ValueError(f"{name} has {shape[0]} entries but the batch has {batch} images")
    if num_classes is None or not is_concrete(labels) or shape[0] == 0:
        return
    values = np.asarray(labels)
    if values.min() < 0 or values.max() >= num_classes:
        raise ValueError(f"{name} must be in [0, {num_classes}), got values in "
                         f"[{values.min()}, {values.max()}]")


def check_per_example(loss, batch: int, name: str = "loss_fn") -> None:
    """The loss function must return per-example losses [B] (checked on shapes, also under jit)."""
    shape = tuple(getattr(loss, "shape", ()))
    if shape != (batch,):
        raise ValueError(f"{name} must return per-example losses of shape ({batch},), got shape "
                         f"{shape}; do not reduce over the batch")
