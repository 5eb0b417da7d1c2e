"""Zero-shot OOD detection: does a score over the ID class prompts separate ID from OOD images?

The ID classifier is built from the ID dataset's class names and templates (prompt ensembling,
as in zero-shot classification); every image gets the cosines ``cos [C]`` with the C class
embeddings and the scores of ``jclip.metrics.ood.SCORES`` (MSP, max-logit, energy over
100 cos; MCM over raw cosines with T = 1, Ming et al., 2022). ID is the positive class. Per
score:

- auroc: P(s_ID > s_OOD) (+ ties / 2);
- aupr_in / aupr_out: average precision with ID (score s) / OOD (score -s) as positives;
- fpr95: fraction of OOD images scored at or above the threshold that keeps 95% of the ID
  images (MCM's definition, ID positive);
- fpr95_ood_positive: the other convention (Hendrycks et al.'s outlier-exposure code, OOD
  positive): fraction of ID images flagged OOD at the threshold that catches 95% of OOD.

Task keys: the ID set is ``dataset`` / ``split`` / ``data``; the OOD set ``ood_dataset`` /
``ood_split`` / ``ood_data`` (it must be different data).
"""

from __future__ import annotations

import numpy as np

from jclip import metrics
from jclip.evals import _sets
from jclip.evals.zeroshot_classification import subset_logits

DEFAULTS = {
    "ood_dataset": None,  # spec of the OOD set (required)
    "ood_split": None,  # None: its evaluation split
    "ood_data": None,  # its source options (e.g. jclip_shapes' {"options": {"shapes": ...}})
    "scores": "all",  # "all" or a list of jclip.metrics.ood.SCORES names
    "temperature": 1.0,  # MCM's T
    "tpr": 0.95,  # the TPR of fpr95 (and of fpr95_ood_positive)
    "templates": None,  # ID prompt templates; None: the ID dataset's own
    "histogram_bins": 20,  # per score, histograms of the ID and OOD scores in the result
}


def score_names(spec) -> list[str]:
    """'all' -> every score; else the list, checked against ``SCORES``."""
    known = list(metrics.ood.SCORES)
    if spec == "all":
        return known
    names = [spec] if isinstance(spec, str) else list(spec or [])
    bad = [n for n in names if n not in known]
    if not names or bad:
        raise ValueError(f"scores must be 'all' or a non-empty list of {known}, got {spec!r}")
    return names


def detection_metrics(s_in, s_out, tpr: float = 0.95) -> dict:
    """auroc, aupr_in, aupr_out, fpr95, fpr95_ood_positive of ID scores [N] vs OOD scores [M]."""
    return {
        "auroc": float(metrics.auroc(s_in, s_out)),
        "aupr_in": float(metrics.aupr(s_in, s_out)),
        "aupr_out": float(metrics.aupr(-s_out, -s_in)),
        "fpr95": float(metrics.fpr_at_tpr(s_in, s_out, tpr)),
        "fpr95_ood_positive": float(metrics.fpr_at_tpr(-s_out, -s_in, tpr)),
    }


def run(ctx, task: dict) -> dict:
    names = score_names(task["scores"])
    if not 0.0 < float(task["tpr"]) <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1], got {task['tpr']}")
    data = ctx.dataset(task)
    ood = _sets.resolve(ctx, task["ood_dataset"], task["ood_split"], task["ood_data"],
                        what="the ood task's ood_dataset")
    _sets.check_distinct(data, ood, "the OOD set must differ from the ID set")
    feats = ctx.image_features(data)
    logits, labels, _ = subset_logits(ctx, data, task, feats)  # 100 cos over the ID classes
    ood_feats = ctx.image_features(ood)
    cos_in = np.asarray(logits, np.float32) / 100.0
    cos_out = np.asarray(_cosines(ctx, data, task, ood_feats.features), np.float32)
    out_metrics, histograms = {}, {}
    for name in names:
        s_in = np.asarray(metrics.ood_score(cos_in, name, task["temperature"]), np.float64)
        s_out = np.asarray(metrics.ood_score(cos_out, name, task["temperature"]), np.float64)
        for key, value in detection_metrics(s_in, s_out, float(task["tpr"])).items():
            out_metrics[f"{name}/{key}"] = value
        edges = np.histogram_bin_edges(np.r_[s_in, s_out], bins=int(task["histogram_bins"]))
        histograms[name] = {"edges": edges.tolist(),
                            "id": np.histogram(s_in, edges)[0].tolist(),
                            "ood": np.histogram(s_out, edges)[0].tolist()}
    if labels.ndim == 1:
        out_metrics["id_acc1"] = float(np.mean(np.argmax(cos_in, 1) == labels))
    return {"metrics": out_metrics, "num_examples": int(len(cos_in)),
            "num_ood_examples": int(len(cos_out)), "split": data.split,
            "ood_dataset": ood.name, "ood_split": ood.split, "histograms": histograms}


def _templates(ctx, data, task):
    from jclip.evals.zeroshot_classification import templates_of

    return templates_of(ctx, data, task)


def _cosines(ctx, data, task, features):
    """Cosines [N, C'] of unit image features with the ID classifier (its class subset)."""
    ids = data.class_subset if data.class_subset is not None else range(len(data.classnames))
    return features @ ctx.classifier([data.classnames[i] for i in ids],
                                     _templates(ctx, data, task))
