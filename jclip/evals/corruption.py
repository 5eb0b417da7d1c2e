"""Zero-shot accuracy under common corruptions (ImageNet-C protocol), on the fly or from tfds.

Hendrycks & Dietterich (2019). Two sources of corrupted images:

- any dataset spec: each uint8 image is corrupted on the fly with ``jclip.data.corruptions``
  before the model's preprocessing, seeded per (seed, corruption, severity, image index), so the
  numbers do not depend on batch size, workers or process count;
- ``imagenet2012_corrupted`` / ``cifar10_corrupted`` (no config): the published tfds sets, one
  config ``<name>/<corruption>_<severity>`` per cell (tfds spells glass blur
  ``frosted_glass_blur`` and elastic ``elastic`` for CIFAR-10-C), the clean accuracy on
  ``imagenet2012`` / ``cifar10``.

Task keys (plus templates / classnames of zero-shot classification):
  corruptions: "all" (the 19 of the reference code; frost only with ``frost_dir``), "benchmark"
    (the 15 of mCE), "extra" (the 4 held-out ones), or a list of names.
  severities: list of ints in 1..5.
  table: None (per image: "cifar" for images <= 32 px, else "imagenet"), "imagenet" or "cifar".
  seed: int seed of the random corruptions.
  frost_dir: folder of the reference's frost images (needed for "frost").
  crop: None, or a side S: every image (clean ones too) is first resized to a shorter side of
    round(S 256 / 224) and centre-cropped to S x S, as ImageNet-C prepares the validation set
    (S = 224); None corrupts the images as the dataset stores them.
  jpeg_quality: None, or the JPEG quality of a save after the corruption (ImageNet-C's files are
    JPEGs of quality 85; CIFAR-10-C's are not compressed).
  baseline: None, or a result of this task for the baseline model (a dict or its JSON file):
    adds mCE and relative mCE (``jclip.metrics.corruption_error``) over the shared cells (the
    paper's mCE averages the 15 "benchmark" corruptions, frost included).

Result: {"metrics": {"clean/acc1", "<corruption>/<severity>/acc1", "mean/acc1" (mean over all
cells)[, "mce", "relative_mce"]}, "accuracy": {corruption: {"<severity>": acc1}},
"num_examples": n[, "ce", "relative_ce", "skipped"]}.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import zlib

import numpy as np

from jclip.data import corruptions as C
from jclip.evals import zeroshot_classification as zs
from jclip.evals.eval_data import EvalData, fingerprint

DEFAULTS = {
    "templates": None,
    "corruptions": "all",
    "severities": [1, 2, 3, 4, 5],
    "table": None,
    "seed": 0,
    "frost_dir": None,
    "baseline": None,
    "crop": None,
    "jpeg_quality": None,
}
TFDS_SETS = {"imagenet2012_corrupted": "imagenet2012", "cifar10_corrupted": "cifar10"}
_TFDS_NAMES = {"cifar10_corrupted": {"glass_blur": "frosted_glass_blur",
                                     "elastic_transform": "elastic"}}


def resolve_corruptions(spec, frost_dir=None) -> tuple[list[str], list[str]]:
    """(names to run, names skipped) of a ``corruptions`` key; ValueError for unknown names."""
    groups = {"all": C.CORRUPTIONS, "benchmark": C.BENCHMARK, "extra": C.EXTRA}
    if isinstance(spec, str):
        if spec not in groups:
            raise ValueError(f"corruptions must be 'all', 'benchmark', 'extra' or a list of "
                             f"names, got {spec!r}; names: {C.CORRUPTIONS}")
        names = list(groups[spec])
        if spec == "all" and frost_dir is None:
            return [n for n in names if n != "frost"], ["frost"]
        return names, []
    if not isinstance(spec, (list, tuple)) or not spec:
        raise ValueError(f"corruptions must be a group name or a non-empty list, got {spec!r}")
    unknown = [n for n in spec if n not in C.CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption(s) {unknown}; known corruptions: {C.CORRUPTIONS}")
    if len(set(spec)) != len(spec):
        raise ValueError(f"corruptions lists a name twice: {list(spec)}")
    return list(spec), []


def check_severities(severities) -> list[int]:
    """The severities as ints; ValueError unless a non-empty list of distinct ints in 1..5."""
    if not isinstance(severities, (list, tuple)) or not severities:
        raise ValueError(f"severities must be a non-empty list of ints in 1..5, got "
                         f"{severities!r}")
    for s in severities:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 1 <= s <= 5:
            raise ValueError(f"severity must be an int in 1..5, got {s!r} in {list(severities)}")
    if len(set(severities)) != len(severities):
        raise ValueError(f"severities lists a value twice: {list(severities)}")
    return [int(s) for s in severities]


def image_seed(seed: int, name: str, severity: int, index: int) -> list[int]:
    """The seed of image ``index``'s corruption: a SeedSequence entropy list."""
    return [int(seed), zlib.crc32(name.encode()), int(severity), int(index)]


