"""Zero-shot ordinal regression with rank prompts: ages, sizes, distances, elevations.

Each rank r = 0..R-1 has a name (a word or a number, ``rank_names``, default the dataset's class
names in rank order); its text embedding is the prompt ensemble over ``templates`` (as
zero-shot classification), the logits l_ir = 100 cos(f_i, g_r), p = softmax(l), and the task
predicts the rank by argmax_r l_ir and by the expectation sum_r p_ir v_r over the rank values
v_r (``rank_values``, default v_r = r; e.g. the ages of the ranks), as OrdinalCLIP (Li et al.,
2022) and NumCLIP (Du et al., 2024) report them. Metrics:

  mae (expectation) and mae_argmax = mean_i |v_hat_i - v_{y_i}|; accuracy = mean_i [argmax = y_i];
  spearman, kendall_tau of the expected values against the true values (scipy's conventions);
  per_rank_mae (of the expectation) and the [R, R] confusion matrix of the argmax (beside
  ``metrics``, which holds scalars only).

``order`` turns the dataset's labels into ranks: None (the class ids are the ranks), "natural"
(the class names sorted naturally: "2" < "10", "age_9" < "age_10", as ordered class folders of
``folder:DIR`` need, whose ids follow the lexicographic folder order), or the class names
listed in rank order.
"""

from __future__ import annotations

import re

import numpy as np

from jclip.metrics import ordinal as ordinal_metrics

DEFAULTS = {
    "templates": None,  # a list, a template-set name or a file; None: the dataset's own
    "rank_names": None,  # names of the ranks in rank order (None: the class names, ordered)
    "order": None,  # None | "natural" | class names in rank order
    "rank_values": None,  # numbers of the ranks (None: 0..R-1)
}


def natural_key(name: str):
    """Sort key that orders the digit runs of a name by their value ("2" < "10")."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower())
            for t in re.split(r"(\d+)", str(name)) if t]


def rank_order(classnames, order) -> np.ndarray:
    """Rank of each class id [C] (-1: class not ranked) for ``order`` (module docstring)."""
    names = list(classnames)
    if order is None:
        ranked = names
    elif order == "natural":
        ranked = sorted(names, key=natural_key)
    elif isinstance(order, (list, tuple)):
        unknown = [n for n in order if n not in names]
        if unknown or len(set(order)) != len(order):
            raise ValueError(f"order must list distinct class names of the dataset; unknown or "
                             f"repeated: {unknown or list(order)}; classes: {names}")
        ranked = list(order)
    else:
        raise ValueError(f"order must be None, 'natural' or a list of class names, got {order!r}")
    if len(ranked) < 2:
        raise ValueError(f"an ordinal task needs at least 2 ranks, got {len(ranked)}")
    ranks = np.full(len(names), -1, np.int64)
    for r, name in enumerate(ranked):
        ranks[names.index(name)] = r
    return ranks


def check_rank_values(values, num_ranks: int) -> np.ndarray:
    """[R] increasing finite rank values (default 0..R-1)."""
    if values is None:
        return np.arange(num_ranks, dtype=np.float64)
    v = np.asarray(values, np.float64)
    if v.shape != (num_ranks,) or not np.all(np.isfinite(v)):
        raise ValueError(f"rank_values must be {num_ranks} finite numbers, got {list(values)}")
    if not np.all(np.diff(v) > 0):
        raise ValueError(f"rank_values must increase with the rank (monotone), got {v.tolist()}")
    return v


def metrics_of(labels, argmax=None, expected=None, *, num_ranks: int, values=None) -> dict:
    """Ordinal metrics of rank predictions (module docstring).

    Args:
      labels: [N] int true ranks in [0, R).
      argmax: [N] int predicted ranks, or None (a regression method).
      expected: [N] float predicted values (an expectation or a regression), or None (then the
        values of the argmax ranks).
      values: [R] rank values (default 0..R-1).
    Returns:
      {"mae", "mae_argmax", "accuracy", "spearman", "kendall_tau", "per_rank_mae",
       "confusion_matrix"}; accuracy is of the argmax, or of the rounded regression.
    """
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_ranks):
        raise ValueError(f"labels must be ranks in [0, {num_ranks}), got values in "
                         f"[{labels.min()}, {labels.max()}]")
    v = check_rank_values(values, num_ranks)
    truth = v[labels]
    if argmax is None:  # regression: the nearest rank value
        argmax = np.abs(np.asarray(expected, np.float64)[:, None] - v[None]).argmin(1)
    argmax = np.asarray(argmax, np.int64)
    pred = v[argmax] if expected is None else np.asarray(expected, np.float64)
    per_rank = ordinal_metrics.per_rank_mae(pred, labels, num_ranks, v)
    matrix = np.zeros((num_ranks, num_ranks), np.int64)
    np.add.at(matrix, (labels, argmax), 1)
    return {
        "mae": float(np.mean(np.abs(pred - truth))),
        "mae_argmax": float(np.mean(np.abs(v[argmax] - truth))),
        "accuracy": float(np.mean(argmax == labels)),
        "spearman": float(ordinal_metrics.spearman(pred, truth)),
        "kendall_tau": float(ordinal_metrics.kendall_tau(pred, truth)),
        "per_rank_mae": per_rank.tolist(),
        "confusion_matrix": matrix.tolist(),
    }


def zeroshot_logits(ctx, rank_names, templates, features) -> np.ndarray:
    """100 cos(f_i, g_r): [N, R] logits of unit image features against the rank prompts."""
    return 100.0 * np.asarray(features) @ ctx.classifier(list(rank_names), list(templates))


def ranked_labels(data, feats, order):
    """(rank labels [N], rank names [R]) of a split, the unranked classes refused."""
    if not data.classnames:
        raise ValueError(f"{data.name} has no class names: an ordinal task needs named ranks")
    ranks = rank_order(data.classnames, order)
    labels = np.asarray(feats.labels)
    if labels.ndim != 1:
        raise ValueError(f"{data.name}: an ordinal task needs one int label per image")
    if labels.size and (labels.min() < 0 or labels.max() >= len(ranks)):
        raise ValueError(f"{data.name}: labels outside [0, {len(ranks)})")
    mapped = ranks[labels]
    if np.any(mapped < 0):
        bad = sorted(set(np.asarray(data.classnames)[labels[mapped < 0]].tolist()))[:5]
        raise ValueError(f"{data.name}: labels of classes {bad} are not among the ranks (order)")
    names = [data.classnames[i] for i in np.argsort(np.where(ranks < 0, 1 << 30, ranks))
             [: int((ranks >= 0).sum())]]
    return mapped, names


def run(ctx, task: dict) -> dict:
    from jclip.evals.zeroshot_classification import templates_of

    data = ctx.dataset(task)
    feats = ctx.image_features(data)
    labels, names = ranked_labels(data, feats, task["order"])
    rank_names = list(task["rank_names"] or names)
    if len(rank_names) != len(names):
        raise ValueError(f"{len(rank_names)} rank_names for {len(names)} ranks")
    values = check_rank_values(task["rank_values"], len(names))
    logits = zeroshot_logits(ctx, rank_names, templates_of(ctx, data, task), feats.features)
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    out = metrics_of(labels, logits.argmax(1), p @ values, num_ranks=len(names), values=values)
    matrix, per_rank = out.pop("confusion_matrix"), out.pop("per_rank_mae")
    return {"metrics": out, "per_rank_mae": per_rank, "confusion_matrix": matrix,
            "rank_names": rank_names, "rank_values": values.tolist(),
            "num_examples": int(len(labels)), "split": data.split}
