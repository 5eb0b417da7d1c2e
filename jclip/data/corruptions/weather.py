"""Weather corruptions of make_imagenet_c.py / make_cifar_c.py: snow, frost, fog, spatter.

Each maps uint8 x [H, W, 3], the severity's parameter c and a numpy Generator (same calls, same
order as the reference's ``np.random``) to float values in [0, 255]; ``table`` picks the
table-specific constants (fog's fractal size, frost's image scale).
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from jclip.data.corruptions import edges, filters, tables

# The frost images of the reference code (ImageNet-C/create_c), in its order; it draws
# np.random.randint(5), so frost6.jpg is never used.
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg",
               "frost6.jpg")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")


def frost_images(frost_dir) -> list[str]:
    """The frost image files of ``frost_dir``: the reference's six names when all are there,
    else every image file in name order. ValueError when there is no such folder or image."""
    if frost_dir is None:
        raise ValueError(
            "frost needs the frost images of the ImageNet-C generation code, which jclip does "
            "not ship (their license is not jclip's): download frost1.png .. frost6.jpg from "
            "github.com/hendrycks/robustness (ImageNet-C/create_c) into a folder and pass "
            "frost_dir=<that folder>")
    if not os.path.isdir(frost_dir):
        raise ValueError(f"frost_dir {os.fspath(frost_dir)!r} is not a folder")
    names = sorted(os.listdir(frost_dir))
    if all(f in names for f in FROST_FILES):
        return [os.path.join(frost_dir, f) for f in FROST_FILES]
    found = [os.path.join(frost_dir, f) for f in names if f.lower().endswith(_IMAGE_EXTENSIONS)]
    if not found:
        raise ValueError(f"frost_dir {os.fspath(frost_dir)!r} holds no image files "
                         f"({', '.join(_IMAGE_EXTENSIONS)})")
    return found


def snow(x, c, rng, **_):
    """Snow: a N(c0, c1) layer zoomed by c2, thresholded at c3, motion-blurred (ImageMagick
    radius c4, sigma c5, angle ~ U(-135, -45)) and added twice (and rotated by 180 deg) to an
    image brightened towards 1.5 grey + 0.5 with weight 1 - c6."""
    x = np.asarray(x, np.float32) / 255.0
    h, w = x.shape[:2]
    layer = rng.normal(size=(h, w), loc=c[0], scale=c[1])
    layer = filters.clipped_zoom(layer[..., None], c[2])
    layer[layer < c[3]] = 0
    layer8 = (np.clip(layer[..., 0], 0, 1) * 255).astype(np.uint8)
    layer = filters.motion_blur(layer8, c[4], c[5], rng.uniform(-135, -45)) / 255.0
    layer = layer[..., None]
    grey = filters.rgb_to_grey(x).reshape(h, w, 1) * 1.5 + 0.5
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255


def frost(x, c, rng, *, table="imagenet", frost_dir=None, **_):
    """clip(c0 x + c1 frost, 0, 255) with frost a random crop of a random frost image (the
    reference's files, shrunk 5x for CIFAR by cv2.resize's bilinear sampling, which at factor
    0.2 picks pixels 2, 7, 12, ...)."""
    files = frost_images(frost_dir)
    idx = rng.integers(5 if len(files) == len(FROST_FILES) else len(files))
    with Image.open(files[idx]) as image:
        ice = np.asarray(image.convert("RGB"))
    if tables.FROST_SCALE[table] != 1.0:
        step = int(round(1 / tables.FROST_SCALE[table]))
        rows = int(round(ice.shape[0] / step))
        cols = int(round(ice.shape[1] / step))
        ice = ice[step // 2::step, step // 2::step][:rows, :cols]
    h, w = x.shape[:2]
    if ice.shape[0] <= h or ice.shape[1] <= w:
        raise ValueError(f"frost image {files[idx]} ({ice.shape[1]}x{ice.shape[0]} after "
                         f"scaling) is not larger than the {w}x{h} image")
    top, left = rng.integers(0, ice.shape[0] - h), rng.integers(0, ice.shape[1] - w)
    ice = ice[top:top + h, left:left + w]
    return np.clip(c[0] * np.asarray(x, np.float64) + c[1] * ice, 0, 255)


def fog(x, c, rng, *, table="imagenet", **_):
    """x + c0 plasma (wibble decay c1), rescaled by max / (max + c0); the fractal's side is the
    reference's (256 ImageNet, 32 CIFAR) or the next power of two above a larger image."""
    x = np.asarray(x) / 255.0
    h, w = x.shape[:2]
    side = tables.FOG_MAPSIZE[table]
    while side < max(h, w):
        side *= 2
    max_val = x.max()
    x = x + c[0] * filters.plasma_fractal(side, c[1], rng)[:h, :w][..., None]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])


def spatter(x, c, rng, **_):
    """Water drops (c5 = 0: Canny edges of a thresholded blurred noise layer, their distance
    transform, histogram equalisation and emboss make a pale turquoise film) or mud (c5 = 1:
    a blurred mask of the thresholded layer, >= 0.8, blended to brown)."""
    x = np.asarray(x, np.float32) / 255.0
    h, w = x.shape[:2]
    liquid = rng.normal(size=(h, w), loc=c[0], scale=c[1])
    liquid = filters.gaussian(liquid, c[2])
    liquid[liquid < c[3]] = 0
    if c[5] == 0:
        liquid8 = (liquid * 255).astype(np.uint8)
        dist = edges.chamfer_distance(255 - edges.canny(liquid8, 50, 150))
        dist = np.minimum(dist, np.float32(20))
        dist = filters.box3_101(dist).astype(np.float32).astype(np.uint8)
        dist = edges.equalize_hist(dist)
        dist = edges.box3_8u(edges.filter8u(dist, _EMBOSS)).astype(np.float32)
        m = liquid8 * dist
        top = m.max()
        m = (m / top if top > 0 else m) * c[4]
        color = np.float32([175, 238, 238]) / np.float32(255)
        return np.clip(x + m[..., None] * color, 0, 1) * 255
    m = np.where(liquid > c[3], 1, 0).astype(np.float32)
    m = filters.gaussian(m, c[4]).astype(np.float32)
    m[m < 0.8] = 0
    color = np.float32([63, 42, 20]) / np.float32(255) * m[..., None]
    return np.clip(x * (1 - m[..., None]) + color, 0, 1) * 255