def _passthrough(images):
    out = np.empty(len(images), dtype=object)
    for i, im in enumerate(images):
        out[i] = np.asarray(im)
    return out


def mapped_data(data: EvalData, fn, tag) -> EvalData:
    """``data`` with ``fn(image uint8 [H, W, 3], index) -> image`` applied to every image before
    the preprocessing; ``index`` is the image's position in the split (on every process)."""

    def make_batches(preprocess, batch_size, process_index, process_count, num_workers):
        from jclip.data import pipeline

        start = 0
        if process_count > 1:
            total = data.expected_examples()
            if total is None:
                raise ValueError(f"{data.name}: on-the-fly corruption over several processes "
                                 "needs the split size, which the source does not report")
            start = pipeline.local_range(total, process_index, process_count)[0]
        raw = data.make_batches(preprocess=_passthrough, batch_size=batch_size,
                                process_index=process_index, process_count=process_count,
                                num_workers=num_workers)
        shape = None
        pool = concurrent.futures.ThreadPoolExecutor(num_workers) if num_workers > 1 else None
        try:
            for batch in raw:
                rows = np.flatnonzero(np.asarray(batch["mask"], bool))
                jobs = [(np.asarray(batch["image"][i], np.uint8), start + k)
                        for k, i in enumerate(rows)]
                images = list(pool.map(lambda job: fn(*job), jobs) if pool else
                              (fn(*job) for job in jobs))  # seeded per index: same either way
                start += len(rows)
                if images:
                    pixels = np.asarray(preprocess(images))
                    shape, dtype = pixels.shape[1:], pixels.dtype
                elif shape is None:
                    probe = np.asarray(preprocess([np.zeros((8, 8, 3), np.uint8)]))
                    shape, dtype = probe.shape[1:], probe.dtype
                full = np.zeros((len(batch["mask"]),) + tuple(shape), dtype)
                if images:
                    full[rows] = pixels
                yield {**batch, "image": full}
        finally:
            if pool is not None:
                pool.shutdown()

    return dataclasses.replace(data, name=f"{data.name}+{tag[0]}", make_batches=make_batches,
                               fingerprint=fingerprint(data.fingerprint, *tag))


def cropped_data(data: EvalData, crop: int) -> EvalData:
    """``data`` resized and centre-cropped as ImageNet-C prepares images (``C.imagenet_crop``)."""
    return mapped_data(data, lambda image, _: C.imagenet_crop(image, crop), ("crop", int(crop)))


def corrupted_data(data: EvalData, name: str, severity: int, *, seed: int = 0, table=None,
                   frost_dir=None, crop=None, jpeg_quality=None) -> EvalData:
    """``data`` with every image corrupted by (name, severity) before the preprocessing, seeded
    by ``image_seed(seed, name, severity, index)``; with ``crop``, first resized and
    centre-cropped (``C.imagenet_crop``); with ``jpeg_quality``, saved as JPEG afterwards."""
    C.severity_parameter(name, severity, table or "imagenet")  # checks name, severity, table

    def fn(image, index):
        if crop is not None:
            image = C.imagenet_crop(image, crop)
        return C.corrupt(image, name, severity, seed=image_seed(seed, name, severity, index),
                         table=table or "auto", frost_dir=frost_dir, jpeg_quality=jpeg_quality)

    return mapped_data(data, fn, (
        f"{name}_{severity}", "corruption", name, int(severity), int(seed), table,
        None if frost_dir is None else os.fspath(frost_dir), crop, jpeg_quality))


def _load_baseline(baseline) -> dict:
    if isinstance(baseline, (str, os.PathLike)):
        if not os.path.isfile(baseline):
            raise ValueError(f"baseline file {os.fspath(baseline)!r} does not exist")
        with open(baseline) as f:
            baseline = json.load(f)
    if not isinstance(baseline, dict) or "accuracy" not in baseline or "clean/acc1" not in \
            baseline.get("metrics", {}):
        raise ValueError("baseline must be a result of the corruption task (a dict or JSON file "
                         "with 'accuracy' and metrics['clean/acc1'])")
    return baseline


