"""Calibration of zero-shot classifiers, before and after temperature scaling, per shift.

Probabilities are softmax(l / T) of the zero-shot logits l = 100 cos (the CLIP protocol of
``zeroshot_classification``). Temperature scaling (Guo et al., 2017, "On Calibration of Modern
Neural Networks", sec. 4.2) fits the one scalar T > 0 that minimises the NLL on an ID
validation split; the test sets (the ID evaluation split and every shift) are scored with T = 1
and with the fitted T:

- ECE with 15 equal-width confidence bins (``jclip.metrics.expected_calibration_error``);
- NLL = -mean_i log softmax(l_i / T)_{y_i};
- acc1 (which T does not change) and the reliability-diagram data of both.

Task keys: the ID test set is ``dataset`` / ``split`` / ``data``; the validation set is the same
dataset at ``validation_split`` (default: its train split) with ``validation_data`` (default:
the task's data); ``shifts`` is a list of specs, of {"name", "dataset", "split", "data"} or of
{"name", "corruption", "severity"} (the ID test set corrupted, ``jclip.evals.corruption``).
"""

from __future__ import annotations

import numpy as np

from jclip import metrics
from jclip.evals import _sets
from jclip.evals.zeroshot_classification import subset_logits

DEFAULTS = {
    "validation_split": None,  # None: the dataset's train split
    "validation_data": None,  # None: the task's data options
    "shifts": (),  # specs or {"name", "dataset", "split", "data"} dicts
    "n_bins": 15,
    "templates": None,
    "temperature_range": (0.01, 100.0),  # bounds of the fitted T
    "seed": 0,  # of the random corruptions of corruption shifts
}


def log_softmax(logits) -> np.ndarray:
    """float64 log softmax over the last axis."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), -1, keepdims=True))


def nll(logits, labels, temperature: float = 1.0) -> float:
    """-mean_i log softmax(l_i / T)_{y_i} (float64)."""
    labels = np.asarray(labels)
    return float(-np.mean(log_softmax(np.asarray(logits, np.float64) / temperature)
                          [np.arange(len(labels)), labels]))


def fit_temperature(logits, labels, bounds=(0.01, 100.0)) -> float:
    """argmin_T NLL(logits / T, labels) over T in ``bounds`` (bounded Brent search on log T;
    the NLL is convex in 1 / T)."""
    from scipy.optimize import minimize_scalar

    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi:
        raise ValueError(f"temperature_range must be 0 < low < high, got {bounds}")
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("temperature scaling needs a non-empty validation set")
    res = minimize_scalar(lambda u: nll(logits, labels, np.exp(u)),
                          bounds=(np.log(lo), np.log(hi)), method="bounded",
                          options={"xatol": 1e-6})
    return float(np.exp(res.x))


def calibration_metrics(logits, labels, temperature: float, n_bins: int = 15) -> dict:
    """acc1, ece, nll (T = 1) and ece_temperature_scaled, nll_temperature_scaled (T), and the
    reliability data {"before", "after"}."""
    import jax

    out, diagrams = {"acc1": float(np.mean(np.argmax(logits, 1) == labels))}, {}
    for suffix, t, key in (("", 1.0, "before"), ("_temperature_scaled", temperature, "after")):
        probs = jax.nn.softmax(np.asarray(logits, np.float32) / t, axis=-1)
        out[f"ece{suffix}"] = float(metrics.expected_calibration_error(probs, labels, n_bins))
        out[f"nll{suffix}"] = nll(logits, labels, t)
        diagram = metrics.reliability_diagram(probs, labels, n_bins)
        diagrams[key] = {k: np.asarray(v, np.float64).tolist() for k, v in diagram.items()}
    return out, diagrams


def shift_sets(shifts) -> list[dict]:
    """The ``shifts`` key as [{"name", "dataset", "split", "data"}] with distinct names."""
    if isinstance(shifts, (str, dict)):
        shifts = [shifts]
    out = []
    for s in shifts or ():
        s = {"dataset": s} if isinstance(s, str) else dict(s)
        unknown = set(s) - {"name", "dataset", "split", "data", "classnames", "corruption",
                            "severity"}
        if unknown:
            raise TypeError(f"a calibration shift takes name, dataset, split, data (or "
                            f"corruption, severity); got {sorted(unknown)}")
        if "corruption" in s:
            s.setdefault("severity", 3)
            s.setdefault("name", f"{s['corruption']}/{s['severity']}")
        elif not s.get("dataset"):
            raise ValueError(f"a calibration shift needs a dataset or a corruption, got {s}")
        s.setdefault("name", s.get("dataset"))
        out.append(s)
    names = [s["name"] for s in out]
    if len(set(names)) != len(names) or "id" in names:
        raise ValueError(f"calibration shifts need distinct names other than 'id', got {names}")
    return out


def _shift_data(ctx, task, data, shift):
    """A shift's ``EvalData``: its own dataset, or the ID test set under a corruption
    (``jclip.evals.corruption.corrupted_data``, seeded by the task's ``seed``)."""
    if "corruption" in shift:
        from jclip.evals.corruption import corrupted_data

        return corrupted_data(data, shift["corruption"], shift["severity"], seed=task["seed"])
    return _sets.resolve(ctx, shift["dataset"], shift.get("split"), shift.get("data"),
                         shift.get("classnames"), what=f"calibration shift {shift['name']!r}")


def run(ctx, task: dict) -> dict:
    if not isinstance(task["n_bins"], int) or task["n_bins"] < 1:
        raise ValueError(f"n_bins must be a positive int, got {task['n_bins']!r}")
    shifts = shift_sets(task["shifts"])
    data = ctx.dataset(task)
    split = task["validation_split"] or data.train_split
    if split is None:
        raise ValueError(f"{data.name} has no train split to fit the temperature on: pass "
                         "validation_split=")
    val_data = task["data"] if task["validation_data"] is None else task["validation_data"]
    val = _sets.resolve(ctx, task["dataset"], split, val_data, task.get("classnames"),
                        what="the calibration validation set")
    _sets.check_distinct(val, data, "the validation set must differ from the ID test set")
    sets = [("id", data)] + [(s["name"], _shift_data(ctx, task, data, s)) for s in shifts]
    for name, shifted in sets[1:]:
        if len(shifted.classnames or ()) != len(data.classnames or ()):
            raise ValueError(f"calibration shift {name!r} has {len(shifted.classnames or ())} "
                             f"classes, the ID set {len(data.classnames or ())}")
    val_logits, val_labels, _ = subset_logits(ctx, val, task, ctx.image_features(val))
    temperature = fit_temperature(val_logits, val_labels, task["temperature_range"])
    out_metrics = {"temperature": temperature,
                   "validation/nll": nll(val_logits, val_labels),
                   "validation/nll_temperature_scaled": nll(val_logits, val_labels,
                                                            temperature)}
    reliability, counts = {}, {}
    for name, d in sets:
        logits, labels, _ = subset_logits(ctx, d, task, ctx.image_features(d))
        if labels.ndim != 1:
            raise ValueError(f"{d.name} is multi-label: calibration needs one label per image")
        values, reliability[name] = calibration_metrics(np.asarray(logits), labels,
                                                        temperature, task["n_bins"])
        out_metrics.update({f"{name}/{k}": v for k, v in values.items()})
        counts[name] = int(len(labels))
    return {"metrics": out_metrics, "num_examples": counts["id"], "split": data.split,
            "num_validation_examples": int(len(val_labels)), "set_sizes": counts,
            "reliability": reliability}
