"""Spurious features, CounterAnimal-style: accuracy on common vs counter backgrounds.

Wang et al. (2024), "A Sober Look at the Robustness of CLIPs to Spurious Features"
(CounterAnimal): each class is photographed on its common ("easy") background and on a counter
("hard") background; a model that uses the background drops from easy to hard. Reported
(zero-shot, as ``zeroshot_classification``):

  easy/acc1, hard/acc1, drop = easy - hard, and per class {easy, hard, drop} (the recall of
  the class in each group).

On the scenes (``jclip_shapes/spurious_*``) the easy set is the ``test`` split with
correlation 1 (every shape on its typical background) and the hard set the ``counter`` split
(never on it); elsewhere give the two groups as ``easy_dataset`` / ``hard_dataset`` (e.g.
``folder:`` sets of the same classes) with their ``*_split`` / ``*_data``.
"""

from __future__ import annotations

import numpy as np

from jclip.evals import _sets
from jclip.evals.zeroshot_classification import subset_logits

DEFAULTS = {
    "easy_dataset": None, "easy_split": None, "easy_data": None,
    "hard_dataset": None, "hard_split": None, "hard_data": None,
    "templates": None,
}


def _shapes_groups(task) -> tuple[dict, dict]:
    from jclip.data import shapes

    config = task["dataset"].removeprefix("jclip_shapes/")
    if shapes.NAMED_CONFIGS.get(config, ("",))[0] != "spurious":
        raise ValueError(f"the spurious task on the scenes needs a spurious config "
                         f"(jclip_shapes/spurious_texture or spurious_color), got "
                         f"{task['dataset']!r}")
    data = dict(task["data"] or {})
    easy = {**data, "options": {**dict(data.get("options") or {}), "correlation": 1.0}}
    return ({"dataset": task["dataset"], "split": "test", "data": easy},
            {"dataset": task["dataset"], "split": "counter", "data": data})


def groups(task) -> tuple[dict, dict]:
    """The (easy, hard) sets as {"dataset", "split", "data"}."""
    if task["dataset"].startswith("jclip_shapes/"):
        easy, hard = _shapes_groups(task)
    else:
        easy = {"dataset": task["dataset"], "split": task.get("split"), "data": task["data"]}
        hard = {"dataset": None, "split": None, "data": None}
    for name, group in (("easy", easy), ("hard", hard)):
        for key in ("dataset", "split", "data"):
            if task[f"{name}_{key}"] is not None:
                group[key] = task[f"{name}_{key}"]
    if not hard["dataset"]:
        raise ValueError(f"the spurious task needs hard_dataset (the counter-background group) "
                         f"for {task['dataset']!r}")
    return easy, hard


def per_class_recall(logits, labels, num_classes: int) -> np.ndarray:
    """[C] recall of each class (NaN for a class with no images)."""
    hit = np.argmax(logits, 1) == labels
    count = np.bincount(labels, minlength=num_classes).astype(np.float64)
    right = np.bincount(labels, weights=hit, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, right / count, np.nan)


def run(ctx, task: dict) -> dict:
    easy_spec, hard_spec = groups(task)
    easy = _sets.resolve(ctx, **easy_spec, classnames=task.get("classnames"),
                         what="the spurious task's easy set")
    hard = _sets.resolve(ctx, **hard_spec, classnames=task.get("classnames"),
                         what="the spurious task's hard set")
    _sets.check_distinct(easy, hard, "the easy and hard sets must differ")
    if tuple(easy.classnames or ()) != tuple(hard.classnames or ()):
        raise ValueError(f"the easy and hard sets must have the same classes, got "
                         f"{easy.classnames} and {hard.classnames}")
    result, recalls = {}, {}
    for name, d in (("easy", easy), ("hard", hard)):
        logits, labels, ids = subset_logits(ctx, d, task, ctx.image_features(d))
        logits = np.asarray(logits)
        result[f"{name}/acc1"] = float(np.mean(np.argmax(logits, 1) == labels))
        result[f"{name}/num_examples"] = int(len(labels))
        recalls[name] = per_class_recall(logits, labels, len(ids))
    result["drop"] = result["easy/acc1"] - result["hard/acc1"]
    names = [easy.classnames[i] for i in ids]
    per_class = {c: {"easy": float(recalls["easy"][i]), "hard": float(recalls["hard"][i]),
                     "drop": float(recalls["easy"][i] - recalls["hard"][i])}
                 for i, c in enumerate(names)}
    return {"metrics": result, "num_examples": result["easy/num_examples"]
            + result["hard/num_examples"], "split": f"{easy.split}+{hard.split}",
            "per_class": per_class}