def compare(result: dict, baseline: dict) -> dict:
    """mCE and relative mCE of a corruption result against a baseline result (shared cells)."""
    from jclip.metrics import corruption_error as ce

    base = _load_baseline(baseline)
    ours = {c: per for c, per in result["accuracy"].items() if c in base["accuracy"]}
    if not ours:
        raise ValueError("the baseline result shares no corruption with this one")
    base_acc = {c: {s: base["accuracy"][c][s] for s in per} for c, per in ours.items()
                if set(per) <= set(base["accuracy"][c])}
    if len(base_acc) != len(ours):
        raise ValueError("the baseline result lacks some severities of this one")
    errors, base_errors = ce.errors_from_accuracy(ours), ce.errors_from_accuracy(base_acc)
    clean, base_clean = 1 - result["metrics"]["clean/acc1"], 1 - base["metrics"]["clean/acc1"]
    ces = ce.corruption_errors(errors, base_errors)
    rel = ce.relative_corruption_errors(errors, clean, base_errors, base_clean)
    return {"mce": float(np.mean(list(ces.values()))),
            "relative_mce": float(np.mean(list(rel.values()))), "ce": ces, "relative_ce": rel}


def _accuracy(ctx, data, task) -> tuple[float, int]:
    feats = ctx.image_features(data)
    logits, labels, _ = zs.subset_logits(ctx, data, task, feats)
    return zs.classification_metrics(logits, labels)["acc1"], len(labels)


def check(task: dict) -> tuple[list[str], list[str], list[int], dict | None]:
    """(corruptions, skipped, severities, baseline) of a filled-in task; ValueError naming a bad
    key. Runs before any image is encoded (``run`` and ``jclip-eval`` call it first)."""
    names, skipped = resolve_corruptions(task["corruptions"], task["frost_dir"])
    severities = check_severities(task["severities"])
    table = task["table"]
    if table is not None and table not in C.TABLES:
        raise ValueError(f"table must be None, 'imagenet' or 'cifar', got {table!r}")
    if isinstance(task["seed"], bool) or not isinstance(task["seed"], (int, np.integer)):
        raise ValueError(f"seed must be an int, got {task['seed']!r}")
    if "frost" in names:
        C.frost_images(task["frost_dir"])  # checks the folder
    baseline = None if task["baseline"] is None else _load_baseline(task["baseline"])
    crop, quality = task["crop"], task["jpeg_quality"]
    if crop is not None and (isinstance(crop, bool) or not isinstance(crop, (int, np.integer))
                             or crop < 8):
        raise ValueError(f"crop must be None or an int side >= 8, got {crop!r}")
    if quality is not None and (isinstance(quality, bool) or not isinstance(
            quality, (int, np.integer)) or not 1 <= quality <= 95):
        raise ValueError(f"jpeg_quality must be None or an int in 1..95, got {quality!r}")
    return names, skipped, severities, baseline


def run(ctx, task: dict) -> dict:
    names, skipped, severities, baseline = check(task)
    table = task["table"]
    spec = task["dataset"]
    precomputed = spec in TFDS_SETS
    if precomputed:
        if task.get("data") or table is not None or task["crop"] or task["jpeg_quality"]:
            raise ValueError(f"{spec} holds precomputed corruptions: data=, table=, crop= and "
                             "jpeg_quality= do not apply")
        clean = ctx.dataset({**task, "dataset": TFDS_SETS[spec]})
    else:
        clean = ctx.dataset(task)
    scored = clean if task["crop"] is None else cropped_data(clean, task["crop"])
    clean_acc, n = _accuracy(ctx, scored, task)
    metrics, accuracy = {"clean/acc1": clean_acc}, {}
    for name in names:
        accuracy[name] = {}
        for severity in severities:
            if precomputed:
                config = _TFDS_NAMES.get(spec, {}).get(name, name)
                data = ctx.dataset({**task, "dataset": f"{spec}/{config}_{severity}"})
            else:
                data = corrupted_data(clean, name, severity, seed=task["seed"], table=table,
                                      frost_dir=task["frost_dir"], crop=task["crop"],
                                      jpeg_quality=task["jpeg_quality"])
            acc, _ = _accuracy(ctx, data, task)
            accuracy[name][str(severity)] = acc
            metrics[f"{name}/{severity}/acc1"] = acc
    metrics["mean/acc1"] = float(np.mean([a for per in accuracy.values() for a in per.values()]))
    out = {"metrics": metrics, "accuracy": accuracy, "num_examples": n, "split": clean.split}
    if skipped:
        out["skipped"] = skipped
    if baseline is not None:
        summary = compare(out, baseline)
        metrics["mce"], metrics["relative_mce"] = summary["mce"], summary["relative_mce"]
        out["ce"], out["relative_ce"] = summary["ce"], summary["relative_ce"]
    return out
