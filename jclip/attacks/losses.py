"""Per-example attack losses [B] of a logits or embedding function of [0, 1] pixels.

Each returns fn(x) -> [B], the quantity an attack maximises. ``targeted=True`` returns minus
the loss of the given (target) labels, so maximising it pulls the prediction to the target.

- cross_entropy: CE_i = logsumexp(z_i) - z_{i, y_i}.
- cw_margin (Carlini & Wagner, 2017, objective f_6 with confidence kappa):
    untargeted  -relu(z_y - max_{j != y} z_j + kappa)
    targeted    -relu(max_{j != t} z_j - z_t + kappa)
  the CW loss of TeCoA's evaluation (kappa = 50); it stops growing once the margin of a wrong
  (target) class exceeds kappa.
- dlr (Croce & Hein, 2020, eq. 6): -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12), pi the
  logits sorted in decreasing order.
- targeted dlr (Croce & Hein, 2020, eq. 7): -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12).
- embedding_distance (FARE, Schlarmann et al., 2024): ||f(x) - z_ref||_2^2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jclip.attacks.checks import check_labels

_DLR_EPS = 1e-12


def _logits(logits_fn, x, labels):
    z = logits_fn(x)
    if z.ndim != 2:
        raise ValueError(f"logits_fn must return logits [B, C], got shape {tuple(z.shape)}")
    check_labels(labels, z.shape[1], z.shape[0])
    return z


def _true_and_other(z, labels):
    """(z_y [B], max_{j != y} z_j [B])."""
    onehot = jax.nn.one_hot(labels, z.shape[-1], dtype=bool)
    z_y = jnp.sum(jnp.where(onehot, z, 0.0), axis=-1)
    z_other = jnp.max(jnp.where(onehot, -jnp.inf, z), axis=-1)
    return z_y, z_other


def ce_of_logits(z, labels):
    """Per-example cross-entropy [B] of logits [B, C] and integer labels [B]."""
    return jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, labels[:, None], -1)[:, 0]


def dlr_of_logits(z, labels):
    """Untargeted DLR [B] of logits [B, C] (C >= 3), Croce & Hein (2020) eq. 6."""
    z_y, z_other = _true_and_other(z, labels)
    zs = jnp.sort(z, axis=-1)
    return -(z_y - z_other) / (zs[:, -1] - zs[:, -3] + _DLR_EPS)


def dlr_targeted_of_logits(z, labels, targets):
    """Targeted DLR [B] of logits [B, C] (C >= 4), Croce & Hein (2020) eq. 7."""
    z_y = jnp.take_along_axis(z, labels[:, None], -1)[:, 0]
    z_t = jnp.take_along_axis(z, targets[:, None], -1)[:, 0]
    zs = jnp.sort(z, axis=-1)
    return -(z_y - z_t) / (zs[:, -1] - 0.5 * (zs[:, -3] + zs[:, -4]) + _DLR_EPS)


def cross_entropy(logits_fn, labels, targeted: bool = False):
    """fn(x) -> CE [B] (targeted: -CE of the target labels)."""
    labels = jnp.asarray(labels)
    sign = -1.0 if targeted else 1.0
    return lambda x: sign * ce_of_logits(_logits(logits_fn, x, labels), labels)


def cw_margin(logits_fn, labels, kappa: float = 50.0, targeted: bool = False):
    """fn(x) -> Carlini-Wagner loss -relu(margin + kappa) [B] (see the module docstring)."""
    labels = jnp.asarray(labels)

    def fn(x):
        z_y, z_other = _true_and_other(_logits(logits_fn, x, labels), labels)
        gap = (z_other - z_y) if targeted else (z_y - z_other)
        return -jax.nn.relu(gap + kappa)

    return fn


def dlr(logits_fn, labels, targets=None):
    """fn(x) -> DLR [B]; with ``targets`` [B] the targeted DLR of Croce & Hein (2020)."""
    labels = jnp.asarray(labels)

    def fn(x):
        z = _logits(logits_fn, x, labels)
        if targets is None:
            if z.shape[1] < 3:
                raise ValueError(f"DLR needs at least 3 classes, got {z.shape[1]}")
            return dlr_of_logits(z, labels)
        if z.shape[1] < 4:
            raise ValueError(f"targeted DLR needs at least 4 classes, got {z.shape[1]}")
        check_labels(targets, z.shape[1], z.shape[0], name="targets")
        return dlr_targeted_of_logits(z, labels, targets)

    return fn


def dlr_targeted(logits_fn, labels, targets):
    """fn(x) -> targeted DLR [B] (Croce & Hein, 2020, eq. 7)."""
    return dlr(logits_fn, labels, targets)


def embedding_distance(embed_fn, z_ref):
    """fn(x) -> ||embed_fn(x) - z_ref||_2^2 per example [B] (FARE's loss, unnormalised)."""

    def fn(x):
        z = embed_fn(x)
        if z.shape != z_ref.shape:
            raise ValueError(f"z_ref has shape {tuple(z_ref.shape)} but the embeddings have "
                             f"shape {tuple(z.shape)}")
        return jnp.sum((z - z_ref) ** 2, axis=-1)

    return fn
