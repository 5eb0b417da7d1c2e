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
    files: the local files the examples are read from (images, shards, caption files), whose
      content keys the on-disk feature cache; () for catalog (tfds) and generated data.
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
    files: tuple[str, ...] = ()

    def batches(self, preprocess, batch_size: int, *, process_index: int = 0,
                process_count: int = 1, num_workers: int = 2) -> Iterator[dict]:
        return self.make_batches(preprocess=preprocess, batch_size=batch_size,
                                 process_index=process_index, process_count=process_count,
                                 num_workers=num_workers)


def content_digest(paths) -> str:
    """blake2b of the bytes of ``paths`` (in order, each with its length): the on-disk feature
    cache's key for local data, so that a file replaced by another of the same size and
    modification time (``cp -p``, ``rsync -t``, ``tar x``) is never served stale features."""
    h = hashlib.blake2b(digest_size=16)
    for path in paths:
        with open(path, "rb") as f:
            size = 0
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        h.update(f"|{size}|".encode())
    return h.hexdigest()


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
