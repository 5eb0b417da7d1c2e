"""The evaluation data type every dataset source returns (a leaf module: sources, tasks and the
runner share it without importing one another).

``EvalData.batches(preprocess, batch_size, ...)`` yields padded, masked numpy batches, every
process its own contiguous part (``jclip.data.pipeline``): {"image", "label", "mask"} (+
"captions" for retrieval).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator

from jclip.data import pipeline

# Batches: (preprocess, batch_size, process_index, process_count, num_workers) -> Iterator[dict]
BatchesFn = Callable[..., Iterator[dict]]


@dataclasses.dataclass(frozen=True)
class EvalData:
    """One split of an evaluation dataset.

    name: the spec it was made from; split: the split read.
    kind: one of ``jclip.data.registry.KINDS``.
    classnames: class names, index = label id (None for retrieval).
    templates: default zero-shot templates of the dataset (strings with one "{}" slot).
    class_subset: label ids the data can have (ImageNet-R / -A, count ranges); zero-shot
      classifiers are built over these classes only.
    make_batches: see the module docstring; ``batches`` is the friendlier entry point.
    expected_examples: callable -> the split size when the source knows it (checked against the
      number of examples read), or None.
    fingerprint: identity of the data for the embedding cache (spec, split, options, files).
    train_split: the split few-shot / linear-probe tasks train on, or None.
    """

    name: str
    split: str
    kind: str
    classnames: tuple[str, ...] | None
    templates: tuple[str, ...] | None
    make_batches: BatchesFn
    fingerprint: str
    class_subset: tuple[int, ...] | None = None
    expected_examples: Callable[[], int | None] = lambda: None
    train_split: str | None = None
    report: dict | None = None  # what the source counted while reading (e.g. missing images)

    def batches(self, preprocess, batch_size: int, *, process_index: int = 0,
                process_count: int = 1, num_workers: int = 2) -> Iterator[dict]:
        return self.make_batches(preprocess=preprocess, batch_size=batch_size,
                                 process_index=process_index, process_count=process_count,
                                 num_workers=num_workers)


def fingerprint(*parts) -> str:
    """A short stable hash of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def list_batches(examples, load) -> BatchesFn:
    """``make_batches`` over a list of examples read by ``load(example)`` (local sources)."""
    def make_batches(preprocess, batch_size, process_index, process_count, num_workers):
        return pipeline.list_batches(examples, load, preprocess=preprocess,
                                     batch_size=batch_size, process_index=process_index,
                                     process_count=process_count, num_workers=num_workers)

    return make_batches
