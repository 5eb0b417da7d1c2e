"""Linear probe on frozen image features (Radford et al., 2021, appendix A.3).

Multinomial logistic regression on the unit image features of the train split; the L2 strength
is chosen on a held-out part of the train split (``val_proportion``, drawn with ``seed``), the
probe refitted on the whole train split with it (``jclip.heads.adapt.linear_probe``), and scored
on the evaluation split: lp_acc1, lp_acc5, lp_mean_per_class_recall.
"""

from __future__ import annotations

import numpy as np

from jclip.evals.zeroshot_classification import classification_metrics

DEFAULTS = {"train_split": None, "val_proportion": 0.2, "seed": 0, "max_iter": 500}


def train_data(ctx, task):
    """The ``EvalData`` of the task's train split (the dataset's own when not given)."""
    data = ctx.dataset(task)
    split = task.get("train_split") or data.train_split
    if split is None:
        raise ValueError(f"{data.name} has no train split: pass train_split=")
    if split == data.split:
        raise ValueError(f"{data.name}: train_split and split are both {split!r}")
    train = ctx.dataset(task, split)
    shared = sorted(set(train.files) & set(data.files))
    if shared:  # e.g. a folder without split subfolders serves every split from the same files
        raise ValueError(
            f"{data.name}: the train split {split!r} and the evaluation split {data.split!r} "
            f"read the same files ({len(shared)} shared, e.g. {shared[0]}): a probe fitted on "
            "the test images measures nothing; give a dataset with separate train and test "
            "splits (e.g. a folder with train/ and test/ subfolders)")
    return data, train


def split_validation(labels: np.ndarray, proportion: float, seed: int):
    """Disjoint (train, val) row indices: a random ``proportion`` of the rows of every class
    (at least one, never all) goes to validation."""
    if not 0.0 < proportion < 1.0:
        raise ValueError(f"val_proportion must be in (0, 1), got {proportion}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_val = min(len(rows) - 1, max(1, round(proportion * len(rows)))) if len(rows) > 1 else 0
        val += rows[:n_val].tolist()
        train += rows[n_val:].tolist()
    return np.sort(train), np.sort(val)


def run(ctx, task: dict) -> dict:
    from jclip.heads import adapt

    data, train = train_data(ctx, task)
    tr, te = ctx.image_features(train), ctx.image_features(data)
    if tr.labels.ndim != 1:
        raise ValueError(f"{data.name}: the linear probe needs one int label per image")
    num_classes = len(data.classnames) if data.classnames else int(tr.labels.max()) + 1
    fit, val = split_validation(tr.labels, float(task["val_proportion"]), int(task["seed"]))
    if len(val) == 0:
        raise ValueError(f"{train.name} ({train.split}) is too small for a validation split")
    probe = adapt.linear_probe(tr.features[fit], tr.labels[fit], tr.features[val],
                               tr.labels[val], num_classes=num_classes,
                               max_iter=int(task["max_iter"]))
    logits = np.asarray(probe(te.features))
    out = classification_metrics(logits, te.labels, prefix="lp_")
    return {"metrics": out, "num_examples": len(te.labels), "num_train": len(tr.labels),
            "split": data.split, "train_split": train.split, "l2": probe.l2}
