"""Local batches of this process, a pure function of ``(seed, step)``, from a shard table
(``readers``) or a tfds split.

``IndexedBatches``: row ``j`` of step ``s`` is the example at position ``g = s * b + j`` of this
process's stream (b = local batch size), the stream being the shard in a fresh seeded
permutation per epoch (``epoch = g // len(shard)``). A resumed run therefore reads exactly the
examples an uninterrupted one would. ``TfdsStream``: a seeded, repeated, shuffled tf.data
stream of this process's part of a tfds split; resuming skips the first ``start * b`` examples
without decoding them.

An example that cannot be read (an undecodable image, an empty caption) raises ``ValueError``
naming the file with ``on_error="error"``; with ``on_error="skip"`` it is replaced (by a
seeded random draw from the shard, or in a tfds stream by the next good row of the batch) and
counted in the batch's ``"skipped"`` row counts.

Augmentation (``augment=True``): a random resized crop (OpenCLIP's default scale (0.9, 1.0))
with a generator seeded by (seed, step, process, row).
"""

from __future__ import annotations

import concurrent.futures

import jax
import jax.numpy as jnp
import numpy as np

from jclip.train import input_pipeline, sharding
from jclip.train.readers import check_caption

# Seed streams of the file sources (the shapes streams 1 and 2 are in input_pipeline).
ORDER_STREAM, SKIP_STREAM, AUGMENT_STREAM, CAPTION_STREAM = 11, 12, 13, 14
ON_ERROR = ("error", "skip")
MAX_REDRAWS = 32


def _rng(seed: int, *index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, index)]))


def random_resized_crop(image: np.ndarray, rng: np.random.Generator,
                        scale=(0.9, 1.0), ratio=(3 / 4, 4 / 3)) -> np.ndarray:
    """A random crop of ``image`` (uint8 [H, W, 3]) covering a fraction in ``scale`` of its area
    with aspect ratio (w/h) log-uniform in ``ratio``; 10 tries, then the largest centre crop of
    a ratio in range (the sampling of torchvision's RandomResizedCrop, as OpenCLIP and
    big_vision's inception crop use it). Returns uint8 [h, w, 3], not yet resized."""
    height, width = image.shape[:2]
    area = height * width
    log_ratio = np.log(ratio)
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(*log_ratio))
        w, h = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
            return image[top:top + h, left:left + w]
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    top, left = (height - h) // 2, (width - w) // 2
    return image[top:top + h, left:left + w]


def make_image_fn(model_config, augment: bool, scale=(0.9, 1.0)):
    """``fn(uint8 [H, W, 3], rng) -> float32 [S, S, 3]`` normalised for the model: CLIP's
    resize + centre crop, or with ``augment`` a random resized crop then a bicubic resize."""
    from PIL import Image

    from jclip.preprocessing import normalize, preprocess

    size = model_config.image_size

    def fn(image, rng):
        if not augment:
            return preprocess(image, model_config)[0]
        crop = random_resized_crop(image, rng, scale)
        resized = Image.fromarray(np.ascontiguousarray(crop)).resize(
            (size, size), resample=Image.Resampling.BICUBIC)
        return normalize(np.asarray(resized)[None], model_config)[0]

    return fn


# --------------------------------------------------------------------------------------------
# Batches


