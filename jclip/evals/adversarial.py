"""Zero-shot accuracy under adversarial attacks, with an optional test-time defence.

Images are read as uint8, resized / cropped on the host to the model's input size and given
to the attacks as [0, 1] pixels; normalisation happens inside the differentiable forward
(``jclip.attacks.zeroshot_logits_fn``, logits = 100 * cos(image, class prompt ensemble)).

Attacks (``attack``): "pgd" (l_inf / l_2 PGD with a random start on the summed CE, Madry et
al., 2018), "cw" (the same PGD on the Carlini-Wagner margin, kappa = 50), "apgd" (APGD-CE,
Croce & Hein, 2020) and "autoattack" (APGD-CE then APGD-T, worst case per example). ``eps``
and ``step_size`` are in units of 1/255 by default (``units="255"``, as papers write "eps 1"),
or fractions of the pixel range with ``units="fraction"``; APGD picks its own step sizes.

Defence ``"ttc"``: test-time counterattacks (Xing et al., 2025) on the clean and on the
attacked images (``ttc_*`` keys, same units). By default the attack is made on the undefended
model (the paper's protocol); ``adaptive=True`` attacks the defended model end to end: the
counterattack's fixed steps are differentiated through (sign steps and the tau rule have zero
derivative, so the gradient is that of the loss at the defended image; no BPDA
approximation), with the same random start as the evaluation uses.

Metrics: ``clean_acc1``, ``robust_acc1`` (accuracy on the attacked images) and with ttc
``clean_ttc_acc1``, ``robust_ttc_acc1``; the result holds the attack's full settings.

Attacks run in float32 with the context's float32 params whatever ``ctx.precision`` says, one
jitted program per task (batch shapes are fixed by the padded batches), in one process (each
process of a multi-process run evaluates the whole split).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jclip import attacks
from jclip.evals.zeroshot_classification import templates_of

ATTACKS = ("pgd", "cw", "apgd", "autoattack")
DEFENSES = (None, "ttc")
UNITS = {"255": 1 / 255, "fraction": 1.0}

DEFAULTS = {
    "attack": "pgd",  # one of ATTACKS
    "eps": 1,  # attack radius, in ``units``
    "steps": 10,  # attack iterations
    "step_size": 1,  # PGD / CW step, in ``units`` (APGD sets its own)
    "norm": "linf",  # "linf" or "l2"
    "units": "255",  # "255": eps / step sizes in 1/255; "fraction": of the [0, 1] range
    "defense": None,  # None or "ttc" (test-time counterattacks)
    "adaptive": False,  # attack through the defence
    "seed": 0,  # random starts of the attack and of the defence
    "num_examples": None,  # evaluate the first N examples of the split (None: all)
    "templates": None,  # zero-shot templates (a list, a name or a file); None: the dataset's
    # Counterattack budget in ``units``; None: the paper's 4/255 and 1/255 whatever the units.
    "ttc_eps": None, "ttc_steps": 2, "ttc_step_size": None,
    "ttc_tau_threshold": 0.2, "ttc_beta": 2.0,
}


def check(task: dict) -> None:
    """The task contract's check: bad attack / defence settings raise before any encoding."""
    settings(task)


