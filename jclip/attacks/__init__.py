"""Adversarial attacks and test-time defences on [0, 1] pixels (pure, jit-able functions).

- ``pgd`` (l_inf / l_2 PGD), ``apgd`` and ``autoattack_eval`` (Croce & Hein, 2020),
  ``counterattack`` (test-time counterattacks, Xing et al., 2025);
- forwards that resize and normalise inside the differentiable graph: ``zeroshot_logits_fn``,
  ``embedding_fn``;
- per-example losses: ``cross_entropy``, ``cw_margin``, ``dlr``, ``dlr_targeted``,
  ``embedding_distance``.
"""

from jclip._lazy import package_face
from jclip.attacks.apgd import apgd, autoattack_eval
from jclip.attacks.counterattack import counterattack
from jclip.attacks.forward import embedding_fn, to_model_input, zeroshot_logits_fn
from jclip.attacks.losses import cross_entropy, cw_margin, dlr, dlr_targeted, embedding_distance
from jclip.attacks.pgd import pgd

__all__ = [
    "pgd", "apgd", "autoattack_eval", "counterattack", "zeroshot_logits_fn", "embedding_fn",
    "to_model_input", "cross_entropy", "cw_margin", "dlr", "dlr_targeted", "embedding_distance",
]

__getattr__, __dir__ = package_face(__name__, __path__)  # every submodule, lazily