class IndexedBatches:
    """Local batches {"image": float32 [b, S, S, 3], "tokens": int32 [b, L], "skipped": int32
    [b]} of a shard table (b = batch_size / process_count), a pure function of (seed, step).

    ``caption_fn(example, rng) -> str`` makes the caption (default: ``example["caption"]``);
    it gets a generator seeded by (seed, step, process, row). ``counterfactual(captions, step)
    -> dict`` adds the counting loss's fields (``jclip.train.counting.fields_fn``).
    """

    def __init__(self, examples, *, local_batch_size: int, seed: int, tokenizer, image_fn,
                 process_index: int = 0, on_error: str = "error", caption_fn=None,
                 num_workers: int = 4, name: str = "data", counterfactual=None):
        if on_error not in ON_ERROR:
            raise ValueError(f"data.on_error must be one of {ON_ERROR}, got {on_error!r}")
        if len(examples) == 0:
            raise ValueError(f"{name}: process {process_index} has no examples")
        self.examples, self.batch_size = examples, int(local_batch_size)
        self.seed, self.process_index = int(seed), int(process_index)
        self.tokenizer, self.image_fn, self.on_error = tokenizer, image_fn, on_error
        self.caption_fn = caption_fn or (lambda example, rng: example["caption"])
        self.num_workers, self.name = num_workers, name
        self.counterfactual = counterfactual
        self._perms: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.pop(min(self._perms))
            self._perms[epoch] = _rng(self.seed, ORDER_STREAM, self.process_index,
                                      epoch).permutation(len(self.examples))
        return self._perms[epoch]

    def indices(self, step: int) -> np.ndarray:
        """int [b]: the shard indices of step ``step``'s rows (before any skip redraw)."""
        n = len(self.examples)
        positions = step * self.batch_size + np.arange(self.batch_size)
        return np.array([self._permutation(int(g // n))[g % n] for g in positions])

    def _row(self, step: int, row: int, index: int):
        skipped = 0
        for attempt in range(MAX_REDRAWS + 1):
            try:
                example = self.examples.load(int(index))
                rng = _rng(self.seed, CAPTION_STREAM, step, self.process_index, row)
                caption = check_caption(self.caption_fn(example, rng), f"example {index}")
                break
            except (ValueError, OSError) as e:
                if self.on_error == "error":
                    raise ValueError(f"{self.name}: {e} (set data.on_error='skip' to skip "
                                     f"unreadable examples)") from None
                skipped += 1
                index = _rng(self.seed, SKIP_STREAM, step, self.process_index, row,
                             attempt).integers(len(self.examples))
        else:
            raise ValueError(f"{self.name}: {MAX_REDRAWS + 1} examples in a row could not be "
                             f"read (row {row} of step {step}); check the data")
        rng = _rng(self.seed, AUGMENT_STREAM, step, self.process_index, row)
        return self.image_fn(example["image"], rng), caption, skipped, example.get("label")

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's rows of batch ``step``."""
        indices = self.indices(step)
        with concurrent.futures.ThreadPoolExecutor(self.num_workers) as pool:
            rows = list(pool.map(lambda j: self._row(step, j, indices[j]), range(len(indices))))
        images, captions, skipped, labels = zip(*rows)
        out = {"image": np.stack(images).astype(np.float32),
               "tokens": np.asarray(self.tokenizer(list(captions)), np.int32),
               "skipped": np.asarray(skipped, np.int32)}
        if all(label is not None for label in labels):  # class-per-folder sets (TeCoA)
            out["label"] = np.asarray(labels, np.int32)
        if self.counterfactual is not None:
            out.update(self.counterfactual(list(captions), step))
        return out


class TfdsStream:
    """Local batches of a tfds split read as a seeded stream: this process's part of the split
    (``tfds.split_for_jax_process``), repeated and shuffled with a fixed seed, so position ``g``
    of the stream is the same example in every run; ``stream(start)`` skips the first
    ``start * b`` examples without decoding them (``skip_decoding``; False lets tfds decode
    the images, needed where tfds cannot apply decoders, e.g. its mock of nested sequence
    features, and then a resume decodes the skipped images). Examples have "image" and a caption
    ("caption", or one of "captions"/"text" drawn with a seed per position) or, with
    ``label_key``, a class label turned into a caption by ``caption_fn(label, rng)``.
    An unreadable image or empty caption raises, or with ``on_error="skip"`` is replaced by the
    next good row of the same local batch (and counted)."""

    def __init__(self, name: str, split: str, *, local_batch_size: int, seed: int, tokenizer,
                 image_fn, process_index: int, process_count: int, data_dir=None,
                 shuffle_buffer: int = 10_000, on_error: str = "error", label_key=None,
                 caption_fn=None, download: bool = True, skip_decoding: bool = True,
                 counterfactual=None):
        from jclip.data import pipeline, registry
        if on_error not in ON_ERROR:
            raise ValueError(f"data.on_error must be one of {ON_ERROR}, got {on_error!r}")
        info = registry.DatasetInfo(name, name, split, "retrieval")
        self.builder = pipeline.load_builder(info, data_dir, download)
        self.split = pipeline.process_split(split, process_index, process_count)
        self.name, self.b, self.seed, self.process_index = name, local_batch_size, seed, \
            process_index
        self.tokenizer, self.image_fn, self.on_error = tokenizer, image_fn, on_error
        self.shuffle_buffer, self.label_key, self.caption_fn = shuffle_buffer, label_key, \
            caption_fn
        self.skip_decoding = skip_decoding
        self.counterfactual = counterfactual

    def _dataset(self, start: int):
        import tensorflow as tf
        import tensorflow_datasets as tfds

        decoders = {"image": tfds.decode.SkipDecoding()} if self.skip_decoding else None
        ds = self.builder.as_dataset(split=self.split, shuffle_files=False, decoders=decoders)
        options = tf.data.Options()
        options.deterministic = True
        ds = ds.with_options(options).repeat()
        ds = ds.shuffle(self.shuffle_buffer, seed=self.seed + 7919 * self.process_index,
                        reshuffle_each_iteration=True)
        seed, label_key = int(self.seed), self.label_key

        def pick(i, ex):
            out = {"image": ex["image"], "index": i}
            if label_key:
                out["label"] = tf.cast(ex[label_key], tf.int64)
            elif "caption" in ex:
                out["caption"] = ex["caption"]
            else:
                texts = ex["captions"]["text"] if "captions" in ex else ex["text"]
                texts = tf.concat([tf.reshape(texts, [-1]), [""]], 0)
                j = tf.random.stateless_uniform(
                    [], seed=tf.stack([tf.constant(seed, tf.int64), i]),
                    maxval=tf.maximum(tf.size(texts, tf.int64) - 1, 1), dtype=tf.int64)
                out["caption"] = texts[j]
            return out

        ds = ds.enumerate().map(pick).skip(int(start) * self.b)
        return ds.prefetch(2 * self.b)

    def _rows(self, step: int, ex: list[dict]):
        from jclip.data.folder import decode_image

        rows = []
        for j in range(self.b):
            where = f"{self.name} example {int(ex[j]['index'])}"
            rng = _rng(self.seed, CAPTION_STREAM, step, self.process_index, j)
            try:
                if self.label_key:
                    caption = self.caption_fn(int(ex[j]["label"]), rng)
                else:
                    caption = ex[j]["caption"].decode("utf-8")
                caption = check_caption(caption, where)
                image = ex[j]["image"]
                image = decode_image(image, where) if self.skip_decoding else image
            except ValueError as e:
                if self.on_error == "error":
                    raise ValueError(f"{e} (set data.on_error='skip' to skip unreadable "
                                     "examples)") from None
                rows.append(None)
                continue
            rng = _rng(self.seed, AUGMENT_STREAM, step, self.process_index, j)
            rows.append((self.image_fn(image, rng), caption,
                         int(ex[j]["label"]) if self.label_key else -1))
        good = [j for j, r in enumerate(rows) if r is not None]
        if not good:
            raise ValueError(f"{self.name}: no readable example in step {step}'s local batch")
        skipped = np.array([r is None for r in rows], np.int32)
        rows = [r if r is not None else rows[next((g for g in good if g > j), good[0])]
                for j, r in enumerate(rows)]
        images, captions, labels = zip(*rows)
        out = {"image": np.stack(images).astype(np.float32),
               "tokens": np.asarray(self.tokenizer(list(captions)), np.int32),
               "skipped": skipped}
        if self.label_key:  # classification sets: the class ids too (TeCoA)
            out["label"] = np.asarray(labels, np.int32)
        if self.counterfactual is not None:
            out.update(self.counterfactual(list(captions), step))
        return out

    def stream(self, start: int):
        examples = self._dataset(start).as_numpy_iterator()
        step = start
        while True:
            yield self._rows(step, [next(examples) for _ in range(self.b)])
            step += 1


class LocalBatches:
    """Wraps a source of local batches (``batch(step)``, or ``stream(start)`` yielding the
    batches from ``start`` on) with prefetching and the upload of local rows to global arrays.
    The ``"skipped"`` row counts become the step metric ``data/skipped`` (examples replaced in
    that step's global batch)."""

    def __init__(self, source):
        self.source = source

    def batch(self, step: int) -> dict[str, np.ndarray]:
        if hasattr(self.source, "batch"):
            return self.source.batch(step)
        return next(iter(self.source.stream(step)))

    def iterate(self, start: int, stop: int, prefetch: int = 2):
        if hasattr(self.source, "batch"):
            return input_pipeline.prefetched(self.source.batch, start, stop, prefetch)
        return (b for _, b in zip(range(start, stop), self.source.stream(start)))

    def to_global(self, batch: dict, mesh) -> tuple[dict, dict]:
        arrays = sharding.local_batch_to_global(batch, mesh)
        skipped = arrays.pop("skipped", None)
        metrics = {} if skipped is None else {"data/skipped": jnp.sum(skipped)}
        return arrays, metrics


def process_of(data) -> tuple[int, int]:
    """(process index, process count) of a data config (``data.process_index`` /
    ``process_count`` override jax's, for tests and tools)."""
    index = data.get("process_index", None)
    count = data.get("process_count", None)
    return (jax.process_index() if index is None else int(index),
            jax.process_count() if count is None else int(count))
