"""Evaluation datasets by spec: one ``EvalData`` per (dataset, split), whatever the source.

A spec is a string:

- a catalog name of ``jclip.data.registry`` (``cifar10``, ``imagenet_v2/threshold-0.7``, ...);
- ``tfds/<any tfds name[/config]>``: a tfds dataset outside the catalog (int ``label``, tfds
  class names);
- ``jclip_shapes/<config>``: the synthetic scenes, generated in memory (no TensorFlow), with the
  task's ``label`` (default: the config's first label), ``num_examples``, ``seed`` and
  generation ``options``;
- and the sources registered in ``SOURCES`` by prefix (``folder:DIR``, ...).

``EvalData.batches(preprocess, batch_size, ...)`` yields padded, masked numpy batches, every
process its own contiguous part (``jclip.data.pipeline``): {"image", "label", "mask"} (+
"captions" for retrieval: per row a list of str, or a [B, 5] str array for tfds COCO).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator

import numpy as np

from jclip.data import registry

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

    def batches(self, preprocess, batch_size: int, *, process_index: int = 0,
                process_count: int = 1, num_workers: int = 2) -> Iterator[dict]:
        return self.make_batches(preprocess=preprocess, batch_size=batch_size,
                                 process_index=process_index, process_count=process_count,
                                 num_workers=num_workers)


def fingerprint(*parts) -> str:
    """A short stable hash of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# tfds catalog


def _catalog_templates(info: registry.DatasetInfo) -> tuple[str, ...]:
    from jclip.heads import prompts

    return tuple(prompts.dataset_templates(info.name))


def _catalog(info: registry.DatasetInfo, split: str | None, data_dir=None, download=True,
             classnames=None) -> EvalData:
    from jclip.data import pipeline

    split = split or info.split
    names = tuple(classnames) if classnames is not None else (
        None if info.kind == "retrieval" else tuple(registry.classnames(info.name)))

    def make_batches(preprocess, batch_size, process_index, process_count, num_workers):
        return pipeline.eval_dataset(
            info, split, preprocess=preprocess, batch_size=batch_size, data_dir=data_dir,
            download=download, process_index=process_index, process_count=process_count,
            num_workers=num_workers)

    def expected():
        builder = pipeline.load_builder(info, data_dir, download=False)
        return pipeline._split_size(builder, split) or None

    return EvalData(
        name=info.name, split=split, kind=info.kind, classnames=names,
        templates=None if info.kind == "retrieval" else _catalog_templates(info),
        make_batches=make_batches, fingerprint=fingerprint("tfds", info.tfds_name, split,
                                                           info.label_key, info.label_fn),
        class_subset=info.class_subset, expected_examples=expected,
        train_split=info.train_split)


def _tfds_any(name: str, split: str | None, data_dir=None, download=True) -> EvalData:
    """``tfds/<name>``: any tfds image dataset with an int ``label`` ClassLabel feature."""
    if not name:
        raise ValueError("'tfds/' needs a dataset name, e.g. 'tfds/cifar10'")
    info = registry.DatasetInfo(name, name, split or "test", "classification",
                                train_split="train")
    return _catalog(info, split, data_dir, download)


# ---------------------------------------------------------------------------------------------
# synthetic scenes


def _shapes(config_name: str, split: str | None, *, label=None, num_examples: int = 2000,
            seed: int = 0, options=None) -> EvalData:
    from jclip.data import pipeline, shapes

    if config_name not in shapes.NAMED_CONFIGS:
        raise ValueError(f"unknown jclip_shapes config {config_name!r}; known: "
                         f"{sorted(shapes.NAMED_CONFIGS)}")
    generator, base_options, _ = shapes.NAMED_CONFIGS[config_name]
    opts = {**base_options, **dict(options or {})}
    split = split or ("counter" if generator == "spurious" else "test")
    if generator == "spurious":
        opts["split"] = split
    resolved = shapes.resolve_options(generator, **opts)  # validates before any work
    label = label or shapes.LABELS[generator][0]
    if label not in shapes.LABELS[generator]:
        raise ValueError(f"jclip_shapes/{config_name} has labels {shapes.LABELS[generator]}, "
                         f"got label={label!r}")
    if not isinstance(num_examples, (int, np.integer)) or num_examples < 1:
        raise ValueError(f"num_examples must be a positive int, got {num_examples!r}")
    names = tuple(shapes.classnames(generator, label, **opts))
    subset = None
    if label == "count":  # class id = count: only min_count..max_count can occur
        subset = tuple(range(resolved["min_count"], resolved["max_count"] + 1))
    kind = {"count": "counting", "level": "ordinal"}.get(label, "classification")
    split_id = {"train": 0, "test": 1, "counter": 2}.get(split)
    if split_id is None:
        raise ValueError(f"jclip_shapes splits are 'train', 'test' (and 'counter' for the "
                         f"spurious configs), got {split!r}")
    cache = {}

    def scenes():
        if "data" not in cache:
            cache["data"] = shapes.generate(generator, int(num_examples), (int(seed), split_id),
                                            **opts)
        return cache["data"]

    def make_batches(preprocess, batch_size, process_index, process_count, num_workers):
        data = scenes()
        load = lambda i: {"image": data["image"][i], "label": data[label][i],
                          "captions": [str(data["caption"][i])]}
        return pipeline.list_batches(list(range(int(num_examples))), load,
                                     preprocess=preprocess, batch_size=batch_size,
                                     process_index=process_index, process_count=process_count,
                                     num_workers=0)

    return EvalData(
        name=f"jclip_shapes/{config_name}", split=split, kind=kind, classnames=names,
        templates=tuple(shapes.templates(generator, label)), make_batches=make_batches,
        fingerprint=fingerprint("jclip_shapes", config_name, split, label, int(num_examples),
                                int(seed), {k: list(v) if isinstance(v, tuple) else v
                                            for k, v in resolved.items()}),
        class_subset=subset, expected_examples=lambda: int(num_examples), train_split="train")


