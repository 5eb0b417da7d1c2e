"""Evaluation input pipeline over tfds: every example exactly once, padded and masked batches.

``eval_dataset`` reads a catalog dataset (``jclip.data.registry``) with tf.data, decodes and
extracts the label in parallel, preprocesses batches in a small thread pool (PIL resizing releases
the GIL) and yields numpy batches. With several processes each reads its own contiguous part of
the split (``tfds.split_for_jax_process``, remainder spread over the first processes), and every
process yields the same number of batches, padding with fully masked rows, so that collectives
of a multi-host evaluation stay in step. Nothing is dropped or repeated: the masked-in rows of all
processes together are the split, once.
"""

from __future__ import annotations

import collections
import concurrent.futures
import math
import zlib
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from jclip.data import registry

NUM_CAPTIONS = 5  # retrieval: captions per image kept (Karpathy-split COCO protocol)


def _label_fn(info: registry.DatasetInfo):
    """TF function example -> label tensor of the dataset."""
    import tensorflow as tf

    if info.label_fn is None:
        return lambda ex: tf.cast(ex[info.label_key], tf.int64)
    if info.label_fn == "multi_hot_1000":  # ImageNet-ReaL: possibly empty list of labels
        return lambda ex: tf.cast(
            tf.reduce_sum(tf.one_hot(ex[info.label_key], 1000, dtype=tf.int32), axis=0) > 0,
            tf.uint8)
    if info.label_fn == "clevr_count_all":  # VTAB: 3..10 objects -> classes 0..7
        return lambda ex: tf.cast(tf.size(ex["objects"]["size"]) - 3, tf.int64)
    if info.label_fn == "clevr_closest_object_distance":
        # VTAB: depth of the closest object binned by these thresholds into 6 classes.
        thresholds = tf.constant([0.0, 8.0, 8.5, 9.0, 9.5, 10.0, 100.0])

        def closest(ex):
            dist = tf.reduce_min(ex["objects"]["pixel_coords"][:, 2])
            return tf.reduce_max(tf.where(thresholds - dist < 0))

        return closest
    raise ValueError(f"unknown label_fn {info.label_fn!r} in the entry of {info.name!r}")


def _example_fn(info: registry.DatasetInfo, tf_preprocess=None):
    import tensorflow as tf

    label = _label_fn(info)

    def fn(ex):
        image = ex["image"]
        if info.grayscale:
            image = tf.image.grayscale_to_rgb(image)
        if tf_preprocess is not None:
            image = tf_preprocess(image)
        out = {"image": image, "label": label(ex)}
        if info.kind == "retrieval":
            text = ex["captions"]["text"][:NUM_CAPTIONS]
            out["captions"] = tf.pad(text, [[0, NUM_CAPTIONS - tf.size(text)]])
        return out

    return fn


def tf_clip_preprocess(name_or_config):
    """A tf.data-side resize + crop + normalise, run by tf.data's own threads (no GIL).

    Same steps as ``jclip.preprocess`` (shortest side to S then centre crop for CLIP, straight to
    S x S for SigLIP; bicubic; uint8 rounding; model mean / std) but with TensorFlow's
    antialiased bicubic kernel instead of PIL's, so resized pixels differ slightly (a few
    grey levels at edges); images already at S x S are exactly equal. For throughput-bound
    evaluation; use ``jclip.preprocess`` where bit-exact reference preprocessing matters.

    Returns:
      a function uint8 [H, W, 3] tf.Tensor -> float32 [S, S, 3], for ``eval_dataset``'s
      ``tf_preprocess``.
    """
    import tensorflow as tf

    from jclip.models.configs import get_config
    from jclip.preprocessing import mean_std

    config = get_config(name_or_config)
    size = config.image_size
    mean, std = mean_std(config)

    def fn(image):
        h, w = tf.shape(image)[0], tf.shape(image)[1]
        if config.kind == "siglip":
            nh, nw = size, size
        else:  # shortest side to `size`, the other truncated like jclip.preprocessing
            short, long = tf.minimum(h, w), tf.maximum(h, w)
            long = tf.cast(tf.floor(size * tf.cast(long, tf.float64) / tf.cast(short, tf.float64)),
                           tf.int32)
            nh, nw = tf.where(w <= h, long, size), tf.where(w <= h, size, long)
        # Antialiasing (PIL always applies it) only matters when shrinking, and TF's antialiased
        # path is ~10x slower, so upsampling takes the plain bicubic kernel.
        resized = tf.case([
            (tf.logical_and(tf.equal(nh, h), tf.equal(nw, w)), lambda: tf.cast(image, tf.float32)),
            (tf.logical_or(nh < h, nw < w),
             lambda: tf.image.resize(image, (nh, nw), method="bicubic", antialias=True)),
        ], default=lambda: tf.image.resize(image, (nh, nw), method="bicubic"))
        pixels = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
        top, left = (nh - size) // 2, (nw - size) // 2
        pixels = pixels[top:top + size, left:left + size]
        x = tf.cast(tf.cast(pixels, tf.float64) * (1 / 255), tf.float32)
        return tf.ensure_shape((x - mean) / std, (size, size, 3))

    return fn


