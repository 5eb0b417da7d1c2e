"""Common corruptions of ImageNet-C / CIFAR-10-C, as numpy functions of uint8 images.

Hendrycks & Dietterich (2019), "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations": the 15 benchmark corruptions (``BENCHMARK``) and the 4 extra ones (``EXTRA``)
of its generation code (github.com/hendrycks/robustness, ImageNet-C/create_c/make_imagenet_c.py
and make_cifar_c.py), with both parameter tables (``TABLES``: "imagenet" for 224 px crops,
"cifar" for 32 px images; ``tables.py``). Each corruption reproduces the reference formula
(``blur``, ``digital``, ``weather``) with numpy / scipy in place of OpenCV, skimage and
ImageMagick (``filters``, ``edges``), and the reference's ``np.uint8`` truncation of the result.
Images of other sizes get the same formulas (the reference hard-codes 224 or 32 in places:
glass blur's loop bounds, fog's fractal size, pixelate's size; here they follow the image).

Randomness: the reference draws from the global ``np.random``; here every draw comes, in the
reference's order and with the same call, from ``np.random.default_rng(seed)``, so a call is a
deterministic function of (image, name, severity, seed, table). A batch draws its images one
after the other from one generator.

Library versions: the formulas follow today's scikit-image (random_noise's s&p draws one
Bernoulli mask per value) and scipy >= 1.6 (map_coordinates' "reflect" border); ImageNet-C was
generated in 2018 with older releases, whose s&p sampling and out-of-image interpolation may
differ slightly. OpenCV's and ImageMagick's steps are re-implemented from their definitions
(``filters``, ``edges``) and checked against independent loop implementations, not against
OpenCV or ImageMagick themselves (neither is a dependency).

Frost blends crops of six frost photographs that the reference ships; jclip does not ship them:
pass ``frost_dir=`` (a folder with frost1.png .. frost6.jpg, or any images), else frost raises.
"""

from __future__ import annotations

import numpy as np

from jclip._lazy import package_face
from jclip.data.corruptions import blur, digital, weather
from jclip.data.corruptions.tables import BENCHMARK, CORRUPTIONS, EXTRA, TABLES
from jclip.data.corruptions.weather import frost_images

FUNCTIONS = {
    "gaussian_noise": digital.gaussian_noise,
    "shot_noise": digital.shot_noise,
    "impulse_noise": digital.impulse_noise,
    "defocus_blur": blur.defocus_blur,
    "glass_blur": blur.glass_blur,
    "motion_blur": blur.motion_blur,
    "zoom_blur": blur.zoom_blur,
    "snow": weather.snow,
    "frost": weather.frost,
    "fog": weather.fog,
    "brightness": digital.brightness,
    "contrast": digital.contrast,
    "elastic_transform": digital.elastic_transform,
    "pixelate": digital.pixelate,
    "jpeg_compression": digital.jpeg_compression,
    "speckle_noise": digital.speckle_noise,
    "gaussian_blur": blur.gaussian_blur,
    "spatter": weather.spatter,
    "saturate": digital.saturate,
}
# Minimum side the reference's formulas need (elastic: an affine frame of side // 3).
_MIN_SIDE = 8

__all__ = ["BENCHMARK", "CORRUPTIONS", "EXTRA", "FUNCTIONS", "TABLES", "auto_table", "corrupt",
           "frost_images", "imagenet_crop", "severity_parameter"]


def severity_parameter(name: str, severity: int, table: str = "imagenet"):
    """The parameter c of corruption ``name`` at ``severity`` (1..5) in ``table``."""
    if table not in TABLES:
        raise ValueError(f"unknown parameter table {table!r}; known: {tuple(TABLES)}")
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; known corruptions: {CORRUPTIONS}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or \
            not 1 <= severity <= 5:
        raise ValueError(f"severity must be an int in 1..5, got {severity!r}")
    return TABLES[table][name][int(severity) - 1]


def auto_table(height: int, width: int) -> str:
    """"cifar" for images of at most 32 px a side, else "imagenet"."""
    return "cifar" if max(height, width) <= 32 else "imagenet"


def imagenet_crop(image: np.ndarray, size: int = 224) -> np.ndarray:
    """torchvision's Resize(round(size 256 / 224)) + CenterCrop(size) of a uint8 [H, W, 3]
    image (PIL bilinear), the preparation of ImageNet-C's validation images (size 224)."""
    from PIL import Image

    image = np.asarray(image, np.uint8)
    h, w = image.shape[:2]
    short = int(round(size * 256 / 224))
    if h <= w:
        new_h, new_w = short, int(short * w / h)
    else:
        new_h, new_w = int(short * h / w), short
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    return resized[top:top + size, left:left + size]


def corrupt(images: np.ndarray, name: str, severity: int, *, seed=0, table: str = "auto",
            frost_dir=None, jpeg_quality=None) -> np.ndarray:
    """Applies corruption ``name`` at ``severity`` (1..5) to uint8 images.

    Args:
      images: uint8 [N, H, W, 3] or [H, W, 3], H, W >= 8.
      name: one of CORRUPTIONS.
      severity: 1 (mild) .. 5 (severe).
      seed: seed of the random draws (anything ``np.random.default_rng`` accepts, or a
        ``np.random.Generator``, which is advanced).
      table: "imagenet", "cifar" or "auto" (``auto_table``: "cifar" up to 32 px).
      frost_dir: folder of frost images (needed for "frost" only).
      jpeg_quality: optional JPEG quality of a save after the corruption (ImageNet-C stores
        its images as JPEGs of quality 85).
    Returns:
      uint8 array of the same shape.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3] or [H, W, 3], got {images.dtype} "
                         f"{images.shape}")
    single = images.ndim == 3
    batch = images[None] if single else images
    h, w = batch.shape[1:3]
    if min(h, w) < _MIN_SIDE:
        raise ValueError(f"images must be at least {_MIN_SIDE} px a side, got {h}x{w}")
    if table == "auto":
        table = auto_table(h, w)
    c = severity_parameter(name, severity, table)
    if name == "frost":
        frost_images(frost_dir)  # checks the folder before any work
    if jpeg_quality is not None and (isinstance(jpeg_quality, bool) or not isinstance(
            jpeg_quality, (int, np.integer)) or not 1 <= jpeg_quality <= 95):
        raise ValueError(f"jpeg_quality must be None or an int in 1..95, got {jpeg_quality!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    fn = FUNCTIONS[name]
    out = np.empty_like(batch)
    for i, image in enumerate(batch):
        y = fn(image, c, rng, table=table, frost_dir=frost_dir)
        out[i] = y if y.dtype == np.uint8 else np.uint8(np.clip(y, 0, 255))
        if jpeg_quality is not None:
            out[i] = digital.jpeg_compression(out[i], jpeg_quality, None)
    return out[0] if single else out

__getattr__, __dir__ = package_face(__name__, __path__)  # every submodule, lazily