# ---------------------------------------------------------------------------------------------
# dispatch

# Prefix sources: "prefix:" -> fn(rest, split, **options) -> EvalData.
SOURCES: dict[str, Callable[..., EvalData]] = {}
# Other benchmarks' names -> catalog specs (CLIP_benchmark names where they map).
ALIASES: dict[str, str] = {}
# Named groups of specs.
COLLECTIONS: dict[str, tuple[str, ...]] = {}


def expand(specs) -> list[str]:
    """Dataset specs with collections replaced by their members (order kept, duplicates once)."""
    if isinstance(specs, str):
        specs = [specs]
    out = []
    for spec in specs:
        members = COLLECTIONS.get(spec, (spec,))
        out += [m for m in members if m not in out]
    return out


def known_specs() -> str:
    """A one-paragraph listing of what a spec can be, for error messages."""
    return (f"catalog datasets: {', '.join(sorted(registry.DATASETS))}; aliases: "
            f"{', '.join(sorted(ALIASES)) or '-'}; collections: "
            f"{', '.join(sorted(COLLECTIONS)) or '-'}; and 'tfds/<name>', "
            f"'jclip_shapes/<config>', " + ", ".join(f"'{p}:...'" for p in sorted(SOURCES)))


def get_eval_data(spec: str, split: str | None = None, *, data_dir: str | None = None,
                  download: bool = True, classnames=None, **options) -> EvalData:
    """The ``EvalData`` of a dataset spec (see the module docstring).

    Args:
      spec: dataset spec.
      split: split to read; the dataset's evaluation split when None.
      data_dir, download: tfds data directory and whether tfds may download and prepare.
      classnames: optional class names overriding the dataset's (index = label id).
      **options: source options (jclip_shapes: label, num_examples, seed, options; local
        sources: see their docstrings).
    Raises:
      ValueError naming the known datasets for an unknown spec, before any data is read.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"a dataset spec must be a non-empty string, got {spec!r}")
    if spec in COLLECTIONS:
        raise ValueError(f"{spec!r} is a collection of {len(COLLECTIONS[spec])} datasets: "
                         f"expand it first (jclip.evals.datasets.expand)")
    spec = ALIASES.get(spec, spec)
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in SOURCES:
        data = SOURCES[prefix](rest, split, data_dir=data_dir, **options)
    elif spec.startswith("jclip_shapes/"):
        data = _shapes(spec.removeprefix("jclip_shapes/"), split, **options)
    else:
        if options:
            raise TypeError(f"dataset {spec!r} takes no options, got {sorted(options)}")
        if spec.startswith("tfds/"):
            data = _tfds_any(spec.removeprefix("tfds/"), split, data_dir, download)
        else:
            try:
                info = registry.get_dataset_info(spec)
            except ValueError:
                raise ValueError(f"unknown dataset {spec!r}. Known: {known_specs()}") from None
            data = _catalog(info, split, data_dir, download)
    if classnames is not None:
        names = tuple(classnames)
        if data.classnames is not None and len(names) != len(data.classnames):
            raise ValueError(f"{spec}: {len(names)} class names given, the dataset has "
                             f"{len(data.classnames)} classes")
        data = dataclasses.replace(data, classnames=names,
                                   fingerprint=fingerprint(data.fingerprint, names))
    return data