def load_builder(info: registry.DatasetInfo, data_dir=None, download: bool = True):
    """The tfds builder of ``info``, prepared; a clear error for missing manual downloads."""
    import tensorflow_datasets as tfds

    if info.tfds_name.startswith("jclip_shapes"):
        from jclip.data import shapes_tfds  # noqa: F401  (registers the builder)
    builder = tfds.builder(info.tfds_name, data_dir=data_dir)
    if download:
        try:
            builder.download_and_prepare()
        except AssertionError as e:
            if "manual" in str(e).lower() and info.manual:
                raise FileNotFoundError(
                    f"{info.name}: {info.manual}. Expected manual directory for this data_dir: "
                    f"{builder.data_dir_root}/downloads/manual") from e
            raise
    elif not builder.is_prepared():
        hint = f" {info.manual}." if info.manual else ""
        raise FileNotFoundError(f"{info.name} is not prepared in {builder.data_dir_root};{hint} "
                                "pass download=True or run `tfds build` first")
    return builder


def process_split(split: str, process_index: int, process_count: int):
    """This process's contiguous part of ``split``; parts of all processes cover it once."""
    import tensorflow_datasets as tfds

    if not 0 <= process_index < process_count:
        raise ValueError(f"need 0 <= process_index < process_count, got {process_index} and "
                         f"{process_count}")
    if process_count == 1:
        return split
    return tfds.split_for_jax_process(split, process_index=process_index,
                                      process_count=process_count)


def num_eval_batches(num_examples: int, process_count: int, batch_size: int) -> int:
    """Batches every process yields: enough for the largest per-process part (ceil(N/P))."""
    return max(1, math.ceil(math.ceil(num_examples / process_count) / batch_size))


def split_size(builder, split) -> int:
    """Examples in ``split`` (a tfds split spec) of a prepared builder; 0 when unknown."""
    try:
        return int(builder.info.splits[split].num_examples)
    except (KeyError, ValueError, TypeError, AttributeError):
        return 0  # unknown (e.g. under tfds.testing.mock_data)


