"""Image-text training pairs: from tfds (coco_captions) and from a local folder of captioned images.

Both return an infinite (or one-epoch, ``repeat=False``) iterator of numpy batches
{"image": float32 [B, S, S, 3], "tokens": int32 [B, L], "caption": str [B]}: shuffled (files and
a buffer, seeded), repeated, each process reading its own disjoint part, images decoded by
tf.data in parallel, then preprocessed and tokenised in a thread pool ahead of the consumer.
``tokenizer`` is any callable list[str] -> int [B, L] (``jclip.Tokenizer``, ``WordTokenizer``)
and ``preprocess`` any callable list of uint8 [H, W, 3] -> float32 [B, S, S, 3]
(``lambda ims: jclip.preprocess(ims, config)``).

Local folder format: a JSONL file (one object per line) or CSV file (with a header row) whose
rows name an image file relative to the folder and its caption, by default under the keys
"image" and "caption"::

    {"image": "images/0001.jpg", "caption": "a dog on a beach"}
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator

import numpy as np

from jclip.data import pipeline, registry


def _check_callables(tokenizer, preprocess, batch_size):
    if not callable(tokenizer):
        raise TypeError(f"tokenizer must be callable list[str] -> int array, got {tokenizer!r}")
    if not callable(preprocess):
        raise TypeError(f"preprocess must be callable list[image] -> float array, got "
                        f"{preprocess!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def _process(process_index, process_count):
    if process_index is None or process_count is None:
        import jax

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if not 0 <= process_index < process_count:
        raise ValueError(f"need 0 <= process_index < process_count, got {process_index} and "
                         f"{process_count}")
    return process_index, process_count


def _batches(ds, tokenizer, preprocess, batch_size, num_workers) -> Iterator[dict]:
    """Full batches of (image, caption) examples of a tf.data dataset; a last partial is dropped."""

    def make(chunk):
        captions = [ex["caption"].decode("utf-8") for ex in chunk]
        return {
            "image": np.asarray(preprocess([ex["image"] for ex in chunk]), np.float32),
            "tokens": np.asarray(tokenizer(captions), np.int32),
            "caption": np.array(captions, dtype=str),
        }

    chunks = (c for c in pipeline._chunks(ds.as_numpy_iterator(), batch_size)
              if len(c) == batch_size)
    yield from pipeline._ordered_map(make, chunks, num_workers, depth=max(2, 2 * num_workers))


def tfds_pairs(name: str = "coco_captions", split: str = "train", *, tokenizer: Callable,
               preprocess: Callable, batch_size: int, seed: int = 0, data_dir=None,
               shuffle_buffer: int = 10_000, repeat: bool = True, download: bool = True,
               process_index: int | None = None, process_count: int | None = None,
               num_workers: int = 2) -> Iterator[dict]:
    """Training pairs from a tfds dataset whose examples have "image" and "captions"/"text"
    (one caption drawn uniformly per image and pass, with a seed) or a "caption" feature.

    Each process reads ``tfds.split_for_jax_process(split)``; the shuffle seed differs per
    process. See the module docstring for the batch format.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    _check_callables(tokenizer, preprocess, batch_size)
    process_index, process_count = _process(process_index, process_count)
    info = registry.DatasetInfo(name, name, split, "retrieval")
    builder = pipeline.load_builder(info, data_dir, download)
    local = pipeline.process_split(split, process_index, process_count)
    read = tfds.ReadConfig(shuffle_seed=seed + 7919 * process_index)
    ds = builder.as_dataset(split=local, shuffle_files=True, read_config=read)
    ds = ds.shuffle(shuffle_buffer, seed=seed + process_index, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    def pick(i, ex):
        if "caption" in ex:
            return {"image": ex["image"], "caption": ex["caption"]}
        texts = ex["captions"]["text"]
        j = tf.random.stateless_uniform([], seed=tf.stack([tf.cast(seed, tf.int64), i]),
                                        maxval=tf.size(texts, tf.int64), dtype=tf.int64)
        return {"image": ex["image"], "caption": texts[j]}

    ds = ds.enumerate().map(pick, num_parallel_calls=tf.data.AUTOTUNE)
    return _batches(ds.prefetch(tf.data.AUTOTUNE), tokenizer, preprocess, int(batch_size),
                    num_workers)


def read_captions(path: str, *, image_key: str = "image",
                  caption_key: str = "caption") -> list[tuple[str, str]]:
    """(image path relative to the captions file's folder, caption) rows of a JSONL/CSV file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"captions file {path} does not exist")
    ext = os.path.splitext(path)[1].lower()
    with open(path, encoding="utf-8", newline="") as f:
        if ext in (".jsonl", ".json"):
            rows = []
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as e:
                        raise ValueError(f"{path}, line {number} is not a JSON object: {e} "
                                         f"({line.strip()[:80]!r})") from None
        elif ext in (".csv", ".tsv"):
            rows = list(csv.DictReader(f, delimiter="\t" if ext == ".tsv" else ","))
        else:
            raise ValueError(f"captions file must end in .jsonl or .csv (or .tsv), got {path}")
    if not rows:
        raise ValueError(f"captions file {path} has no rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or image_key not in row or caption_key not in row:
            raise ValueError(f"{path}, row {i}: expected keys {image_key!r} and {caption_key!r}, "
                             f"got {row!r}")
    # A null caption (JSON null) is an empty caption, never the text "None": the readers refuse
    # (or, in training with on_error="skip", skip) empty captions.
    return [(str(row[image_key]), "" if row[caption_key] is None else str(row[caption_key]))
            for row in rows]


def folder_pairs(directory: str, captions_file: str = "captions.jsonl", *, tokenizer: Callable,
                 preprocess: Callable, batch_size: int, seed: int = 0,
                 image_key: str = "image", caption_key: str = "caption",
                 shuffle_buffer: int = 10_000, repeat: bool = True,
                 process_index: int | None = None, process_count: int | None = None,
                 num_workers: int = 2) -> Iterator[dict]:
    """Training pairs from images in ``directory`` listed with captions in ``captions_file``
    (JSONL or CSV, relative to ``directory``). Process p takes rows p, p + P, p + 2P, ...

    Missing image files raise FileNotFoundError before anything is read.
    """
    import tensorflow as tf

    _check_callables(tokenizer, preprocess, batch_size)
    process_index, process_count = _process(process_index, process_count)
    rows = read_captions(os.path.join(directory, captions_file), image_key=image_key,
                         caption_key=caption_key)
    paths = [os.path.join(directory, image) for image, _ in rows]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image file(s) listed in {captions_file} are "
                                f"missing, e.g. {missing[:3]}")
    mine = slice(process_index, None, process_count)
    paths, captions = paths[mine], [caption for _, caption in rows][mine]
    if len(paths) < batch_size:
        raise ValueError(f"process {process_index} has {len(paths)} pairs, fewer than one batch "
                         f"of {batch_size}")
    ds = tf.data.Dataset.from_tensor_slices({"path": paths, "caption": captions})
    ds = ds.shuffle(min(shuffle_buffer, len(paths)), seed=seed + process_index,
                    reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    def load(ex):
        image = tf.io.decode_image(tf.io.read_file(ex["path"]), channels=3,
                                   expand_animations=False)
        return {"image": image, "caption": ex["caption"]}

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    return _batches(ds, tokenizer, preprocess, int(batch_size), num_workers)