def settings(task: dict) -> dict:
    """The validated attack / defence settings of a task, eps and steps as fractions too."""
    attack, norm, units, defense = (task["attack"], task["norm"], str(task["units"]),
                                    task["defense"])
    if attack not in ATTACKS:
        raise ValueError(f"Unknown attack {attack!r}; expected one of {ATTACKS}")
    if norm not in ("linf", "l2"):
        raise ValueError(f"Unknown norm {norm!r}; expected 'linf' or 'l2'")
    if units not in UNITS:
        raise ValueError(f"Unknown units {units!r}; expected '255' (eps 1 = 1/255) or "
                         "'fraction'")
    if defense not in DEFENSES:
        raise ValueError(f"Unknown defense {defense!r}; expected None or 'ttc'")
    if not isinstance(task["adaptive"], bool):
        raise TypeError(f"adaptive must be True or False, got {task['adaptive']!r}")
    if task["adaptive"] and defense is None:
        raise ValueError("adaptive=True attacks through a defence: set defense='ttc'")
    for key in ("steps", "ttc_steps", "seed"):
        value = task[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{key} must be an int, got {value!r}")
    if task["steps"] < 1:
        raise ValueError(f"steps must be >= 1, got {task['steps']}")
    if task["ttc_steps"] < 0:
        raise ValueError(f"ttc_steps must be >= 0, got {task['ttc_steps']}")
    n = task["num_examples"]
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"num_examples must be a positive int or None, got {n!r}")
    scale = UNITS[units]
    out = {"attack": attack, "norm": norm, "units": units, "steps": int(task["steps"]),
           "seed": int(task["seed"]), "defense": defense, "adaptive": task["adaptive"]}
    numbers = [("eps", False), ("step_size", True)]
    if defense == "ttc":
        task = dict(task)
        for key, paper in (("ttc_eps", 4.0), ("ttc_step_size", 1.0)):
            if task[key] is None:  # the paper's budget, in the task's units
                task[key] = paper * (1 / 255) / scale
        numbers += [("ttc_eps", False), ("ttc_step_size", True), ("ttc_tau_threshold", False),
                    ("ttc_beta", False)]
        out["ttc_steps"] = int(task["ttc_steps"])
    for key, positive in numbers:
        value = task[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or \
                not np.isfinite(value) or value < 0 or (positive and value == 0):
            raise ValueError(f"{key} must be a finite number {'> 0' if positive else '>= 0'}, "
                             f"got {value!r}")
        out[key] = float(value)
    for key in [k for k, _ in numbers if k in ("eps", "step_size", "ttc_eps", "ttc_step_size")]:
        out[f"{key}_fraction"] = out[key] * scale
        if norm == "linf" and key in ("eps", "ttc_eps") and out[f"{key}_fraction"] > 1:
            raise ValueError(f"{key}={out[key]} with units={units!r} is more than the whole "
                             "[0, 1] pixel range; use units='255' for eps in 1/255")
    out["loss"] = {"pgd": "ce", "cw": "cw (kappa 50)", "apgd": "ce",
                   "autoattack": "apgd-ce + apgd-t"}[attack]
    out["random_start"] = True
    if attack in ("apgd", "autoattack"):
        out.update(step_size=None, step_size_fraction=None, n_restarts=1,
                   n_target_classes=9 if attack == "autoattack" else None, rho=0.75)
    return out


def unit_pixels(images, config) -> np.ndarray:
    """uint8 images (any sizes) -> float32 [N, S, S, 3] in [0, 1] on the uint8 grid, resized
    and cropped as ``jclip.preprocess`` does (its output un-normalised and rounded to k/255)."""
    from jclip.preprocessing import mean_std, preprocess

    mean, std = mean_std(config)
    x = np.asarray(preprocess(images, config), np.float64) * std + mean
    return (np.round(np.clip(x, 0.0, 1.0) * 255) / 255).astype(np.float32)


def _correct(fn, x, y):
    return jnp.argmax(fn(x), -1) == y


def make_step(model, params, classifier, s: dict):
    """jitted (x [B, S, S, 3], labels [B], key) -> {"clean", "robust", ["clean_ttc",
    "robust_ttc"]}: per-example correctness (bool [B])."""
    logits = attacks.zeroshot_logits_fn(model, params, classifier)
    embed = attacks.embedding_fn(model, params)

    def defend(x, key):
        return attacks.counterattack(embed, x, key, eps=s["ttc_eps_fraction"],
                                     step_size=s["ttc_step_size_fraction"], steps=s["ttc_steps"],
                                     tau_threshold=s["ttc_tau_threshold"], beta=s["ttc_beta"])

    def step(x, y, key):
        k_attack, k_defense = jax.random.split(key)
        target = logits
        if s["adaptive"]:
            def target(v):
                return logits(defend(v, k_defense))
        eps, steps, norm = s["eps_fraction"], s["steps"], s["norm"]
        if s["attack"] in ("pgd", "cw"):
            loss = (attacks.cross_entropy(target, y) if s["attack"] == "pgd"
                    else attacks.cw_margin(target, y))
            x_adv = attacks.pgd(loss, x, k_attack, eps=eps, step_size=s["step_size_fraction"],
                                steps=steps, norm=norm)
        elif s["attack"] == "apgd":
            x_adv, _ = attacks.apgd("ce", target, x, y, k_attack, eps=eps, steps=steps, norm=norm)
        else:
            x_adv = attacks.autoattack_eval(target, x, y, k_attack, eps=eps, steps=steps,
                                            norm=norm)["x_adv"]
        out = {"clean": _correct(logits, x, y), "robust": _correct(logits, x_adv, y)}
        if s["defense"] == "ttc":
            out["clean_ttc"] = _correct(logits, defend(x, k_defense), y)
            out["robust_ttc"] = _correct(logits, defend(x_adv, k_defense), y)
        return out

    return jax.jit(step)


def _classes(ctx, data, task):
    """(classifier [C', D], label -> column map [num labels]) over the dataset's class subset."""
    if data.kind != "classification" or not data.classnames:
        raise ValueError(f"{data.name} is not a single-label classification dataset "
                         f"(kind {data.kind!r}); the adversarial task needs class labels")
    ids = np.asarray(data.class_subset if data.class_subset is not None
                     else np.arange(len(data.classnames)))
    classifier = ctx.classifier([data.classnames[i] for i in ids], templates_of(ctx, data, task))
    position = np.full(len(data.classnames), -1, np.int64)
    position[ids] = np.arange(len(ids))
    return np.asarray(classifier, np.float32).T, position


def run(ctx, task: dict) -> dict:
    s = settings(task)
    data = ctx.dataset(task)
    classifier, position = _classes(ctx, data, task)
    config = ctx.model.config
    step = make_step(ctx.model, ctx.params, classifier, s)
    limit = task["num_examples"]
    batch_size = int(ctx.batch_size) if limit is None else min(int(ctx.batch_size), limit)
    results, seen, key = {}, 0, jax.random.key(s["seed"])
    batches = data.batches(functools.partial(unit_pixels, config=config), batch_size,
                           num_workers=ctx.num_workers)
    for index, batch in enumerate(batches):
        mask = np.asarray(batch["mask"], bool)
        if limit is not None:
            mask &= np.cumsum(mask) + seen <= limit
        labels = np.asarray(batch["label"])
        if labels.ndim != 1:
            raise ValueError(f"{data.name}: multi-label data is not supported by the "
                             "adversarial task")
        if mask.any():
            if labels[mask].min() < 0 or labels[mask].max() >= len(position) or \
                    (position[labels[mask]] < 0).any():
                raise ValueError(f"{data.name}: labels outside the classifier's classes")
            mapped = np.where(mask, position[np.clip(labels, 0, len(position) - 1)], 0)
            out = step(np.asarray(batch["image"], np.float32), mapped.astype(np.int32),
                       jax.random.fold_in(key, index))
            for name, flags in out.items():
                results.setdefault(name, []).append(np.asarray(flags)[mask])
            seen += int(mask.sum())
        if limit is not None and seen >= limit:
            break
    if not seen:
        raise ValueError(f"{data.name}: no examples to evaluate")
    metrics = {f"{name}_acc1": float(np.concatenate(flags).mean())
               for name, flags in results.items()}
    return {"metrics": metrics, "num_examples": seen, "split": data.split, "attack": s}
