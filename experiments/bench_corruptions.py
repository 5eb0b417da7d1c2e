"""Benchmark and figure of the ImageNet-C corruptions (``jclip.data.corruptions``).

    python -m experiments.bench_corruptions [--size 224 --repeats 3 --figure PATH]

Times one corruption of one photograph (scikit-image's chelsea, Resize(256) + CenterCrop(224)
as the reference prepares ImageNet, or resized to ``--size``) per corruption and severity: the
median of ``--repeats`` calls, in milliseconds per image, on the host (numpy / scipy). Frost
uses a synthetic frost folder (jclip does not ship the reference's frost images). Writes
--output (default results/bench_corruptions.json) and, with --figure, the grid of the photograph
under every corruption at --figure_severity (default 3).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time

import numpy as np

from jclip.data import corruptions as C


def photograph(size: int = 224) -> np.ndarray:
    """uint8 [size, size, 3]: chelsea, shorter side to size * 8/7, centre crop."""
    from PIL import Image
    from skimage import data

    image = Image.fromarray(data.chelsea())
    w, h = image.size
    scale = round(size * 256 / 224) / min(w, h)
    image = image.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)))


def synthetic_frost(folder: str, size: int) -> str:
    """Six smooth noise images larger than ``size`` (stand-ins for the reference's)."""
    from PIL import Image
    from scipy import ndimage

    rng = np.random.default_rng(0)
    side = max(2 * size, 5 * size + 10)
    for name in ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg",
                 "frost6.jpg"):
        ice = ndimage.gaussian_filter(rng.uniform(0, 255, (side, side)), 3)
        ice = np.clip((ice - ice.mean()) * 8 + 170, 0, 255).astype(np.uint8)
        Image.fromarray(np.stack([ice] * 3, -1)).save(os.path.join(folder, name))
    return folder


def bench(size: int = 224, repeats: int = 3, severities=(1, 2, 3, 4, 5)) -> dict:
    """{corruption: {severity: median ms per image}} for a ``size`` px photograph."""
    x = photograph(size)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        frost_dir = synthetic_frost(tmp, size)
        for name in C.CORRUPTIONS:
            out[name] = {}
            for s in severities:
                times = []
                for r in range(repeats):
                    start = time.perf_counter()
                    C.corrupt(x, name, s, seed=r, frost_dir=frost_dir)
                    times.append(time.perf_counter() - start)
                out[name][str(s)] = round(1000 * statistics.median(times), 2)
            print(f"{name:18s} " + " ".join(f"{v:8.1f}" for v in out[name].values()) + "  ms",
                  flush=True)
    return out


def figure(path: str, severity: int = 3, size: int = 224) -> str:
    """A grid of the photograph, clean and under every corruption but frost at ``severity``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = photograph(size)
    names = ["clean"] + list(C.CORRUPTIONS)
    cols = 5
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.85 * rows))
    for ax, name in zip(axes.ravel(), names + [None] * (rows * cols - len(names))):
        ax.set_axis_off()
        if name is None:
            continue
        if name == "frost":
            ax.text(0.5, 0.5, "frost\n(needs the reference's\nfrost images: frost_dir=)",
                    ha="center", va="center", fontsize=7, transform=ax.transAxes)
            continue
        image = x if name == "clean" else C.corrupt(x, name, severity, seed=0)
        ax.imshow(image)
        ax.set_title(name.replace("_", " "), fontsize=8)
    fig.suptitle(f"ImageNet-C corruptions at severity {severity} ({size} px, imagenet table)",
                 fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=72, format="png")
    plt.close(fig)
    from PIL import Image

    # a dithered 256-colour palette keeps the committed figure small
    image = Image.open(buf).convert("RGB")
    palette = image.quantize(256, method=Image.Quantize.MEDIANCUT)
    image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)
    return path


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--output", default="results/bench_corruptions.json")
    p.add_argument("--figure", default=None, help="also write the severity grid here")
    p.add_argument("--figure_severity", type=int, default=3)
    args = p.parse_args(argv)
    result = {"size": args.size, "repeats": args.repeats,
              "ms_per_image": bench(args.size, args.repeats)}
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    if args.figure:
        print("figure:", figure(args.figure, args.figure_severity, args.size))
    return result


if __name__ == "__main__":
    main()
