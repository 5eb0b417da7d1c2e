"""Blur corruptions of make_imagenet_c.py / make_cifar_c.py: gaussian, glass, defocus, motion,
zoom. Each maps uint8 x [H, W, 3], the severity's parameter c and a numpy Generator to float
values in [0, 255] (or uint8), which ``corrupt`` truncates to uint8 as the reference's
``np.uint8`` does.
"""

from __future__ import annotations

import numpy as np

from jclip.data.corruptions import filters


def gaussian_blur(x, c, rng, **_):
    """clip(gaussian(x / 255, sigma=c)) * 255 (skimage's filter: nearest borders, 4 sigma)."""
    return np.clip(filters.gaussian(x / 255.0, c), 0, 1) * 255


def shuffle_sources(h: int, w: int, delta: int, rng) -> np.ndarray:
    """One pass of glass blur's pixel loop as a source map: flat index [H * W] of the pixel whose
    value each position holds afterwards.

    The reference visits (r, col) for r = H - delta .. delta + 1 and col = W - delta .. delta + 1
    (descending), draws (dx, dy) = randint(-delta, delta, size=2) and runs
    ``x[r, col], x[r + dy, col + dx] = x[r + dy, col + dx], x[r, col]``. On numpy views that is
    a copy, not a swap: x[r, col] takes the current value of x[r + dy, col + dx] and the source
    keeps its own. A source visited earlier in the loop already holds its new value, so each
    position follows a chain of earlier-visited sources; the chains are resolved by pointer
    jumping. The draws are one ``rng.integers(-delta, delta, size=(n, 2))`` call, the same
    stream as n calls of size 2.
    """
    rows = np.arange(h - delta, delta, -1)
    cols = np.arange(w - delta, delta, -1)
    n = len(rows) * len(cols)
    flat = np.arange(h * w)
    if n == 0:
        return flat
    d = rng.integers(-delta, delta, size=(n, 2))
    rr = np.repeat(rows, len(cols))
    cc = np.tile(cols, len(rows))
    pos = rr * w + cc
    src = (rr + d[:, 1]) * w + (cc + d[:, 0])
    order = np.full(h * w, n, np.int64)  # visit step of each position (n: never visited)
    order[pos] = np.arange(n)
    step = np.arange(n)
    earlier = order[src] < step  # the source was overwritten before this step
    ptr = np.where(earlier, order[src], step)
    base = np.where(earlier, -1, src)  # terminal steps read the untouched source
    while True:
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        ptr = nxt
    out = flat.copy()
    out[pos] = base[ptr]
    return out


def glass_blur(x, c, rng, **_):
    """Glass blur (sigma, delta, iterations): uint8(255 gaussian(x / 255, sigma)), ``iterations``
    passes of the reference's local pixel loop (``shuffle_sources``, exactly its result), then
    clip(gaussian(. / 255, sigma)) * 255. Vectorised: a 224 px image at severity 5 takes tens of
    milliseconds instead of the loop's seconds."""
    sigma, delta, iterations = c
    y = np.uint8(filters.gaussian(x / 255.0, sigma) * 255)
    h, w = y.shape[:2]
    flat = y.reshape(h * w, -1)
    for _ in range(int(iterations)):
        flat = flat[shuffle_sources(h, w, int(delta), rng)]
    y = flat.reshape(y.shape)
    return np.clip(filters.gaussian(y / 255.0, sigma), 0, 1) * 255


def defocus_blur(x, c, rng, **_):
    """clip(filter2D(x / 255, disk(radius, alias_blur))) * 255 per channel (REFLECT_101)."""
    kernel = filters.disk(*c)
    return np.clip(filters.correlate101(x / 255.0, kernel), 0, 1) * 255


def motion_blur(x, c, rng, **_):
    """ImageMagick motion blur (radius, sigma) at an angle ~ U(-45, 45) degrees.

    The reference runs Wand's ``MagickMotionBlurImage`` on a PNG; ``filters.motion_blur`` is
    that kernel (a one-sided Gaussian along the angle, edge pixels repeated, rounded to
    uint8), so results match up to ImageMagick's 16-bit quantum rounding (not verified against
    ImageMagick itself, which is not a dependency)."""
    radius, sigma = c
    angle = rng.uniform(-45, 45)
    return filters.motion_blur(np.asarray(x, np.uint8), radius, sigma, angle)


def zoom_factors(c) -> np.ndarray:
    start, stop, step = c
    return np.arange(start, stop, step)


def zoom_blur(x, c, rng, **_):
    """Mean of x and its centre zooms by each factor np.arange(*c), in float32, * 255."""
    x = (x / 255.0).astype(np.float32)
    out = np.zeros_like(x)
    for factor in zoom_factors(c):
        out += filters.clipped_zoom(x, factor).astype(np.float32)
    factors = len(zoom_factors(c))
    return np.clip((x + out) / (factors + 1), 0, 1) * 255
