"""Deterministic training batches from the synthetic scenes benchmark (``jclip.data.shapes``).

Batch ``s`` of a run is a pure function of ``(seed, s)``: the scenes are generated with a seed
derived from both, so the data position of a run is just its step, a resumed run sees exactly
the batches an uninterrupted one would, and every process of a multi-host run builds the same
global batch (each then uploads only its own rows, see ``sharding.global_batch``).
"""

from __future__ import annotations

import collections
import concurrent.futures

import ml_collections
import numpy as np

# Seed streams: training batches and held-out evaluation scenes never share a seed.
TRAIN_STREAM, EVAL_STREAM = 1, 2


def derive_seed(seed: int, stream: int, index: int) -> int:
    """A 31-bit seed determined by (seed, stream, index), well mixed by SeedSequence."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0] >> 1)


def source_options(data: ml_collections.ConfigDict, source: str) -> dict:
    """Keyword options of ``jclip.data.shapes.generate`` for ``source``: the common
    ``data.options`` updated with ``data.source_options[source]``."""
    per_source = data.get("source_options", None) or {}
    return {**dict(data.get("options", None) or {}), **dict(per_source.get(source, None) or {})}


def make_word_tokenizer(context_length: int):
    """Closed-vocabulary tokenizer over every word the synthetic captions can contain."""
    from jclip.data import shapes
    from jclip.tokenizer import WordTokenizer

    return WordTokenizer(shapes.vocabulary(), context_length)


def generate_scenes(data: ml_collections.ConfigDict, n: int, seed: int) -> dict:
    """``n`` scenes split evenly over the shapes configs ``data.sources`` (e.g. ("attributes",
    "counting")), concatenated in that order; keys common to every source are kept."""
    from jclip.data import shapes

    sources = tuple(data.sources)
    if not sources or n % len(sources):
        raise ValueError(f"Batch of {n} cannot be split evenly over data.sources={sources}")
    parts = [shapes.generate(name, n // len(sources), (seed, i), **source_options(data, name))
             for i, name in enumerate(sources)]
    keys = [k for k in parts[0] if all(k in p for p in parts) and k != "boxes"]
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


class ShapesBatches:
    """Host batches {"image": float32 [B,H,W,3] normalised, "tokens": int32 [B,L], ...};
    with ``data.label`` (e.g. "shape") also "label": int32 [B] class ids of that label."""

    def __init__(self, data: ml_collections.ConfigDict, batch_size: int, seed: int, tokenizer,
                 model_config, *, counterfactual: bool = False):
        self.data = data
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.tokenizer = tokenizer
        self.model_config = model_config
        self.counterfactual = counterfactual

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """The global batch number ``step``."""
        from jclip.preprocessing import normalize

        scenes = generate_scenes(
            self.data, self.batch_size, derive_seed(self.seed, TRAIN_STREAM, step))
        image_size = self.model_config.image_size
        if scenes["image"].shape[1:3] != (image_size, image_size):
            raise ValueError(
                f"Scenes are {scenes['image'].shape[1:3]} but the model expects {image_size}px; "
                f"set data.options.image_size={image_size}"
            )
        batch = {
            "image": np.asarray(normalize(scenes["image"], self.model_config), np.float32),
            "tokens": np.asarray(self.tokenizer(list(scenes["caption"])), np.int32),
        }
        if self.data.get("label", None):  # class ids of one scene label (TeCoA's targets)
            batch["label"] = np.asarray(scenes[self.data.label], np.int32)
        if self.counterfactual and "caption_counterfactual" in scenes:
            batch["tokens_counterfactual"] = np.asarray(
                self.tokenizer(list(scenes["caption_counterfactual"])), np.int32)
        elif self.counterfactual:  # mixed scene kinds: swap the numbers the captions state
            from jclip.train import counting

            batch.update(counting.fields_fn(self.data, self.tokenizer, self.seed)(
                list(scenes["caption"]), step))
        return batch

    def iterate(self, start: int, stop: int, prefetch: int = 2):
        """Yields the batches of steps start..stop-1, built ``prefetch`` steps ahead in a thread."""
        return prefetched(self.batch, start, stop, prefetch)

    def to_global(self, batch: dict, mesh) -> tuple[dict, dict]:
        """(global arrays, data metrics) of a host batch; every process holds the whole global
        batch and uploads its own rows (``sharding.global_batch``), so the losses are those of
        the original single-path trainer."""
        from jclip.train import sharding

        return sharding.global_batch(batch, mesh), {}


def prefetched(batch_fn, start: int, stop: int, prefetch: int = 2):
    """Yields ``batch_fn(s)`` for s in start..stop-1, computed ``prefetch`` steps ahead in a
    thread, in order."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = collections.deque()
        next_step = start
        while next_step < stop and len(pending) < max(prefetch, 1):
            pending.append(pool.submit(batch_fn, next_step))
            next_step += 1
        while pending:
            batch = pending.popleft().result()
            if next_step < stop:
                pending.append(pool.submit(batch_fn, next_step))
                next_step += 1
            yield batch


def __getattr__(name):
    if name == "make_batches":  # a name that moved
        raise AttributeError("jclip.train.input_pipeline.make_batches moved to "
                             "jclip.train.sources.make_batches")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
