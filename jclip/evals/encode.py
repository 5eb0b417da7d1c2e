"""What every evaluation task needs from the model: image features, text features, classifiers.

``EvalContext`` holds the model, its params and tokenizer and the run settings. Its image
features are computed once per (model, data, split, preprocessing, precision) and kept in memory
(and on disk under ``cache_dir``), so a second task on the same data does not re-encode. With
several processes (``jax.distributed``) each process encodes its contiguous part of the split and
the features are gathered once, so every process holds the whole split in dataset order.

Params spread over several processes (the trainer's fsdp-sharded state) are used as they are, never
gathered onto every host: each step's image batch becomes one global array (every process
contributing its rows, all processes in step), the encoder runs as one SPMD program over the
params' mesh, and each process keeps the features of its own rows.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys
import time
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from jclip.evals.datasets import EvalData, get_eval_data
from jclip.evals.eval_data import content_digest
from jclip.ops import l2_normalize

PRECISIONS = {"fp32": "float32", "bf16": "bfloat16"}


@dataclasses.dataclass(frozen=True)
class ImageFeatures:
    """Encoded split: unit-norm ``features`` float32 [N, D], ``labels`` [N] (or [N, C] multi-hot),
    and per-image ``captions`` (list of N lists of str) for datasets that have them."""

    features: np.ndarray
    labels: np.ndarray
    captions: list | None = None


@functools.lru_cache(maxsize=16)
def _jitted_encoder(model):
    """One jitted image encoder per model (equal configs share it), so a new context, e.g. the
    trainer's at every evaluation, does not compile again."""
    return jax.jit(lambda p, x: l2_normalize(
        model.apply({"params": p}, x, method="encode_image").astype(jnp.float32)))


def _global_mesh(params):
    """The mesh of params that span several processes, else None (host-local params)."""
    for leaf in jax.tree.leaves(params):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return leaf.sharding.mesh
    return None


def _host(x) -> np.ndarray:
    """A jax array as numpy: its local rows when it spans several processes (row-sharded), the
    whole value when it is local or replicated."""
    if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
        return np.asarray(x)
    shards = {s.index[0].start or 0: s.data for s in x.addressable_shards}
    return np.concatenate([np.asarray(shards[k]) for k in sorted(shards)])


def _tree_fingerprint(params) -> str:
    h = hashlib.blake2b(digest_size=12)
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            # Spread over processes: hash this process's shards (a per-process cache key).
            h.update(jax.tree_util.keystr(path).encode() + str(jax.process_index()).encode())
            for shard in leaf.addressable_shards:
                h.update(str(shard.index).encode() + np.asarray(shard.data).tobytes())
            continue
        arr = np.asarray(jax.device_get(leaf))
        h.update(jax.tree_util.keystr(path).encode())
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _gather_bytes(payload: bytes) -> list[bytes]:
    """Every process's ``payload``, in process order (a collective: all processes call it)."""
    from jax.experimental import multihost_utils

    data = np.frombuffer(payload, np.uint8)
    sizes = multihost_utils.process_allgather(np.array([data.size], np.int64))
    padded = np.zeros(int(np.max(sizes)), np.uint8)
    padded[:data.size] = data
    gathered = multihost_utils.process_allgather(padded)
    return [bytes(gathered[i, :int(sizes[i][0])]) for i in range(len(sizes))]


