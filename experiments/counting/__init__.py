"""The counting study: does the counting loss of Paiss et al. (2023) teach a CLIP to count
beyond what plain contrastive fine-tuning on the same captions does, and at what cost to shape
and colour zero-shot accuracy? ``python -m experiments.counting``; see README.md."""

from experiments.counting.study import run

__all__ = ["run"]
