"""Benchmark: host-side examples/s of the trainer's data sources at the demo's settings.

    python -m experiments.bench_data [--steps 20 --repeats 3 --photos 128]

Each source builds the demo's training batches (``experiments/configs/shapes_tiny.py``: batch 128,
64 px, the scenes' word tokenizer) for ``--steps`` steps through ``jclip.train.sources``: decoding,
resizing, optional augmentation, tokenising and the thread pool, as ``experiments.train`` runs it,
without the train step. Sources:

  shapes: the synthetic scenes (the demo's data);
  pairs: a captions.jsonl folder of real photographs (scikit-image and scikit-learn photos,
    random crops saved as JPEG at their original resolution, so each is decoded and resized);
  wds: the same images and captions as webdataset tar shards (8 shards);
  pairs+augment: pairs with the random resized crop on.

The demo's train step runs at ~340 examples/s on 2 cores: a source faster than that does not
slow the demo down. Medians of ``--repeats`` runs (the first batch, which starts the thread pool,
is excluded). Writes --output (default results/bench_data.json).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tarfile
import tempfile
import time

import numpy as np

CAPTIONS = ("a photo of a red circle", "a photo of two blue squares",
            "a photo of three green triangles", "a photo of a large yellow circle")


def _photos():
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
              skimage.data.rocket()]
    return photos + [np.asarray(im) for im in load_sample_images().images]


def write_images(root: str, n: int, seed: int = 0) -> list[tuple[bytes, str]]:
    """``n`` JPEG crops of the photographs with captions -> [(jpeg bytes, caption)]."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos, items = _photos(), []
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        buf = io.BytesIO()
        Image.fromarray(photo[top:top + ch, left:left + cw]).save(buf, format="JPEG", quality=90)
        items.append((buf.getvalue(), CAPTIONS[i % len(CAPTIONS)]))
    os.makedirs(os.path.join(root, "pairs", "images"), exist_ok=True)
    with open(os.path.join(root, "pairs", "captions.jsonl"), "w") as f:
        for i, (jpeg, caption) in enumerate(items):
            name = f"images/{i:05d}.jpg"
            with open(os.path.join(root, "pairs", name), "wb") as img:
                img.write(jpeg)
            f.write(json.dumps({"image": name, "caption": caption}) + "\n")
    return items


def write_shards(root: str, items, shards: int = 8) -> str:
    """The items as webdataset tars (``{key}.jpg`` + ``{key}.txt``) -> the brace pattern."""
    os.makedirs(os.path.join(root, "wds"), exist_ok=True)
    for s in range(shards):
        with tarfile.open(os.path.join(root, "wds", f"{s:05d}.tar"), "w") as tar:
            for i in range(s, len(items), shards):
                for suffix, payload in ((".jpg", items[i][0]), (".txt", items[i][1].encode())):
                    info = tarfile.TarInfo(f"{i:06d}{suffix}")
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
    return os.path.join(root, "wds", "{00000.." + f"{shards - 1:05d}" + "}.tar")


def source_config(kind: str, root: str, pattern: str):
    """The demo config with its data replaced by ``kind``."""
    import ml_collections

    from jclip.train import config as config_lib

    config = config_lib.load_config(os.path.join(os.path.dirname(__file__), "configs",
                                                 "shapes_tiny.py"))
    if kind == "shapes":
        return config
    config.data = ml_collections.ConfigDict()
    config.data.type = "wds" if kind == "wds" else "pairs"
    config.data.path = pattern if kind == "wds" else os.path.join(root, "pairs")
    config.data.on_error = "error"
    config.data.augment = kind.endswith("augment")
    config.data.augment_scale = (0.9, 1.0)
    config.data.num_workers = 2
    return config


def examples_per_second(config, steps: int) -> float:
    """Examples/s of ``steps`` batches after the first (which starts the pipeline)."""
    from jclip.train import sources
    from jclip.train.loop import build_model

    model, tokenizer, _ = build_model(config)
    batches = sources.make_batches(config, tokenizer, model.config)
    iterator = batches.iterate(0, steps + 1)
    first = next(iterator)
    assert first["image"].shape[1:] == (64, 64, 3), first["image"].shape
    start = time.perf_counter()
    rows = sum(len(batch["image"]) for batch in iterator)
    return rows / (time.perf_counter() - start)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--photos", type=int, default=128, help="distinct images on disk")
    p.add_argument("--sources", nargs="+", default=["shapes", "pairs", "wds", "pairs+augment"])
    p.add_argument("--output", default="results/bench_data.json")
    args = p.parse_args(argv)
    out = {"setup": vars(args), "examples_per_second": {}}
    with tempfile.TemporaryDirectory() as root:
        items = write_images(root, args.photos)
        pattern = write_shards(root, items)
        sizes = [len(jpeg) for jpeg, _ in items]
        out["setup"]["mean_jpeg_kib"] = round(float(np.mean(sizes)) / 1024, 1)
        for kind in args.sources:
            config = source_config(kind, root, pattern)
            runs = [examples_per_second(config, args.steps) for _ in range(args.repeats)]
            out["examples_per_second"][kind] = round(statistics.median(runs), 1)
            print(f"{kind:>14}: {statistics.median(runs):8.1f} examples/s "
                  f"(runs: {', '.join(f'{r:.0f}' for r in runs)})", flush=True)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {args.output}")
    return out


if __name__ == "__main__":
    main()
