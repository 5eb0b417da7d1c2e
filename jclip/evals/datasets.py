"""Evaluation datasets by spec: one ``EvalData`` per (dataset, split), whatever the source.

A spec is a string:

- a catalog name of ``jclip.data.registry`` (``cifar10``, ``imagenet_v2/threshold-0.7``, ...);
- ``tfds/<any tfds name[/config]>``: a tfds dataset outside the catalog (int ``label``, tfds
  class names);
- ``jclip_shapes/<config>``: the synthetic scenes, generated in memory (no TensorFlow), with the
  task's ``label`` (default: the config's first label), ``num_examples``, ``seed`` and
  generation ``options``;
- a local source by prefix (``SOURCES``, ``jclip.evals.local_sources``): ``folder:DIR`` (a folder
  per class), ``pairs:DIR`` (captioned images, retrieval), ``wds:DIR`` (CLIP_benchmark's
  webdataset layout);
- a CLIP_benchmark name (``ALIASES``: ``imagenet1k``, ``pets``, ``vtab/clevr_count_all``, ...).

``COLLECTIONS`` name groups of specs (``vtab``, ``imagenet_robustness``, ``retrieval``);
``expand`` replaces them by their members.

``EvalData.batches(preprocess, batch_size, ...)`` yields padded, masked numpy batches, every
process its own contiguous part (``jclip.data.pipeline``): {"image", "label", "mask"} (+
"captions" for retrieval: per row a list of str, or a [B, 5] str array for tfds COCO).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from jclip.data import registry
from jclip.evals import counting as counting_task
from jclip.evals import local_sources
from jclip.evals.eval_data import BatchesFn, EvalData, fingerprint  # noqa: F401 (re-exported)

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
        # The split size from the prepared dataset's metadata (None before it is prepared,
        # and under tfds.testing.mock_data, which has no real split sizes).
        import tensorflow_datasets as tfds

        if info.tfds_name.startswith("jclip_shapes"):
            from jclip.data import shapes_tfds  # noqa: F401  (registers the builder)
        builder = tfds.builder(info.tfds_name, data_dir=data_dir)
        if not builder.is_prepared():
            return None
        return pipeline.split_size(builder, split) or None

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
            seed: int = 0, options=None, distinct_captions: bool = False) -> EvalData:
    """The scenes of a named config, generated in memory for ``(seed, split)``.

    ``distinct_captions`` keeps only the first scene of each caption (for retrieval, where a
    caption shared by several scenes could not be retrieved at rank 1).
    """
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
            data = shapes.generate(generator, int(num_examples), (int(seed), split_id), **opts)
            rows = np.arange(int(num_examples))
            if distinct_captions:
                rows = np.sort(np.unique(data["caption"], return_index=True)[1])
            cache["data"], cache["rows"] = data, rows
        return cache["data"], cache["rows"]

    def make_batches(preprocess, batch_size, process_index, process_count, num_workers):
        data, rows = scenes()
        load = lambda i: {"image": data["image"][i], "label": data[label][i],
                          "captions": [str(data["caption"][i])]}
        return pipeline.list_batches(rows.tolist(), load,
                                     preprocess=preprocess, batch_size=batch_size,
                                     process_index=process_index, process_count=process_count,
                                     num_workers=0)

    return EvalData(
        name=f"jclip_shapes/{config_name}", split=split, kind=kind, classnames=names,
        templates=tuple(shapes.templates(generator, label)), make_batches=make_batches,
        fingerprint=fingerprint("jclip_shapes", config_name, split, label, int(num_examples),
                                int(seed), bool(distinct_captions),
                                {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in resolved.items()}),
        class_subset=subset, expected_examples=lambda: len(scenes()[1]), train_split="train")


# ---------------------------------------------------------------------------------------------
# dispatch

# Prefix sources: "prefix:" -> fn(rest, split, **options) -> EvalData (jclip.evals.local_sources).
SOURCES: dict[str, Callable[..., EvalData]] = dict(local_sources.SOURCES)
SOURCES["countbench"] = counting_task.countbench_source  # "countbench:DIR" (a local copy)

# CLIP_benchmark dataset names -> catalog specs. Its names that equal a catalog name (cifar10,
# dtd, ...) are listed too, so this is the table of the CLIP_benchmark datasets jclip reads.
# Its torchvision versions of caltech101, eurosat and sun397 have no fixed test split; the
# catalog uses the VTAB ones for all three (as its "vtab/" names do).
ALIASES: dict[str, str] = {
    "imagenet1k": "imagenet2012",
    "imagenetv2": "imagenet_v2",
    "imagenet-r": "imagenet_r",
    "imagenet-a": "imagenet_a",
    "imagenet_sketch": "imagenet_sketch",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "stl10": "stl10",
    "mnist": "mnist",
    "cars": "cars196",
    "pets": "oxford_iiit_pet",
    "flowers": "oxford_flowers102",
    "food101": "food101",
    "dtd": "dtd",
    "eurosat": "eurosat",
    "sun397": "sun397",
    "caltech101": "caltech101",
    "svhn": "svhn_cropped",
    "pcam": "patch_camelyon",
    "resisc45": "resisc45",
    "mscoco_captions": "coco_captions",
    **{f"vtab/{name}": spec for name, spec in {
        "caltech101": "caltech101", "cifar10": "cifar10", "cifar100": "cifar100",
        "cars": "cars196", "dtd": "dtd", "eurosat": "eurosat", "flowers": "oxford_flowers102",
        "food101": "food101", "pets": "oxford_iiit_pet", "pcam": "patch_camelyon",
        "resisc45": "resisc45", "sun397": "sun397", "svhn": "svhn_cropped",
        "clevr_count_all": "clevr_count_all",
        "clevr_closest_object_distance": "clevr_closest_object_distance",
        "smallnorb_label_azimuth": "smallnorb_azimuth",
        "smallnorb_label_elevation": "smallnorb_elevation",
        "dmlab": "dmlab", "diabetic_retinopathy": "diabetic_retinopathy",
    }.items()},
}
# Evaluation splits of aliases whose benchmark split differs from the catalog's: VTAB tests
# smallNORB on the second half of the tfds test split (the first half is its validation set).
ALIAS_SPLITS: dict[str, str] = {
    "vtab/smallnorb_label_azimuth": "test[50%:]",
    "vtab/smallnorb_label_elevation": "test[50%:]",
}
# CLIP_benchmark datasets that are not in the tfds catalog: export them with CLIP_benchmark's
# ``clip_benchmark_export_wds`` and read them as "wds:DIR", or lay them out for "folder:DIR".
NOT_IN_CATALOG = (
    "imagenet-o", "imagenet-w", "imagenet1k-unverified", "objectnet", "fer2013", "voc2007",
    "voc2007_multilabel", "fgvc_aircraft", "gtsrb", "country211", "renderedsst2", "flickr8k",
    "flickr30k", "vtab/kitti_closest_vehicle_distance", "vtab/dsprites_label_orientation",
    "vtab/dsprites_label_x_position",
)
# Named groups of specs (CLIP_benchmark's collections, restricted to the catalog).
COLLECTIONS: dict[str, tuple[str, ...]] = {
    "imagenet_robustness": ("imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r"),
    "vtab": tuple(f"vtab/{name}" for name in (
        "caltech101", "cifar100", "clevr_count_all", "clevr_closest_object_distance",
        "diabetic_retinopathy", "dmlab", "dtd", "eurosat", "flowers", "pets", "pcam",
        "resisc45", "smallnorb_label_azimuth", "smallnorb_label_elevation", "sun397", "svhn")),
    "retrieval": ("coco_captions",),
}


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


def _hint(spec: str) -> str:
    if spec in NOT_IN_CATALOG:
        return (f" {spec!r} is a CLIP_benchmark dataset that is not in the tfds catalog: export "
                "it with clip_benchmark_export_wds and pass 'wds:DIR', or use 'folder:DIR'.")
    if spec.startswith("wds/"):
        return " CLIP_benchmark's 'wds/<name>' is 'wds:<its folder>' here."
    prefix, sep, _ = spec.partition(":")
    if sep and "/" not in prefix and len(prefix) > 1:
        return f" No source {prefix + ':'!r}; sources: {', '.join(p + ':' for p in SOURCES)}."
    return ""


def get_eval_data(spec: str, split: str | None = None, *, data_dir: str | None = None,
                  download: bool = True, classnames=None, **options) -> EvalData:
    """The ``EvalData`` of a dataset spec (see the module docstring).

    Args:
      spec: dataset spec.
      split: split to read; the dataset's evaluation split when None (for an alias, the
        benchmark's split where it differs from the catalog's, ``ALIAS_SPLITS``).
      data_dir, download: tfds data directory and whether tfds may download and prepare.
      classnames: optional class names overriding the dataset's (index = label id).
      **options: source options (jclip_shapes: label, num_examples, seed, options; folder:
        templates, allow_empty_classes; pairs: image_key, caption_key; wds: templates; see
        ``jclip.evals.local_sources``).
    Raises:
      ValueError naming the known datasets for an unknown spec, before any data is read.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"a dataset spec must be a non-empty string, got {spec!r}")
    if spec in COLLECTIONS:
        raise ValueError(f"{spec!r} is a collection of {len(COLLECTIONS[spec])} datasets: "
                         f"expand it first (jclip.evals.datasets.expand)")
    if split is None:
        split = ALIAS_SPLITS.get(spec)
    spec = ALIASES.get(spec, spec)
    if spec == "countbench":  # the local copy in data_dir (jclip.evals.counting)
        spec = "countbench:"
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
                raise ValueError(f"unknown dataset {spec!r}.{_hint(spec)} Known: "
                                 f"{known_specs()}") from None
            data = _catalog(info, split, data_dir, download)
    if classnames is not None:
        names = tuple(classnames)
        if data.classnames is not None and len(names) != len(data.classnames):
            raise ValueError(f"{spec}: {len(names)} class names given, the dataset has "
                             f"{len(data.classnames)} classes")
        data = dataclasses.replace(data, classnames=names,
                                   fingerprint=fingerprint(data.fingerprint, names))
    return data
