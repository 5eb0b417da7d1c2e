"""Evaluation metrics for CLIP-style models, jit-compiled and checked against references.

classification: accuracy, mean_per_class_recall, confusion_matrix
retrieval:      retrieval_recall, retrieval_ranks (blocked, several captions per image)
clip_score:     clip_score, ref_clip_score
diversity:      vendi_score, rke_mode_count, cmmd (+ vendi_from_eigenvalues, random features)
schur:          schur_complement_entropy
calibration:    expected_calibration_error, reliability_diagram
corruption_error: corruption_errors, mean_corruption_error (mCE), relative mCE
ood:            auroc, aupr, fpr_at_tpr, ood_score
ordinal:        mae, spearman, kendall_tau
"""

from jclip._lazy import package_face
from jclip.metrics.calibration import expected_calibration_error, reliability_diagram
from jclip.metrics.classification import accuracy, confusion_matrix, mean_per_class_recall
from jclip.metrics.clip_score import clip_score, ref_clip_score
from jclip.metrics.corruption_error import (
    corruption_errors,
    mean_corruption_error,
    relative_corruption_errors,
    relative_mean_corruption_error,
)
from jclip.metrics.diversity import (
    cmmd,
    random_fourier_features,
    rke_mode_count,
    vendi_from_eigenvalues,
    vendi_score,
)
from jclip.metrics.ood import aupr, auroc, fpr_at_tpr, ood_score
from jclip.metrics.ordinal import kendall_tau, mae, spearman
from jclip.metrics.retrieval import retrieval_ranks, retrieval_recall
from jclip.metrics.schur import schur_complement_entropy

__all__ = [
    "accuracy",
    "aupr",
    "auroc",
    "clip_score",
    "cmmd",
    "confusion_matrix",
    "corruption_errors",
    "expected_calibration_error",
    "fpr_at_tpr",
    "kendall_tau",
    "mae",
    "mean_corruption_error",
    "mean_per_class_recall",
    "ood_score",
    "random_fourier_features",
    "ref_clip_score",
    "relative_corruption_errors",
    "relative_mean_corruption_error",
    "reliability_diagram",
    "retrieval_ranks",
    "retrieval_recall",
    "rke_mode_count",
    "schur_complement_entropy",
    "spearman",
    "vendi_from_eigenvalues",
    "vendi_score",
]

__getattr__, __dir__ = package_face(__name__, __path__)  # every submodule, lazily
