"""Noise and digital corruptions of make_imagenet_c.py / make_cifar_c.py: gaussian, shot,
impulse and speckle noise; contrast, brightness, saturate, JPEG, pixelate, elastic transform.

Each maps uint8 x [H, W, 3], the severity's parameter c and a numpy Generator (in place of the
reference's global ``np.random``, same calls in the same order) to float values in [0, 255] or
uint8. With x in [0, 1]:

- gaussian_noise: clip(x + N(0, c^2)); shot_noise: clip(Poisson(c x) / c)
- impulse_noise: skimage random_noise(mode="s&p", amount=c): each value flipped with prob. c,
  to 1 or 0 with prob. 1/2 (draws: U[0,1) <= c, then U[0,1) <= 1/2, as skimage makes them)
- speckle_noise: clip(x + x N(0, c^2))
- contrast: (x - m) c + m, m the per-channel mean over H and W
- brightness: HSV value v -> clip(v + c); saturate: HSV saturation s -> clip(s c0 + c1)
- jpeg_compression: PIL JPEG round trip at quality c; pixelate: PIL BOX resize to
  int(side c) and back
- elastic_transform (alpha, sigma, jitter): a random affine warp (3 points moved by
  U(-jitter, jitter), OpenCV warpAffine with REFLECT_101), then bilinear resampling at a
  displacement field alpha * gaussian(U(-1, 1), sigma, reflect, truncate 3) per axis
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from jclip.data.corruptions import filters


def gaussian_noise(x, c, rng, **_):
    x = np.asarray(x) / 255.0
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x, c, rng, **_):
    x = np.asarray(x) / 255.0
    return np.clip(rng.poisson(x * c) / c, 0, 1) * 255


def impulse_noise(x, c, rng, **_):
    x = np.asarray(x) / 255.0
    flipped = rng.random(x.shape) <= c
    salted = rng.random(x.shape) <= 0.5
    out = x.copy()
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return np.clip(out, 0, 1) * 255


def speckle_noise(x, c, rng, **_):
    x = np.asarray(x) / 255.0
    return np.clip(x + x * rng.normal(size=x.shape, scale=c), 0, 1) * 255


def contrast(x, c, rng, **_):
    x = np.asarray(x) / 255.0
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def _value_saturation(x):
    v = x.max(-1, keepdims=True)
    delta = v - x.min(-1, keepdims=True)
    s = np.where(delta == 0, 0.0, delta / np.where(v == 0, 1, v))
    return v, s


def brightness(x, c, rng, **_):
    """HSV value + c with hue and saturation kept: every channel scales by v' / v (a black
    pixel, v = 0, becomes grey v')."""
    x = np.asarray(x) / 255.0
    v, _ = _value_saturation(x)
    v_new = np.clip(v + c, 0, 1)
    out = np.where(v > 0, x * (v_new / np.where(v > 0, v, 1)), v_new)
    return np.clip(out, 0, 1) * 255


def saturate(x, c, rng, **_):
    """HSV saturation s -> clip(s c0 + c1) with hue and value kept: each channel's distance
    below v scales by s' / s. A grey pixel (s = 0) has hue 0, so it turns to
    (v, v (1 - s'), v (1 - s')), as skimage's hsv2rgb makes it."""
    x = np.asarray(x) / 255.0
    v, s = _value_saturation(x)
    s_new = np.clip(s * c[0] + c[1], 0, 1)
    scaled = v - (v - x) * (s_new / np.where(s > 0, s, 1))
    grey = np.concatenate([v, v * (1 - s_new), v * (1 - s_new)], axis=-1)
    return np.clip(np.where(s > 0, scaled, grey), 0, 1) * 255


def jpeg_compression(x, c, rng, **_):
    buf = io.BytesIO()
    Image.fromarray(np.asarray(x, np.uint8)).save(buf, "JPEG", quality=int(c))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def pixelate(x, c, rng, **_):
    h, w = x.shape[:2]
    image = Image.fromarray(np.asarray(x, np.uint8))
    small = image.resize((max(1, int(w * c)), max(1, int(h * c))), Image.BOX)
    return np.asarray(small.resize((w, h), Image.BOX))


def elastic_transform(x, c, rng, **_):
    alpha, sigma, jitter = c
    image = np.asarray(x, np.float32) / 255.0
    h, w = image.shape[:2]
    center = np.float32((h, w)) // 2
    square = min(h, w) // 3
    pts1 = np.float32([center + square, [center[0] + square, center[1] - square],
                       center - square])
    pts2 = pts1 + rng.uniform(-jitter, jitter, size=pts1.shape).astype(np.float32)
    image = filters.warp_affine101(image, filters.affine_from_points(pts1, pts2))
    dx = (filters.gaussian(rng.uniform(-1, 1, size=(h, w)), sigma, mode="reflect",
                           truncate=3) * alpha).astype(np.float32)
    dy = (filters.gaussian(rng.uniform(-1, 1, size=(h, w)), sigma, mode="reflect",
                           truncate=3) * alpha).astype(np.float32)
    rows = np.arange(h, dtype=np.float32)[:, None] + dy
    cols = np.arange(w, dtype=np.float32)[None, :] + dx
    out = filters.bilinear(image.astype(np.float64), rows.astype(np.float64),
                           cols.astype(np.float64), "reflect")
    return np.clip(out, 0, 1) * 255