@dataclasses.dataclass
class EvalContext:
    """The model under evaluation and the settings every task shares.

    model, params: a ``CLIPModel`` and its (host or replicated) params.
    tokenizer: callable list[str] -> int [N, L] ids.
    model_name: how results name the model.
    batch_size: images per encoder call (per process).
    precision: "fp32" or "bf16" activations (params are cast once for bf16).
    cache_dir: folder for on-disk image-feature caches, or None (memory only).
    data_dir, download: tfds settings.
    num_workers: image decoding threads.
    progress: show a progress bar (process 0, on a terminal).
    shard: split each image batch over this process's devices: "auto" (on GPU / TPU, when the
      batch divides evenly), True or False. On CPU one device is used unless True.
    """

    model: object
    params: dict
    tokenizer: object
    model_name: str = "model"
    batch_size: int = 64
    precision: str = "fp32"
    cache_dir: str | None = None
    data_dir: str | None = None
    download: bool = True
    num_workers: int = 2
    progress: bool = True
    shard: bool | str = "auto"
    timings: dict = dataclasses.field(default_factory=dict)
    _memory: dict = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got "
                             f"{self.precision!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if not callable(self.tokenizer):
            raise TypeError(f"tokenizer must be callable list[str] -> ids, got "
                            f"{type(self.tokenizer).__name__}")
        from jclip.models.clip import CLIPModel

        config = self.model.config
        dtype = PRECISIONS[self.precision]
        self._compute_model = (self.model if config.dtype == dtype else
                               CLIPModel(dataclasses.replace(config, dtype=dtype)))
        cast = jnp.bfloat16 if dtype == "bfloat16" else jnp.float32
        self._mesh = _global_mesh(self.params)
        if self._mesh is None:
            self._compute_params = jax.tree.map(lambda x: jnp.asarray(x, cast), self.params)
        else:  # one SPMD cast over the params' own sharding (every process calls it)
            self._compute_params = jax.jit(
                lambda p: jax.tree.map(lambda x: x.astype(cast), p))(self.params)

    # -- identity ---------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """Hash of the config, params and precision (what the image features depend on)."""
        if "fingerprint" not in self._memory:
            config = dataclasses.asdict(self.model.config)
            config.pop("scan_layers", None), config.pop("remat", None)
            self._memory["fingerprint"] = hashlib.sha256(json.dumps(
                [config, _tree_fingerprint(self.params), self.precision],
                sort_keys=True, default=str).encode()).hexdigest()[:20]
        return self._memory["fingerprint"]

    def preprocess(self, images) -> np.ndarray:
        """Host preprocessing of uint8 images for this model (resize, crop, normalise)."""
        from jclip.preprocessing import preprocess

        return preprocess(images, self.model.config)

    def dataset(self, task: dict, split: str | None = None) -> EvalData:
        """The ``EvalData`` of a task's dataset (its ``split`` unless another is asked for)."""
        return get_eval_data(task["dataset"], split or task.get("split"),
                             data_dir=self.data_dir, download=self.download,
                             classnames=task.get("classnames"), **dict(task.get("data") or {}))

    def _timed(self, key: str, seconds: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + seconds

    # -- images -----------------------------------------------------------------------------

    def _encode_fn(self):
        """jitted (params, images [B, S, S, 3]) -> unit features [B, D], and the input placement."""
        if "encode_image" not in self._memory:
            devices = jax.local_devices()
            shard = self.shard
            if shard == "auto":
                shard = devices[0].platform != "cpu"
            place = jnp.asarray
            if self._mesh is not None:  # params over several processes: a global batch
                from jax.sharding import NamedSharding, PartitionSpec

                rows = NamedSharding(self._mesh, PartitionSpec(self._mesh.axis_names))
                if self.batch_size % len(self._mesh.local_devices):
                    raise ValueError(f"batch_size={self.batch_size} must be divisible by the "
                                     f"{len(self._mesh.local_devices)} devices of this process")
                count = jax.process_count()
                place = lambda x: jax.make_array_from_process_local_data(
                    rows, np.asarray(x, np.float32), (len(x) * count, *np.shape(x)[1:]))
            elif shard and len(devices) > 1 and self.batch_size % len(devices) == 0:
                from jax.sharding import Mesh, NamedSharding, PartitionSpec

                mesh = Mesh(np.array(devices), ("batch",))
                rows, full = NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(
                    mesh, PartitionSpec())
                self._compute_params = jax.device_put(self._compute_params, full)
                place = lambda x: jax.device_put(np.asarray(x, np.float32), rows)
            elif shard is True and len(devices) > 1:
                raise ValueError(f"shard=True needs batch_size divisible by the {len(devices)} "
                                 f"local devices, got {self.batch_size}")
            self._memory["encode_image"] = (_jitted_encoder(self._compute_model), place)
        return self._memory["encode_image"]

    def image_features(self, data: EvalData) -> ImageFeatures:
        """Unit-norm image features of every example of ``data``, in dataset order (cached).

        Raises ValueError if the number of examples read differs from the split size the
        source reports (nothing dropped or duplicated).
        """
        config = self.model.config
        key = hashlib.sha256(json.dumps(
            [self.fingerprint, data.fingerprint, data.split, config.image_size, config.kind],
            default=str).encode()).hexdigest()[:24]
        if key in self._memory:
            return self._memory[key]
        path = None
        if self.cache_dir:  # on disk, local data is keyed by the content of its files too
            start = time.perf_counter()
            content = content_digest(data.files) if data.files else ""
            self._timed("cache_key_s", time.perf_counter() - start)
            disk_key = hashlib.sha256(f"{key}|{content}".encode()).hexdigest()[:24]
            path = os.path.join(self.cache_dir, f"{disk_key}.npz")
        out = None
        if path and os.path.isfile(path):
            start = time.perf_counter()
            try:
                out = _read_cache(path)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
                print(f"jclip.evals: the feature cache {path} is unreadable ({type(e).__name__}: "
                      f"{e}); encoding {data.name} again", file=sys.stderr, flush=True)
            self._timed("cache_read_s", time.perf_counter() - start)
        if out is None:
            start = time.perf_counter()
            out = self._encode_split(data)
            self._timed("image_encode_s", time.perf_counter() - start)
            if path and jax.process_index() == 0:
                _write_cache(path, out)
        self._memory[key] = out
        return out

    def _encode_split(self, data: EvalData) -> ImageFeatures:
        pi, pc = jax.process_index(), jax.process_count()
        batches = data.batches(self.preprocess, int(self.batch_size), process_index=pi,
                               process_count=pc, num_workers=self.num_workers)
        encode, place = self._encode_fn()
        feats, labels, masks, captions = [], [], [], []
        bar = None
        if self.progress and pi == 0 and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(desc=f"encode {data.name}", unit="img", total=_total(data))
        try:
            for batch in batches:
                z = encode(self._compute_params, place(np.asarray(batch["image"], np.float32)))
                mask = np.asarray(batch["mask"], bool)
                feats.append(_host(z).astype(np.float32))
                labels.append(np.asarray(batch["label"]))
                masks.append(mask)
                if "captions" in batch:
                    captions += [list(_as_caption_list(c)) for c in batch["captions"]]
                if bar is not None:
                    bar.update(int(mask.sum()))
        finally:
            if bar is not None:
                bar.close()
        if not feats:
            raise ValueError(f"{data.name} ({data.split}) yielded no examples")
        feats, labels, mask = np.concatenate(feats), np.concatenate(labels), np.concatenate(masks)
        if pc > 1:
            from jax.experimental import multihost_utils

            feats = np.asarray(multihost_utils.process_allgather(feats)).reshape(
                -1, feats.shape[-1])
            labels = np.asarray(multihost_utils.process_allgather(labels)).reshape(
                -1, *labels.shape[1:])
            mask = np.asarray(multihost_utils.process_allgather(mask)).reshape(-1)
            if captions:
                parts = _gather_bytes(json.dumps(captions).encode())
                captions = [c for part in parts for c in json.loads(part)]
        keep = np.flatnonzero(mask)
        expected = data.expected_examples()
        if expected is not None and len(keep) != expected:
            raise ValueError(f"{data.name} ({data.split}): read {len(keep)} examples, the split "
                             f"has {expected}")
        caps = [captions[i] for i in keep] if captions else None
        return ImageFeatures(feats[keep], labels[keep], caps)

    # -- text -------------------------------------------------------------------------------

    def text_features(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 [T, D] embeddings of ``texts`` (bucketed by length)."""
        from jclip.models.clip import encode_text_bucketed

        if not texts:
            raise ValueError("no texts to encode")
        start = time.perf_counter()
        tokens = np.asarray(self.tokenizer(list(texts)))
        z = encode_text_bucketed(self._compute_model, self._compute_params, tokens,
                                 batch_size=min(256, len(tokens)))
        if self._mesh is not None:  # the same texts on every process: replicate the result
            from jax.sharding import NamedSharding, PartitionSpec

            z = jax.jit(lambda a: a, out_shardings=NamedSharding(self._mesh, PartitionSpec()))(z)
        z = np.asarray(l2_normalize(jnp.asarray(_host(z), jnp.float32)))
        self._timed("text_encode_s", time.perf_counter() - start)
        return z

    def classifier(self, classnames, templates) -> np.ndarray:
        """Zero-shot classifier float32 [D, C] by prompt ensembling (cached)."""
        from jclip.heads import prompts, zeroshot

        templates = prompts.check_templates(templates)  # also takes CLIP_benchmark's {c}
        key = ("classifier", tuple(classnames), tuple(templates))
        if key not in self._memory:
            start = time.perf_counter()
            self._memory[key] = np.asarray(zeroshot.build_classifier(
                self._compute_model, self._compute_params, self.tokenizer, list(classnames),
                list(templates)), np.float32)
            self._timed("classifier_s", time.perf_counter() - start)
        return self._memory[key]


def _as_caption_list(c):
    if isinstance(c, (list, tuple)):
        return [str(x) for x in c]
    if isinstance(c, np.ndarray):  # tfds COCO: a fixed-width row of str, "" = none
        return [str(x) for x in c.tolist() if str(x)]
    return [str(c)] if str(c) else []


def _total(data: EvalData):
    try:
        return data.expected_examples()
    except Exception:  # the progress bar's total is only a hint
        return None


def _write_cache(path: str, out: ImageFeatures) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, features=out.features, labels=out.labels,
             captions=np.array(json.dumps(out.captions)))
    os.replace(tmp, path)


def _read_cache(path: str) -> ImageFeatures:
    with np.load(path, allow_pickle=False) as f:
        captions = json.loads(str(f["captions"]))
        return ImageFeatures(np.asarray(f["features"]), np.asarray(f["labels"]), captions)
