"""Auto-PGD and an AutoAttack-style evaluation (Croce & Hein, 2020, "Reliable evaluation of
adversarial robustness with an ensemble of diverse parameter-free attacks", Algorithm 1).

APGD on per-example losses L_i of logits z(x) (CE, DLR eq. 6, targeted DLR eq. 7):

- start x_0: l_inf x + eps * t / max|t| with t ~ U(-1, 1)^n; l_2 x + eps * t / ||t|| with
  t ~ N(0, I) (the reference code's starts, on the sphere of the ball), clipped to [0, 1];
- step size eta_0 = 2 eps per example; momentum alpha = 0.75 (alpha = 1 for the first step):
    z_{k+1} = P(x_k + eta * s(grad L(x_k))),  s = sign (l_inf) or g / ||g|| (l_2)
    x_{k+1} = P(x_k + alpha (z_{k+1} - x_k) + (1 - alpha)(x_k - x_{k-1}))
  with P the projection onto the eps-ball and [0, 1];
- checkpoints: the first after p_1 = max(int(0.22 N), 1) steps, then intervals shrinking by
  max(int(0.03 N), 1) down to max(int(0.06 N), 1) (N = steps);
- at a checkpoint, per example: condition 1 = the loss rose in at most rho * k of the last k
  steps (rho = 0.75); condition 2 = the step size was not reduced at the previous checkpoint
  and the best loss did not improve since; if either holds, eta <- eta / 2 and the iterate
  (and its gradient) restart from the best point x_max.

Details follow the reference implementation as torchattacks 3.5 ships it (``APGD``,
``APGDT``): the loss comparison of the first checkpoint reads the (zero) last row of the
loss history at index -1; the returned image is the last misclassified iterate, or the
clean image where the attack failed; restarts and target classes only keep what fooled the
model. Here every restart runs on the whole batch (a batch-parallel, jit-able loop) and the
results are merged per example, which gives the same per-example outcome.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jclip.attacks.checks import check_labels, check_norm, check_number, check_pixels, check_steps
from jclip.attacks.losses import ce_of_logits, dlr_of_logits, dlr_targeted_of_logits

_TINY = 1e-12
LOSSES = ("ce", "dlr", "dlr-targeted")


def schedule(steps: int) -> tuple[int, int, int]:
    """(first checkpoint interval p_1, minimal interval, interval decrease) for N steps."""
    return max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)


def _sq_norm(d):
    return jnp.sum(d * d, axis=(1, 2, 3), keepdims=True)


def _start(key, x, eps, norm):
    if norm == "linf":
        t = jax.random.uniform(key, x.shape, x.dtype, -1.0, 1.0)
        t = t / jnp.max(jnp.abs(t), axis=(1, 2, 3), keepdims=True)
    else:
        t = jax.random.normal(key, x.shape, x.dtype)
        t = t / (jnp.sqrt(_sq_norm(t)) + _TINY)
    return jnp.clip(x + eps * t, 0.0, 1.0)


def _step(x, x_adv, x_old, grad, eta, a, eps, norm):
    """One momentum step of Algorithm 1 (the reference code's projections)."""
    if norm == "linf":
        def proj(v):
            return jnp.clip(jnp.clip(v, x - eps, x + eps), 0.0, 1.0)

        z = proj(x_adv + eta * jnp.sign(grad))
        return proj(x_adv + (z - x_adv) * a + (x_adv - x_old) * (1 - a))

    def proj(v, floor):
        d = v - x
        n = jnp.sqrt(_sq_norm(d))
        return jnp.clip(x + d / (n + _TINY) * jnp.minimum(eps, n + floor), 0.0, 1.0)

    z = proj(x_adv + eta * grad / (jnp.sqrt(_sq_norm(grad)) + _TINY), 0.0)
    return proj(x_adv + (z - x_adv) * a + (x_adv - x_old) * (1 - a), _TINY)


def _single_run(logits_fn, loss_of_logits, x, labels, key, eps, steps, norm, rho):
    """One APGD run -> (x_best, robust [B] bool, loss_best [B], x_best_adv)."""
    p1, p_min, p_decr = schedule(steps)
    batch = x.shape[0]
    rows = (batch, 1, 1, 1)

    def value_grad(xa):
        def total(v):
            z = logits_fn(v)
            per = loss_of_logits(z, labels)
            return jnp.sum(per), (per, z)

        (_, (per, z)), g = jax.value_and_grad(total, has_aux=True)(xa)
        return per, jnp.argmax(z, -1) == labels, g

    x0 = _start(key, x, eps, norm)
    loss0, pred0, grad0 = value_grad(x0)
    state = dict(
        x_adv=x0, x_old=x0, grad=grad0, x_best=x0, grad_best=grad0, loss_best=loss0,
        x_best_adv=x0, robust=pred0, eta=jnp.full(rows, 2.0, x.dtype) * eps,
        history=jnp.zeros((steps, batch), loss0.dtype), counter=jnp.int32(0), k=jnp.int32(p1),
        loss_last_check=loss0, reduced_last_check=jnp.ones((batch,), bool),
    )
    back = jnp.arange(steps)

    def body(i, s):
        a = jnp.where(i > 0, 0.75, 1.0)
        x_new = _step(x, s["x_adv"], s["x_old"], s["grad"], s["eta"], a, eps, norm)
        loss, pred, grad = value_grad(x_new)
        s = dict(s, x_old=s["x_adv"], x_adv=x_new, grad=grad)
        s["robust"] = s["robust"] & pred
        s["x_best_adv"] = jnp.where((~pred).reshape(rows), x_new, s["x_best_adv"])
        s["history"] = s["history"].at[i].set(loss)
        better = loss > s["loss_best"]
        s["x_best"] = jnp.where(better.reshape(rows), x_new, s["x_best"])
        s["grad_best"] = jnp.where(better.reshape(rows), grad, s["grad_best"])
        s["loss_best"] = jnp.where(better, loss, s["loss_best"])
        counter = s["counter"] + 1
        check = counter == s["k"]
        # Condition 1: count of increases over the last k steps (index -1 wraps, as reference).
        h = s["history"]
        rises = h[(i - back) % steps] > h[(i - back - 1) % steps]
        rises = jnp.sum(jnp.where((back < s["k"])[:, None], rises, False), axis=0)
        oscillates = rises <= s["k"] * rho
        no_gain = (~s["reduced_last_check"]) & (s["loss_last_check"] >= s["loss_best"])
        reduce = check & (oscillates | no_gain)
        r4 = reduce.reshape(rows)
        s["eta"] = jnp.where(r4, s["eta"] / 2.0, s["eta"])
        s["x_adv"] = jnp.where(r4, s["x_best"], s["x_adv"])
        s["grad"] = jnp.where(r4, s["grad_best"], s["grad"])
        s["reduced_last_check"] = jnp.where(check, oscillates | no_gain,
                                            s["reduced_last_check"])
        s["loss_last_check"] = jnp.where(check, s["loss_best"], s["loss_last_check"])
        s["counter"] = jnp.where(check, 0, counter)
        s["k"] = jnp.where(check, jnp.maximum(s["k"] - p_decr, p_min), s["k"])
        return s

    s = jax.lax.fori_loop(0, steps, body, state)
    return s["x_best"], s["robust"], s["loss_best"], s["x_best_adv"]


def _loss_of_logits(loss, targets=None):
    if callable(loss):
        return loss
    if loss == "ce":
        return ce_of_logits
    if loss == "dlr":
        return dlr_of_logits
    if loss == "dlr-targeted":
        return lambda z, y: dlr_targeted_of_logits(z, y, targets)
    raise ValueError(f"Unknown APGD loss {loss!r}; expected one of {LOSSES} or a function "
                     "(logits [B, C], labels [B]) -> [B]")


def _check(x, labels, eps, norm, steps, rho, n_restarts, num_classes):
    check_pixels(x)
    check_number(eps, "eps")
    check_norm(norm)
    steps = check_steps(steps)
    check_steps(n_restarts, "n_restarts")
    check_number(rho, "rho", positive=True)
    check_labels(labels, num_classes, x.shape[0])
    return steps


def apgd(loss, logits_fn, x, labels, key, *, eps, steps: int = 100, norm: str = "linf",
         n_restarts: int = 1, n_target_classes: int = 9, rho: float = 0.75):
    """APGD (Croce & Hein, 2020, Algorithm 1); APGD-T with ``loss="dlr-targeted"``.

    Args:
      loss: "ce", "dlr", "dlr-targeted" (APGD-T: targeted DLR towards each of the
        ``n_target_classes`` highest-scored other classes of the clean image in turn, as
        AutoAttack's apgd-t), or fn(logits [B, C], labels [B]) -> per-example losses [B].
      logits_fn: fn(x [B, H, W, 3] in [0, 1]) -> logits [B, C] (e.g. ``zeroshot_logits_fn``).
      x: float32 [B, H, W, 3] pixels in [0, 1]; labels: int [B] true classes.
      key: ``jax.random`` key (the random starts; one sub-key per restart and target).
      eps: radius (fraction units: 1/255 for "eps 1"); may be traced.
      steps: iterations N per run (static int >= 1); n_restarts: runs per loss / target.
      norm: "linf" or "l2"; rho: the oscillation threshold of condition 1.
    Returns:
      (x_adv [B, H, W, 3], robust [B] bool): x_adv is a misclassified point of the ball where
      the attack succeeded and the clean image where it failed; robust says whether every
      run left the example correctly classified (clean-misclassified examples count as not
      robust and are not attacked).

    Jit-able (``steps``, ``n_restarts``, ``n_target_classes`` and ``loss`` static). Pixel
    range, eps, rho and label range are checked only for concrete values (not under jit).
    """
    check_pixels(x)
    clean = logits_fn(x)
    if getattr(clean, "ndim", 0) != 2:
        raise ValueError(f"logits_fn must return logits [B, C], got shape "
                         f"{tuple(getattr(clean, 'shape', ()))}")
    num_classes = clean.shape[1]
    labels = jnp.asarray(labels)
    steps = _check(x, labels, eps, norm, steps, rho, n_restarts, num_classes)
    x = x.astype(jnp.float32)
    robust = jnp.argmax(clean, -1) == labels
    adv = x
    if loss == "dlr-targeted":
        if num_classes < 4:
            raise ValueError(f"APGD-T (targeted DLR) needs at least 4 classes, got {num_classes}")
        n_targets = check_steps(n_target_classes, "n_target_classes")
        if n_targets > num_classes - 1:
            raise ValueError(f"n_target_classes={n_targets} but there are only "
                             f"{num_classes - 1} other classes")
        order = jnp.argsort(clean, axis=-1)
        targets = jnp.stack([order[:, -t] for t in range(2, n_targets + 2)])  # [T, B]
    else:
        if loss == "dlr" and num_classes < 3:
            raise ValueError(f"DLR needs at least 3 classes, got {num_classes}")
        targets = jnp.zeros((1, x.shape[0]), jnp.int32)  # unused by untargeted losses
    targets = jnp.repeat(targets, n_restarts, axis=0)  # one run per (target, restart)
    keys = jax.random.split(key, targets.shape[0])

    def run(carry, item):
        robust, adv = carry
        run_key, run_targets = item
        fn = _loss_of_logits(loss, run_targets)
        _, robust_run, _, adv_run = _single_run(logits_fn, fn, x, labels, run_key, eps, steps,
                                                norm, rho)
        fooled = robust & ~robust_run
        return (robust & robust_run, jnp.where(fooled[:, None, None, None], adv_run, adv)), None

    (robust, adv), _ = jax.lax.scan(run, (robust, adv), (keys, targets))
    return adv, robust


def autoattack_eval(logits_fn, x, labels, key, *, eps, steps: int = 100, norm: str = "linf",
                    n_restarts: int = 1, n_target_classes: int = 9):
    """Per-example robustness under APGD-CE then APGD-T (AutoAttack's "custom" version with
    attacks ["apgd-ce", "apgd-t"], as FARE evaluates; Croce & Hein, 2020).

    Both attacks run on the whole batch (batch-parallel) instead of AutoAttack's "only the
    still-robust points", which gives the same per-example outcome. Targeted DLR needs
    C >= 4 classes: with fewer, only APGD-CE runs and the result has no "apgd-t" entry.

    An example counts as robust only if it is correctly classified clean and under every
    attack (the worst case over attacks). ``n_target_classes`` is capped at C - 1.

    Returns:
      dict with "clean" [B] bool, "apgd-ce" [B] bool (robust to APGD-CE), "apgd-t" [B] bool,
      "robust" [B] bool (all of them), "x_adv" [B, H, W, 3] (a misclassified point where some
      attack succeeded, else the clean image).
    """
    check_pixels(x)
    clean_logits = logits_fn(x)
    clean = jnp.argmax(clean_logits, -1) == jnp.asarray(labels)
    k_ce, k_t = jax.random.split(key)
    adv_ce, rob_ce = apgd("ce", logits_fn, x, labels, k_ce, eps=eps, steps=steps, norm=norm,
                          n_restarts=n_restarts)
    num_classes = clean_logits.shape[1]
    out = {"clean": clean, "apgd-ce": rob_ce}
    robust, adv = rob_ce, adv_ce
    if num_classes >= 4:
        adv_t, rob_t = apgd("dlr-targeted", logits_fn, x, labels, k_t, eps=eps, steps=steps,
                            norm=norm, n_restarts=n_restarts,
                            n_target_classes=min(n_target_classes, num_classes - 1))
        out["apgd-t"] = rob_t
        adv = jnp.where((robust & ~rob_t)[:, None, None, None], adv_t, adv)
        robust = robust & rob_t
    out.update(robust=robust, x_adv=adv)
    return out
