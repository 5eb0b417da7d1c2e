"""The table of training data sources: ``config.data.type`` -> a builder of the batches.

  shapes          synthetic scenes (``input_pipeline.ShapesBatches``), the default
  pairs           a local folder with a JSONL/CSV captions file (``data.path``)
  tfds_pairs      a tfds image-text set, e.g. coco_captions (``data.tfds_name``)
  wds             webdataset tar shards, ``data.path`` a pattern like ``shards/{00000..00009}.tar``
  classification  a class-per-folder set (``data.path``, optionally ``folder:DIR``) or a tfds
                  classification set (``data.tfds_name``) with captions from class names and
                  templates (``data.templates``, ``jclip.heads.prompts``): FLYP / TeCoA data
  mixture         several of the above, weighted (``data.mixture``, jclip.train.mixture)

The shapes configs also mix scene kinds within their source. Every source but
shapes reads only this process's shard and uploads only its own rows
(``sharding.local_batch_to_global``); shapes keeps its original path (each process generates the
whole global batch and uploads its own rows) so its losses stay exactly those of earlier runs.
Batches are a pure function of (seed, step): the data position of a run is its step. (For the
file sources they also depend on the process count, since each process shuffles its own shard:
resume with the same number of processes for bit-exact losses.)
Common fields: ``data.on_error`` ("error" | "skip"), ``data.augment`` (random resized crop,
``data.augment_scale``), ``data.num_workers``.
"""

from __future__ import annotations

from jclip.train import input_pipeline, mixture
from jclip.train.local_batches import LocalBatches, process_of  # noqa: F401 (re-exported)


def _local_batch_size(batch_size: int, count: int) -> int:
    if batch_size % count:
        raise ValueError(f"batch_size={batch_size} is not divisible by the {count} processes")
    return batch_size // count


def _templates_caption_fn(data, classnames, dataset=None):
    from jclip.heads.prompts import load_templates

    name = data.get("templates", None) or dataset or "imagenet_simple"
    try:
        templates = load_templates(name)
    except ValueError:
        if data.get("templates", None):
            raise
        templates = load_templates("imagenet_simple")
    classnames = list(classnames)

    def caption(label, rng):
        label = label["label"] if isinstance(label, dict) else label
        return templates[rng.integers(len(templates))].format(classnames[label])

    return caption


def _file_source(data, batch_size, seed, tokenizer, model_config, make_table, captions=None,
                 counterfactual=False):
    """IndexedBatches over ``make_table(process_index, process_count)``; ``captions(table)``
    gives the caption function (default: the table's captions); ``counterfactual`` adds the
    counting loss's fields (``jclip.train.counting``)."""
    from jclip.train import counting, local_batches

    index, count = process_of(data)
    cf = counting.fields_fn(data, tokenizer, seed, index) if counterfactual else None
    table = make_table(index, count)
    image_fn = local_batches.make_image_fn(model_config, bool(data.get("augment", False)),
                                     tuple(data.get("augment_scale", (0.9, 1.0))))
    caption_fn = captions(table) if captions else None
    return LocalBatches(local_batches.IndexedBatches(
        table, local_batch_size=_local_batch_size(batch_size, count), seed=seed,
        tokenizer=tokenizer, image_fn=image_fn, process_index=index,
        on_error=data.get("on_error", "error"), caption_fn=caption_fn,
        num_workers=int(data.get("num_workers", 4)), name=data.get("type"), counterfactual=cf))


def _need(data, key: str, example: str) -> str:
    value = data.get(key, None)
    if not value:
        raise ValueError(f"data.type={data.type!r} needs data.{key} (e.g. {example})")
    return str(value)


def _shapes(config, tokenizer, model_config, counterfactual):
    return input_pipeline.ShapesBatches(config.data, config.batch_size, config.seed, tokenizer,
                                        model_config, counterfactual=counterfactual)


def _pairs(config, tokenizer, model_config, counterfactual):
    from jclip.train import readers

    data = config.data
    path = _need(data, "path", "a folder with captions.jsonl")
    return _file_source(data, config.batch_size, config.seed, tokenizer, model_config,
                        lambda i, n: readers.PairsFolder(
                            path, data.get("captions_file", "captions.jsonl"), process_index=i,
                            process_count=n, image_key=data.get("image_key", "image"),
                            caption_key=data.get("caption_key", "caption")),
                        counterfactual=counterfactual)


