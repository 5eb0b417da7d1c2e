"""``data.type = "mixture"``: several training sources of any type, mixed with weights.

  c.data.type = "mixture"
  c.data.mixture = {
      "scenes": dict(type="shapes", weight=0.25, sources=("counting",), options=...),
      "photos": dict(type="pairs", weight=0.75, path="~/data/coco_pairs"),
  }

Every batch holds a fixed number of rows of each component: the global batch B split by the
weights with largest-remainder rounding, each count a multiple of the process count (so every
process takes count / processes rows of each component), and no component left empty. Each
component is an ordinary source of ``jclip.train.sources`` built with its own fields (the
mixture's common fields ``on_error``, ``augment``, ``augment_scale``, ``num_workers`` are its
defaults), its batch size (its count) and its own seed (the run's seed + 1000 x its position, the
components taken in name order, as ConfigDict sorts them); it reads only this process's shard,
as alone. A process's rows are the components' local rows
concatenated, then shuffled by a permutation that depends only on (seed, step, process), so
devices see mixed rows. Batches stay a pure function of (seed, step): resume is exact.
"""

from __future__ import annotations

import ml_collections
import numpy as np

from jclip.train.local_batches import LocalBatches, process_of

COMMON_FIELDS = ("on_error", "augment", "augment_scale", "num_workers", "process_index",
                 "process_count")


def split_counts(batch_size: int, weights, multiple: int = 1) -> list[int]:
    """Rows per component: ``batch_size`` split in proportion to ``weights`` (largest
    remainder, in units of ``multiple`` rows); raises if a component would get no row."""
    weights = np.asarray(weights, np.float64)
    if weights.ndim != 1 or len(weights) < 2 or not np.all(np.isfinite(weights)) or \
            np.any(weights <= 0):
        raise ValueError(f"a mixture needs >= 2 components with positive weights, got "
                         f"{weights.tolist()}")
    if batch_size % multiple:
        raise ValueError(f"batch_size={batch_size} is not divisible by the {multiple} processes")
    units = batch_size // multiple
    exact = units * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: units - counts.sum()]:
        counts[i] += 1
    if np.any(counts == 0):
        raise ValueError(f"batch_size={batch_size} is too small for the mixture weights "
                         f"{weights.tolist()}: a component would get no row (raise the batch "
                         "size or the smallest weight)")
    return [int(c) * multiple for c in counts]


class _LocalRowsOfGlobal:
    """A source that builds the whole global batch (shapes) seen as this process's rows."""

    def __init__(self, source, index: int, count: int):
        self.source, self.index, self.count = source, index, count

    def batch(self, step: int) -> dict:
        batch = self.source.batch(step)
        n = len(next(iter(batch.values()))) // self.count
        return {k: v[self.index * n:(self.index + 1) * n] for k, v in batch.items()}


class MixedBatches:
    """Local batches of the components, concatenated and shuffled per (seed, step, process)."""

    def __init__(self, components, names, seed: int, process_index: int):
        self.components, self.names = components, names
        self.seed, self.process_index = seed, process_index

    def stream(self, start: int):
        streams = [LocalBatches(c).iterate(start, 2**62) if not hasattr(c, "iterate")
                   else c.iterate(start, 2**62) for c in self.components]
        for step, parts in zip(range(start, 2**62), zip(*streams)):
            yield self.combine(step, parts)

    def combine(self, step: int, parts) -> dict:
        keys = [set(p) - {"skipped"} for p in parts]
        if any(k != keys[0] for k in keys):
            detail = ", ".join(f"{n}: {sorted(k)}" for n, k in zip(self.names, keys))
            raise ValueError(f"the mixture's components give different fields ({detail}); mix "
                             "sources that give the same fields (e.g. no labels in one only)")
        rows = [len(p["tokens"]) for p in parts]
        out = {k: np.concatenate([p[k] for p in parts]) for k in sorted(keys[0])}
        out["skipped"] = np.concatenate([
            np.asarray(p["skipped"], np.int32) if "skipped" in p else np.zeros(r, np.int32)
            for p, r in zip(parts, rows)])
        order = np.random.default_rng((self.seed, 7, step, self.process_index)).permutation(
            sum(rows))
        return {k: v[order] for k, v in out.items()}


def make_mixture(config, tokenizer, model_config, counterfactual, table):
    """The ``mixture`` source (see the module docstring); ``table``: the data-source table
    (``jclip.train.table``) its components come from."""
    data = config.data
    spec = data.get("mixture", None)
    if not spec or not hasattr(spec, "items"):
        raise ValueError("data.type='mixture' needs data.mixture = {name: dict(type=..., "
                         "weight=..., <that source's fields>)} with >= 2 components")
    spec = {name: dict(comp) for name, comp in spec.items()}
    for name, comp in spec.items():
        kind = comp.get("type", None)
        if kind not in table or kind == "mixture":
            raise ValueError(f"data.mixture.{name}.type={kind!r} must be one of "
                             f"{sorted(k for k in table if k != 'mixture')}")
        if "weight" not in comp:
            raise ValueError(f"data.mixture.{name} needs a weight")
    index, count = process_of(data)
    names = list(spec)
    counts = split_counts(config.batch_size, [spec[n]["weight"] for n in names], count)
    components = []
    for position, (name, rows) in enumerate(zip(names, counts)):
        comp = {k: v for k, v in spec[name].items() if k != "weight"}
        sub = ml_collections.ConfigDict(config.to_dict())
        sub.batch_size = rows
        sub.seed = int(config.seed) + 1000 * (position + 1)
        common = {k: data[k] for k in COMMON_FIELDS if k in data}
        sub.data = ml_collections.ConfigDict({**common, **comp})
        source = table[comp["type"]](sub, tokenizer, model_config, counterfactual)
        if comp["type"] == "shapes":  # builds the whole global batch: keep this process's rows
            source = _LocalRowsOfGlobal(source, index, count)
        components.append(source)
    return LocalBatches(MixedBatches(components, names, int(config.seed), index))
