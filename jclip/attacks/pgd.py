"""Projected gradient descent (ascent) attacks on [0, 1] pixels (Madry et al., 2018).

For per-example losses L_i(x) (``loss_fn(x) -> [B]``), with ``g = grad_x sum_i L_i(x)``:

l_inf:  delta_0 ~ U(-eps, eps)^n (or 0),  x_0 = clip(x + delta_0, 0, 1)
        x_{t+1} = clip(x + clip(x_t + a * sign(g_t) - x, -eps, eps), 0, 1)
l_2:    delta_0 uniform in the l2 ball of radius eps (or 0), x_0 = clip(x + delta_0, 0, 1)
        x_{t+1} = clip(x + P_eps(x_t + a * g_t / ||g_t||_2 - x), 0, 1),
        P_eps(d) = d * min(1, eps / ||d||_2), norms per example over H, W, 3.

These are the updates of foolbox 3's ``LinfPGD`` / ``L2PGD`` (projection, then clip to the
bounds; ``||.||`` floored at 1e-12), which the tests compare against. The last iterate is
returned (no best-loss bookkeeping), as foolbox and torchattacks' ``PGD`` do.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jclip.attacks.checks import (
    check_linf_fraction,
    check_norm,
    check_number,
    check_per_example,
    check_pixels,
    check_steps,
)

_TINY = 1e-12


def _l2_norms(d: jax.Array) -> jax.Array:
    """[B, ...] -> [B, 1, 1, 1] per-example l2 norms, floored at 1e-12."""
    n = jnp.sqrt(jnp.sum(d * d, axis=tuple(range(1, d.ndim)), keepdims=True))
    return jnp.maximum(n, _TINY)


def project(delta: jax.Array, eps, norm: str) -> jax.Array:
    """Projection of perturbations [B, ...] onto the eps-ball of ``norm`` (per example)."""
    if norm == "linf":
        return jnp.clip(delta, -eps, eps)
    return delta * jnp.minimum(1.0, eps / _l2_norms(delta))


def ascent_direction(grad: jax.Array, norm: str) -> jax.Array:
    """Steepest-ascent direction of unit ``norm``: sign(g) (l_inf), g / ||g||_2 (l_2)."""
    if norm == "linf":
        return jnp.sign(grad)
    return grad / _l2_norms(grad)


def sample_start(key, x: jax.Array, eps, norm: str) -> jax.Array:
    """A random perturbation: U(-eps, eps) per pixel (l_inf), uniform in the l2 ball (l_2).

    The l2 sample is eps * u^(1/n) * g / ||g|| with g ~ N(0, I_n) and u ~ U(0, 1), n the number
    of pixel values per example (uniform in the ball's volume).
    """
    if norm == "linf":
        return jax.random.uniform(key, x.shape, x.dtype, -1.0, 1.0) * eps
    kg, ku = jax.random.split(key)
    g = jax.random.normal(kg, x.shape, x.dtype)
    n = x[0].size
    u = jax.random.uniform(ku, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype)
    return eps * u ** (1.0 / n) * g / _l2_norms(g)


def check_attack_args(x, eps, step_size, steps, norm) -> int:
    """Shared eager checks of pgd / apgd / counterattack settings; returns the static steps."""
    check_pixels(x)
    check_number(eps, "eps")
    if step_size is not None:
        check_number(step_size, "step_size", positive=True)
    check_norm(norm)
    if norm == "linf":
        check_linf_fraction(eps, "eps")
        if step_size is not None:
            check_linf_fraction(step_size, "step_size")
    return check_steps(steps)


def pgd(loss_fn, x, key, *, eps, step_size, steps: int, norm: str = "linf",
        random_start: bool = True) -> jax.Array:
    """Untargeted PGD: maximises ``loss_fn`` over the eps-ball around ``x`` within [0, 1].

    Args:
      loss_fn: fn(x [B, H, W, 3]) -> per-example losses [B] to maximise (the gradient is that
        of their sum, so examples do not interact). For a targeted attack pass a loss that is
        minus the loss of the target label (``losses.cross_entropy(..., targeted=True)``).
      x: float32 [B, H, W, 3] pixels in [0, 1].
      key: a ``jax.random`` key (used only with ``random_start``).
      eps: radius of the ball (fraction of the pixel range: 1/255 for "eps 1"); may be traced.
      step_size: step length a (fraction units, e.g. 1/255); may be traced.
      steps: number of gradient steps (a static Python int >= 1).
      norm: "linf" or "l2".
      random_start: start from a random point of the ball instead of x.
    Returns:
      x_adv float32 [B, H, W, 3] with ||x_adv - x|| <= eps and pixels in [0, 1].

    Pure and jit-able; the same key gives the same result. Pixel range, eps >= 0 and
    step_size > 0 are checked only when the values are concrete (not under jit); rank, norm,
    steps and the loss's [B] shape are always checked.
    """
    steps = check_attack_args(x, eps, step_size, steps, norm)
    x = jnp.asarray(x, jnp.float32)
    check_per_example(jax.eval_shape(loss_fn, x), x.shape[0])
    grad_fn = jax.grad(lambda z: jnp.sum(loss_fn(z)))

    if random_start:
        x0 = jnp.clip(x + sample_start(key, x, eps, norm), 0.0, 1.0)
    else:
        x0 = x

    def step(_, xt):
        d = ascent_direction(grad_fn(xt), norm)
        return jnp.clip(x + project(xt + step_size * d - x, eps, norm), 0.0, 1.0)

    return jax.lax.fori_loop(0, steps, step, x0)