def _wds(config, tokenizer, model_config, counterfactual):
    from jclip.train import readers

    data = config.data
    pattern = _need(data, "path", "'shards/{00000..00009}.tar'")
    return _file_source(data, config.batch_size, config.seed, tokenizer, model_config,
                        lambda i, n: readers.WdsShards(
                            pattern, process_index=i, process_count=n,
                            caption_key=data.get("caption_key", "caption")),
                        counterfactual=counterfactual)


def _tfds(config, tokenizer, model_config, label_key=None, caption_fn=None,
          counterfactual=False):
    from jclip.train import counting, local_batches

    data = config.data
    index, count = process_of(data)
    cf = counting.fields_fn(data, tokenizer, config.seed, index) if counterfactual else None
    return LocalBatches(local_batches.TfdsStream(
        _need(data, "tfds_name", "'coco_captions'"), data.get("split", "train"),
        local_batch_size=_local_batch_size(config.batch_size, count), seed=config.seed,
        tokenizer=tokenizer, process_index=index, process_count=count,
        image_fn=local_batches.make_image_fn(model_config, bool(data.get("augment", False)),
                                       tuple(data.get("augment_scale", (0.9, 1.0)))),
        data_dir=data.get("data_dir", None), shuffle_buffer=int(data.get("shuffle_buffer", 10_000)),
        on_error=data.get("on_error", "error"), label_key=label_key, caption_fn=caption_fn,
        download=bool(data.get("download", True)),
        skip_decoding=bool(data.get("skip_decoding", True)), counterfactual=cf))


def _tfds_pairs(config, tokenizer, model_config, counterfactual):
    return _tfds(config, tokenizer, model_config, counterfactual=counterfactual)


def _classification(config, tokenizer, model_config, counterfactual):
    from jclip.train import readers

    data = config.data
    path = str(data.get("path", "") or "")
    if path:
        path = path[len("folder:"):] if path.startswith("folder:") else path
        return _file_source(data, config.batch_size, config.seed, tokenizer, model_config,
                            lambda i, n: readers.ClassFolder(
                                path, data.get("split", "train"), process_index=i,
                                process_count=n),
                            captions=lambda table: _templates_caption_fn(data, table.classnames),
                            counterfactual=counterfactual)
    name = _need(data, "tfds_name", "'cifar10', or data.path='folder:DIR'")
    from jclip.data import registry

    try:
        names = registry.classnames(name)
    except (KeyError, ValueError):
        import tensorflow_datasets as tfds

        label = data.get("label_key", "label")
        names = [registry._clean(n) for n in tfds.builder(name).info.features[label].names]
    return _tfds(config, tokenizer, model_config, label_key=data.get("label_key", "label"),
                 caption_fn=_templates_caption_fn(data, names, name), counterfactual=counterfactual)


# data.type -> builder(config, tokenizer, model_config, counterfactual) -> batches with
# iterate(start, stop) and to_global(batch, mesh) -> (global arrays, data metrics).
SOURCES = {
    "shapes": _shapes,
    "pairs": _pairs,
    "tfds_pairs": _tfds_pairs,
    "wds": _wds,
    "classification": _classification,
    "mixture": lambda *args: _mixture(*args),
}


def _mixture(config, tokenizer, model_config, counterfactual):
    """Several sources of the types above, weighted (``jclip.train.mixture``)."""
    return mixture.make_mixture(config, tokenizer, model_config, counterfactual, SOURCES)


def make_batches(config, tokenizer, model_config, *, counterfactual: bool = False):
    """The training batches of ``config.data.type`` (default "shapes"); one source per run."""
    kind = config.data.get("type", "shapes")
    if kind not in SOURCES:
        raise ValueError(f"Unknown data.type {kind!r}; known data types: {sorted(SOURCES)}")
    if counterfactual and kind != "shapes":  # checked before any data is read
        from jclip.train import counting

        counting.options(config.data)
    return SOURCES[kind](config, tokenizer, model_config, counterfactual)
