"""Zero-shot classification: prompt-ensemble classifier, top-1 / top-5 accuracy, balanced accuracy.

The protocol of CLIP (Radford et al., 2021) as CLIP_benchmark runs it: each class embedding is the
re-normalised mean of the unit text embeddings of its prompts (every template x class name), the
logits are 100 * cosine similarity of the unit image embedding with each class embedding, and

  acc1 = mean_i [argmax_c l_ic = y_i],  acc5 = mean_i [y_i in top5_c l_ic] (when C >= 5),
  mean_per_class_recall = mean_c recall_c (balanced accuracy).

Datasets that cover a subset of a label space (ImageNet-R / -A, counts min..max) are scored over
that subset only. Multi-label data (ImageNet-ReaL, VOC) gets acc1 = a hit if the top-1 class is
any of the true labels (rows with no label left out, the ReaL protocol of Beyer et al., 2020) and
CLIP_benchmark's mean_average_precision (``mean_average_precision``).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jclip import metrics

DEFAULTS = {
    "templates": None,  # a list, a template-set name or a file; None: the dataset's own
    "confusion_matrix": False,  # also return the [C, C] confusion matrix and class names
}


def templates_of(ctx, data, task) -> list[str]:
    """The task's templates (a list, a name or a file), else the dataset's own."""
    from jclip.heads import prompts

    spec = task.get("templates")
    if spec is None:
        if not data.templates:
            raise ValueError(f"{data.name} has no zero-shot templates: pass templates=")
        return list(data.templates)
    if isinstance(spec, str):
        return list(prompts.load_templates(spec))
    return list(prompts.check_templates(spec))


def subset_logits(ctx, data, task, feats):
    """Zero-shot logits over the dataset's classes (or its class subset) and the labels mapped
    into that space -> (logits [N, C'], labels [N] or [N, C'] multi-hot, class ids [C'])."""
    if not data.classnames:
        raise ValueError(f"{data.name} has no class names: it cannot be classified zero-shot")
    ids = np.asarray(data.class_subset if data.class_subset is not None
                     else np.arange(len(data.classnames)))
    names = [data.classnames[i] for i in ids]
    classifier = ctx.classifier(names, templates_of(ctx, data, task))
    logits = 100.0 * feats.features @ classifier
    labels = feats.labels
    if labels.ndim == 2:  # multi-hot over the full label space
        return logits, labels[:, ids], ids
    position = np.full(len(data.classnames), -1, np.int64)
    position[ids] = np.arange(len(ids))
    if labels.size and (labels.min() < 0 or labels.max() >= len(position)):
        raise ValueError(f"{data.name}: labels outside [0, {len(position)})")
    mapped = position[labels]
    if np.any(mapped < 0):
        bad = sorted(set(labels[mapped < 0].tolist()))[:5]
        raise ValueError(f"{data.name}: labels {bad} are outside the class subset")
    return logits, mapped, ids


def mean_average_precision(scores, targets) -> float:
    """Mean over classes of the average precision of ranking the images by the class score.

    AP_c = (1 / max(P_c, 1)) sum_{ranks r of positives} precision@r, the images sorted by
    decreasing score of class c, P_c its number of positives: the multi-label metric of
    CLIP_benchmark (``average_precision_per_class``, after torchnet's meter), in which a class
    without positives counts as AP 0.

    Args:
      scores: [N, C] scores; targets: [N, C] multi-hot (0 / 1).
    Returns:
      The mean of AP_c over the C classes.
    """
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(targets) > 0
    if scores.shape != truth.shape or scores.ndim != 2:
        raise ValueError(f"scores and targets must both be [N, C], got {scores.shape} and "
                         f"{truth.shape}")
    order = np.argsort(-scores, axis=0, kind="stable")
    hits = np.take_along_axis(truth, order, axis=0)  # [N, C], rows sorted per class
    precision = np.cumsum(hits, axis=0) / np.arange(1, len(scores) + 1)[:, None]
    ap = (precision * hits).sum(0) / np.maximum(hits.sum(0), 1)
    return float(ap.mean())


def classification_metrics(logits, labels, prefix: str = "") -> dict:
    """acc1, acc5 (C >= 5) and mean_per_class_recall of [N, C] scores, as CLIP_benchmark names
    them (with an optional prefix, e.g. "lp_")."""
    logits = jnp.asarray(logits, jnp.float32)
    if labels.ndim == 2:  # multi-label: top-1 in the label set, unlabelled rows left out
        has = labels.sum(1) > 0
        top = np.asarray(jnp.argmax(logits, 1))
        hit = labels[np.arange(len(top)), top] > 0
        return {f"{prefix}acc1": float(hit[has].mean()) if has.any() else float("nan"),
                f"{prefix}mean_average_precision": mean_average_precision(logits, labels)}
    labels = jnp.asarray(labels)
    out = {f"{prefix}acc1": float(metrics.accuracy(logits, labels, k=1))}
    if logits.shape[1] >= 5:
        out[f"{prefix}acc5"] = float(metrics.accuracy(logits, labels, k=5))
    else:
        out[f"{prefix}acc5"] = float("nan")
    out[f"{prefix}mean_per_class_recall"] = float(metrics.mean_per_class_recall(logits, labels))
    return out


def run(ctx, task: dict) -> dict:
    data = ctx.dataset(task)
    feats = ctx.image_features(data)
    logits, labels, ids = subset_logits(ctx, data, task, feats)
    out = {"metrics": classification_metrics(logits, labels), "num_examples": len(labels),
           "split": data.split}
    if task["confusion_matrix"] and labels.ndim == 1:
        matrix = metrics.confusion_matrix(labels, np.argmax(logits, 1), len(ids))
        out["confusion_matrix"] = np.asarray(matrix, np.int64).tolist()
        out["class_names"] = [data.classnames[i] for i in ids]
    return out
