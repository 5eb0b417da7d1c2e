"""Test-time counterattacks (Xing et al., 2025, "CLIP is Strong Enough to Fight Back:
Test-time Counterattacks towards Zero-shot Adversarial Robustness of CLIP").

With f the unnormalised image embedding of a frozen model and x in [0, 1]:

    delta_0 ~ U(-eps, eps), then clipped so that x + delta_0 is in [0, 1]
    tau     = ||f(x + delta_0) - f(x)||_2 / ||f(x)||_2                        (per example)
    delta_{k+1} = clip(clip(delta_k + a * sign(grad_delta L), -eps, eps), -x, 1 - x),
              L = sum_i ||f(x_i + delta_i) - f(x_i)||_2^2,   k = 0 .. K-1
    delta*  = sum_{k=0..K} w_k delta_k,  w = softmax(beta * k)   if tau < tau_threshold
            = delta_0                                            otherwise
    x_defended = x + delta*

as the reference code's ``tau_thres_weighted_counterattacks`` computes it (defaults of its
evaluation: eps = 4/255, a = 1/255, K = 2, tau_threshold = 0.2, beta = 2). A small tau means
x sits in a "false stable" region typical of adversarial images, which the counterattack
pushes out of; a large tau (a clean image) keeps the random noise only.

Differentiating ``counterattack`` w.r.t. x (an adaptive attack through the defence): the
sign steps and the tau rule are piecewise constant, so their derivative is zero; the exact
derivative of x + delta* is the identity where the [0, 1] clips are inactive. The inner
gradient is therefore wrapped in ``stop_gradient``: the same derivative without a
second-order pass through the model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jclip.attacks.checks import check_number, check_pixels, check_steps


def counterattack_steps(embed_fn, x, key, *, eps=4 / 255, step_size=1 / 255, steps: int = 2):
    """The counterattack's perturbations and tau.

    Args:
      embed_fn: fn(x [B, H, W, 3] in [0, 1]) -> unnormalised image embeddings [B, D]
        (``embedding_fn(model, params)``).
      x: float32 [B, H, W, 3] in [0, 1]; key: the random start's ``jax.random`` key.
      eps, step_size: l_inf radius and sign-step length (fraction units); may be traced.
      steps: K >= 0 ascent steps (static; K = 0 is the paper's random-noise baseline).
    Returns:
      (deltas [K + 1, B, H, W, 3] = delta_0 .. delta_K, tau [B]).
    """
    check_pixels(x)
    check_number(eps, "eps")
    check_number(step_size, "step_size", positive=True)
    steps = check_steps(steps, minimum=0)
    x = jnp.asarray(x, jnp.float32)
    z_clean = jax.lax.stop_gradient(embed_fn(x))
    lo, hi = -x, 1.0 - x
    delta0 = jnp.clip(jax.random.uniform(key, x.shape, x.dtype, -1.0, 1.0) * eps, lo, hi)

    def distance(delta):
        z = embed_fn(x + delta)
        return jnp.sum((z - z_clean) ** 2, axis=-1)  # [B]

    tau = jnp.sqrt(distance(delta0)) / jnp.linalg.norm(z_clean, axis=-1)
    grad_fn = jax.grad(lambda d: jnp.sum(distance(d)))

    def step(delta, _):
        g = jax.lax.stop_gradient(grad_fn(delta))
        delta = jnp.clip(jnp.clip(delta + step_size * jnp.sign(g), -eps, eps), lo, hi)
        return delta, delta

    _, later = jax.lax.scan(step, delta0, None, length=steps)
    return jnp.concatenate([delta0[None], later]), jax.lax.stop_gradient(tau)


def combine(deltas, tau, *, tau_threshold=0.2, beta=2.0):
    """delta* [B, H, W, 3] from deltas [K + 1, B, ...] and tau [B] (the module's weights rule)."""
    k = jnp.arange(deltas.shape[0], dtype=deltas.dtype)
    soft = jax.nn.softmax(beta * k)  # [K + 1]
    hard = jnp.zeros_like(soft).at[0].set(1.0)
    weights = jnp.where((tau < tau_threshold)[:, None], soft[None], hard[None])  # [B, K + 1]
    return jnp.einsum("bk,kb...->b...", weights, deltas)


def counterattack(embed_fn, x, key, *, eps=4 / 255, step_size=1 / 255, steps: int = 2,
                  tau_threshold=0.2, beta=2.0):
    """x_defended = x + delta* [B, H, W, 3] (see the module docstring; Xing et al., 2025).

    Pure and jit-able (``steps`` static); pixel range, eps >= 0 and step_size > 0 are checked
    only for concrete values (not under jit).
    """
    check_number(tau_threshold, "tau_threshold")
    check_number(beta, "beta")
    deltas, tau = counterattack_steps(embed_fn, x, key, eps=eps, step_size=step_size,
                                      steps=steps)
    delta = combine(deltas, tau, tau_threshold=tau_threshold, beta=beta)
    # A convex combination of points of [0, 1]: the clip only removes float rounding.
    return jnp.clip(jnp.asarray(x, jnp.float32) + delta, 0.0, 1.0)