def _chunks(it: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk = []
    for ex in it:
        chunk.append(ex)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _ordered_map(fn: Callable, items: Iterable, workers: int, depth: int) -> Iterator:
    """map(fn, items) computed ahead by a thread pool, results in input order."""
    if workers <= 0:
        yield from map(fn, items)
        return
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending = collections.deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _pad_rows(x: np.ndarray, rows: int) -> np.ndarray:
    if len(x) == rows:
        return x
    pad = np.zeros((rows - len(x),) + x.shape[1:], x.dtype)
    return np.concatenate([x, pad])


def _corrupt_each(images: list[np.ndarray], corruption, seed) -> list[np.ndarray]:
    """Corrupts each image with a seed from its own pixels: independent of batching."""
    from jclip.data.corruptions import corrupt

    name, severity = corruption
    return [corrupt(im, name, severity, seed=(seed, zlib.crc32(im.tobytes()))) for im in images]


def _pad_batch(stacked: dict, batch_size: int) -> dict:
    """Stacked rows {"image", "label"[, "captions"]} -> padded batch with "mask"."""
    n = len(stacked["label"])
    batch = {
        "image": _pad_rows(stacked["image"], batch_size),
        "label": _pad_rows(stacked["label"], batch_size),
        "mask": _pad_rows(np.ones(n, bool), batch_size),
    }
    if "captions" in stacked:
        caps = np.array([[c.decode("utf-8") for c in row] for row in stacked["captions"]],
                        dtype=object).reshape(n, -1)
        batch["captions"] = _pad_rows(caps, batch_size)
        batch["captions"][n:] = ""
    return batch


def _make_batch(examples: list[dict], preprocess, batch_size: int, corruption=None,
                seed=0) -> dict:
    images = [ex["image"] for ex in examples]
    if corruption is not None:
        images = _corrupt_each(images, corruption, seed)
    if preprocess is None:
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise ValueError(f"images of different sizes {sorted(shapes)[:3]}...: pass a "
                             "preprocess function that resizes them")
        pixels = np.stack(images)
    else:
        pixels = np.asarray(preprocess(images))
        if len(pixels) != len(images):
            raise ValueError(f"preprocess returned {len(pixels)} images for {len(images)}")
    stacked = {"image": pixels, "label": np.stack([ex["label"] for ex in examples])}
    if "captions" in examples[0]:
        stacked["captions"] = [ex["captions"] for ex in examples]
    return _pad_batch(stacked, batch_size)


def _empty_like(batch: dict) -> dict:
    out = {k: np.zeros_like(v) for k, v in batch.items()}
    if "captions" in out:
        if out["captions"].ndim == 1:  # list_batches: a list of captions per row
            for i in range(len(out["captions"])):
                out["captions"][i] = []
        else:
            out["captions"][:] = ""
    return out


def eval_dataset(name: str | registry.DatasetInfo, split: str | None = None, *,
                 preprocess: Callable | None,
                 batch_size: int, data_dir: str | None = None, download: bool = True,
                 process_index: int | None = None, process_count: int | None = None,
                 num_workers: int = 2, corruption: tuple[str, int] | None = None,
                 corruption_seed: int = 0, tf_preprocess: Callable | None = None
                 ) -> Iterator[dict]:
    """An iterator over one pass of an evaluation split in padded, masked numpy batches.

    Arguments are checked and the dataset is prepared when called; batches come lazily.

    Args:
      name: catalog name (``registry.DATASETS``), optionally with a tfds config, or a
        ``registry.DatasetInfo`` (a dataset outside the catalog).
      split: tfds split spec; the catalog's evaluation split when None.
      preprocess: callable list of uint8 [H, W, 3] images -> float32 [n, S, S, 3] (e.g.
        ``lambda ims: jclip.preprocess(ims, "ViT-B-32")``), or None to stack same-size uint8
        images as they are.
      batch_size: rows per batch (per process).
      data_dir: tfds data directory (tfds default when None).
      download: download and prepare the dataset if needed (not possible for manual downloads).
      process_index, process_count: this process's part; ``jax.process_index()`` /
        ``jax.process_count()`` when None.
      num_workers: preprocessing threads (0 = inline).
      corruption: optional (name, severity) of ``jclip.data.corruptions`` applied to the uint8
        images before ``preprocess``; each image's noise is seeded by ``corruption_seed`` and a
        checksum of its pixels, so the result does not depend on batching or process count.
      tf_preprocess: optional TF function uint8 [H, W, 3] -> [S, S, 3] run inside tf.data
        (e.g. ``tf_clip_preprocess("ViT-B-32")``), before ``preprocess`` (then usually None).
        Not combinable with ``corruption``, which works on uint8 images.
    Yields:
      {"image": [batch_size, ...], "label": int64 [batch_size] (uint8 [batch_size, 1000] for
      multi-label), "mask": bool [batch_size]} (+ "captions": object [batch_size, 5] str for
      retrieval, with the COCO image id as label). Padded rows are zeros with mask False.
    """
    info = name if isinstance(name, registry.DatasetInfo) else registry.get_dataset_info(name)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if preprocess is not None and not callable(preprocess):
        raise TypeError(f"preprocess must be callable or None, got {type(preprocess).__name__}")
    if corruption is not None and tf_preprocess is not None:
        raise ValueError("corruption needs the uint8 images: use preprocess, not tf_preprocess")
    if corruption is not None:
        from jclip.data.corruptions import severity_parameter

        severity_parameter(*corruption)  # validates the name and severity up front
    if process_index is None or process_count is None:
        import jax

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    import tensorflow as tf

    split = split or info.split
    builder = load_builder(info, data_dir, download)
    local = process_split(split, process_index, process_count)
    ds = builder.as_dataset(split=local, shuffle_files=False)
    ds = ds.map(_example_fn(info, tf_preprocess), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    total = split_size(builder, split)
    if 0 < total < process_count:
        raise ValueError(f"split {split!r} of {name} has {total} examples, fewer than the "
                         f"{process_count} processes: evaluate it on fewer processes")
    num_batches = num_eval_batches(total, process_count, batch_size) if total else None

    if tf_preprocess is not None and preprocess is None:  # same-size images: batch in tf.data
        ds = ds.batch(int(batch_size)).prefetch(2)
        batches = (_pad_batch(b, int(batch_size)) for b in ds.as_numpy_iterator())
    else:
        ds = ds.prefetch(tf.data.AUTOTUNE)
        make = lambda chunk: _make_batch(chunk, preprocess, int(batch_size), corruption,
                                         corruption_seed)
        batches = _ordered_map(make, _chunks(ds.as_numpy_iterator(), int(batch_size)),
                               num_workers, depth=max(2, 2 * num_workers))
    return _padded_to(batches, num_batches)


def _padded_to(batches: Iterable[dict], num_batches: int | None) -> Iterator[dict]:
    """The batches, then fully masked ones up to ``num_batches`` (keeps processes in step)."""
    count, last = 0, None
    for batch in batches:
        count, last = count + 1, batch
        yield batch
    if num_batches is not None and last is not None:
        for _ in range(num_batches - count):
            yield _empty_like(last)


def local_range(num_examples: int, process_index: int, process_count: int) -> tuple[int, int]:
    """[start, stop) of this process's contiguous part of ``num_examples`` rows.

    The remainder goes to the first processes, as ``tfds.split_for_jax_process`` does, so the
    parts of all processes, in process order, are the rows once, in order.
    """
    if not 0 <= process_index < process_count:
        raise ValueError(f"need 0 <= process_index < process_count, got {process_index} and "
                         f"{process_count}")
    base, extra = divmod(int(num_examples), int(process_count))
    start = process_index * base + min(process_index, extra)
    return start, start + base + (process_index < extra)


def list_batches(examples: list, load: Callable[[object], dict], *, preprocess: Callable | None,
                 batch_size: int, process_index: int = 0, process_count: int = 1,
                 num_workers: int = 2) -> Iterator[dict]:
    """Padded, masked batches over an in-memory list of examples (local files, generated data).

    Each process reads its contiguous part (``local_range``) and every process yields the same
    number of batches (``num_eval_batches``), like ``eval_dataset``.

    Args:
      examples: one descriptor per example (e.g. a file path and a label), in dataset order.
      load: descriptor -> {"image": uint8 [H, W, 3], "label": int (or array), optional
        "captions": list[str]}; runs in ``num_workers`` threads.
      preprocess, batch_size, num_workers: as in ``eval_dataset``.
    Yields:
      {"image": [batch_size, ...], "label": [batch_size], "mask": bool [batch_size]} and, when
      the examples have captions, "captions": object [batch_size] of lists of str ([] padded).
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if 0 < len(examples) < process_count:
        raise ValueError(f"{len(examples)} examples are fewer than the {process_count} processes: "
                         "evaluate them on fewer processes")
    start, stop = local_range(len(examples), process_index, process_count)
    num_batches = num_eval_batches(len(examples), process_count, batch_size)
    local = examples[start:stop]

    def make(chunk):
        loaded = [load(ex) for ex in chunk]
        batch = _make_batch([{"image": ex["image"], "label": ex["label"]} for ex in loaded],
                            preprocess, int(batch_size))
        if "captions" in loaded[0]:
            captions = np.empty(int(batch_size), dtype=object)
            for i in range(int(batch_size)):
                captions[i] = list(loaded[i]["captions"]) if i < len(loaded) else []
            batch["captions"] = captions
        return batch

    chunks = (local[i:i + int(batch_size)] for i in range(0, len(local), int(batch_size)))
    batches = _ordered_map(make, chunks, num_workers, depth=max(2, 2 * num_workers))
    return _padded_to(batches, num_batches)
