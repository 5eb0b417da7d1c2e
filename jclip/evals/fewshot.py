"""Few-shot adaptation on frozen features: k-shot GDA (+ zero-shot) and a k-shot linear probe.

From the train split, ``k`` images per class are drawn with ``seed`` for fitting and another
disjoint ``k`` per class for validation (the GDA ensemble weight alpha and the probe's L2 are
picked there; fewer when a class has too few images). GDA: Wang et al., 2024 (ICLR), "A
Hard-to-Beat Baseline for Training-free CLIP-based Adaptation", ensembled with the zero-shot
classifier (``jclip.heads.adapt.gda``); the probe is ``jclip.heads.adapt.linear_probe``.
Metrics on the evaluation split: gda_acc1 / gda_acc5 / gda_mean_per_class_recall and
lp_acc1 / lp_acc5 / lp_mean_per_class_recall.
"""

from __future__ import annotations

import numpy as np

from jclip.evals import linear_probe as linear_probe_task
from jclip.evals import zeroshot_classification as zsc

DEFAULTS = {"fewshot_k": 16, "train_split": None, "seed": 0, "templates": None,
            "max_iter": 500}


def sample_shots(labels: np.ndarray, classes, k: int, seed: int):
    """(fit rows, val rows): k per class each, disjoint, drawn with ``seed``.

    Raises ValueError naming the classes with fewer than 2 images (one to fit, one to
    validate); classes with fewer than 2k images give what they have, fit rows first.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"fewshot_k must be a positive int, got {k!r}")
    rng = np.random.default_rng(seed)
    fit, val, short = [], [], []
    for c in classes:
        rows = rng.permutation(np.flatnonzero(labels == c))
        if len(rows) < 2:
            short.append(int(c))
            continue
        n_fit = min(k, len(rows) - 1)
        fit += rows[:n_fit].tolist()
        val += rows[n_fit:n_fit + k].tolist()
    if short:
        raise ValueError(f"classes {short[:10]} have fewer than 2 training images")
    return np.sort(fit), np.sort(val)


def run(ctx, task: dict) -> dict:
    from jclip.heads import adapt

    data, train = linear_probe_task.train_data(ctx, task)
    tr, te = ctx.image_features(train), ctx.image_features(data)
    if tr.labels.ndim != 1:
        raise ValueError(f"{data.name}: few-shot needs one int label per image")
    logits_te, labels_te, ids = zsc.subset_logits(ctx, data, task, te)
    position = {int(c): i for i, c in enumerate(ids)}
    keep = np.isin(tr.labels, ids)
    train_labels = np.array([position[int(c)] for c in tr.labels[keep]], np.int64)
    train_feats = tr.features[keep]
    k = int(task["fewshot_k"])
    fit, val = sample_shots(train_labels, range(len(ids)), k, int(task["seed"]))
    names = [data.classnames[i] for i in ids]
    classifier = ctx.classifier(names, zsc.templates_of(ctx, data, task))
    gda = adapt.gda(train_feats[fit], train_labels[fit], classifier, train_feats[val],
                    train_labels[val])
    probe = adapt.linear_probe(train_feats[fit], train_labels[fit], train_feats[val],
                               train_labels[val], num_classes=len(ids),
                               max_iter=int(task["max_iter"]))
    out = {}
    out.update(zsc.classification_metrics(np.asarray(gda(te.features)), labels_te, "gda_"))
    out.update(zsc.classification_metrics(np.asarray(probe(te.features)), labels_te, "lp_"))
    out.update(zsc.classification_metrics(logits_te, labels_te, "zeroshot_"))
    return {"metrics": out, "num_examples": len(labels_te), "num_fit": len(fit),
            "num_val": len(val), "fewshot_k": k, "split": data.split,
            "train_split": train.split, "gda_alpha": gda.alpha, "lp_l2": probe.l2}
