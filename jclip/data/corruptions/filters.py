"""Image operations the corruptions are made of, in numpy / scipy.ndimage.

The reference code calls skimage, OpenCV, scipy and ImageMagick; each function here reproduces
the one call it replaces (named in its docstring), so no OpenCV / ImageMagick is needed. Images
are float arrays [H, W] or [H, W, C] unless said otherwise. OpenCV's default border,
BORDER_REFLECT_101 (``dcb|abcd|cba``), is scipy's "mirror".
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def gaussian(x: np.ndarray, sigma: float, mode: str = "nearest",
             truncate: float = 4.0) -> np.ndarray:
    """skimage.filters.gaussian(x, sigma, channel_axis=-1 for [H, W, C]): float64 output."""
    x = np.asarray(x, np.float64)
    sigmas = (sigma, sigma) + (0,) * (x.ndim - 2)
    return ndimage.gaussian_filter(x, sigmas, mode=mode, truncate=truncate)


def correlate101(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """cv2.filter2D(x, -1, kernel) per channel: correlation, centred anchor, REFLECT_101."""
    kernel = np.asarray(kernel, np.float64)
    if x.ndim == 3:
        kernel = kernel[:, :, None]
    return ndimage.correlate(np.asarray(x, np.float64), kernel, mode="mirror")


def cv2_gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    """cv2.getGaussianKernel(ksize, sigma) for sigma > 0: exp(-t^2 / (2 sigma^2)), summing to 1."""
    t = np.arange(ksize) - (ksize - 1) / 2
    k = np.exp(-t * t / (2.0 * sigma * sigma))
    return k / k.sum()


def disk(radius: float, alias_blur: float) -> np.ndarray:
    """The defocus kernel of make_imagenet_c.py: a normalised disk x^2 + y^2 <= r^2 on a grid of
    side 17 (r <= 8) or 2r + 1, smoothed by cv2.GaussianBlur with a 3x3 (5x5 for r > 8) kernel
    of std ``alias_blur`` (REFLECT_101), in float32."""
    side = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    ksize = 3 if radius <= 8 else 5
    yy, xx = np.meshgrid(side, side, indexing="ij")
    aliased = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)
    aliased /= aliased.sum()
    k = cv2_gaussian_kernel(ksize, alias_blur)
    out = ndimage.correlate1d(aliased.astype(np.float64), k, axis=1, mode="mirror")
    return ndimage.correlate1d(out, k, axis=0, mode="mirror").astype(np.float32)


def box3_101(x: np.ndarray) -> np.ndarray:
    """cv2.blur(x, (3, 3)) of a float image: 3x3 mean, REFLECT_101."""
    return ndimage.uniform_filter(np.asarray(x, np.float64), 3, mode="mirror")


def _zoom_axis(x: np.ndarray, axis: int, factor: float) -> np.ndarray:
    x = np.moveaxis(x, axis, 0)
    n = x.shape[0]
    m = int(np.ceil(n / factor))
    top = (n - m) // 2
    crop = x[top:top + m]
    size = int(round(m * factor))
    pos = np.arange(size) * ((m - 1) / (size - 1)) if size > 1 else np.zeros(1)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, max(m - 2, 0))
    hi = np.minimum(lo + 1, m - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (crop.ndim - 1))
    zoomed = crop[lo] * (1 - w) + crop[hi] * w
    trim = (size - n) // 2
    return np.moveaxis(zoomed[trim:trim + n], 0, axis)


def clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """The reference's clipped_zoom: the centre crop of side ceil(n / factor) zoomed by
    ``factor`` (scipy.ndimage.zoom, order=1: output side round(m * factor), output sample i at
    input position i (m - 1) / (out - 1)), then the centre n x n kept. Height and width are
    treated alike (the reference's images are square). x: [H, W, C] -> float64."""
    out = np.asarray(x, np.float64)
    return _zoom_axis(_zoom_axis(out, 0, factor), 1, factor)


def _reflect_index(i: np.ndarray, n: int, mode: str) -> np.ndarray:
    if n == 1:
        return np.zeros_like(i)
    if mode == "reflect101":  # dcb|abcd|cba
        period = 2 * n - 2
        i = np.mod(i, period)
        return np.where(i >= n, period - i, i)
    period = 2 * n  # "reflect" (scipy): cba|abcd|dcb
    i = np.mod(i, period)
    return np.where(i >= n, period - 1 - i, i)


def bilinear(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: str,
             frac_rows=None, frac_cols=None) -> np.ndarray:
    """Bilinear samples of x [H, W, C] at (rows, cols) [H', W'] with reflected taps.

    ``frac_rows`` / ``frac_cols`` override the fractional parts (OpenCV's 1/32 grid)."""
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    fr = rows - r0 if frac_rows is None else frac_rows
    fc = cols - c0 if frac_cols is None else frac_cols
    h, w = x.shape[:2]
    ra, rb = _reflect_index(r0, h, mode), _reflect_index(r0 + 1, h, mode)
    ca, cb = _reflect_index(c0, w, mode), _reflect_index(c0 + 1, w, mode)
    fr, fc = fr[..., None], fc[..., None]
    top = x[ra, ca] * (1 - fc) + x[ra, cb] * fc
    bottom = x[rb, ca] * (1 - fc) + x[rb, cb] * fc
    return top * (1 - fr) + bottom * fr


def affine_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """cv2.getAffineTransform: the 2x3 M with M [x, y, 1]^T = dst for the 3 src points."""
    a = np.zeros((6, 6))
    b = np.zeros(6)
    for i in range(3):
        x, y = float(src[i, 0]), float(src[i, 1])
        a[i] = (x, y, 1, 0, 0, 0)
        a[i + 3] = (0, 0, 0, x, y, 1)
        b[i], b[i + 3] = float(dst[i, 0]), float(dst[i, 1])
    return np.linalg.solve(a, b).reshape(2, 3)


def warp_affine101(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """cv2.warpAffine(x, m, (W, H), borderMode=BORDER_REFLECT_101), bilinear, float32 x.

    dst(u, v) = x(m^-1 (u, v)), the source position rounded to OpenCV's 1/32-pixel grid as its
    fixed-point remap does (AB_BITS = 10, INTER_BITS = 5, round_delta = 16)."""
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    det = 1.0 / det if det != 0 else 0.0
    a11, a22, a12, a21 = m[1, 1] * det, m[0, 0] * det, -m[0, 1] * det, -m[1, 0] * det
    b1 = -a11 * m[0, 2] - a12 * m[1, 2]
    b2 = -a21 * m[0, 2] - a22 * m[1, 2]
    h, w = x.shape[:2]
    u, v = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    big_x = (np.rint(a11 * u * 1024)[None, :] + np.rint((a12 * v + b1) * 1024)[:, None]
             ).astype(np.int64) + 16
    big_y = (np.rint(a21 * u * 1024)[None, :] + np.rint((a22 * v + b2) * 1024)[:, None]
             ).astype(np.int64) + 16
    big_x, big_y = big_x >> 5, big_y >> 5
    cols, rows = (big_x >> 5).astype(np.float64), (big_y >> 5).astype(np.float64)
    fc = ((big_x & 31) / 32).astype(np.float32)
    fr = ((big_y & 31) / 32).astype(np.float32)
    return bilinear(np.asarray(x, np.float32), rows, cols, "reflect101", fr, fc)


def motion_kernel(radius: float, sigma: float, angle: float):
    """ImageMagick's MotionBlurImage kernel: width = 2 ceil(radius) + 1 taps (radius > 0),
    weights exp(-i^2 / (2 sigma^2)) for i = 0..width-1 (one-sided, normalised), tap i at the
    offset (ceil(i cos(a) - 0.5), ceil(i sin(a) - 0.5)) in (x, y) pixels.

    Returns (weights [K], dx [K], dy [K])."""
    width = int(2 * np.ceil(radius) + 1) if radius > 1e-12 else 3
    i = np.arange(width, dtype=np.float64)
    s = max(float(sigma), 1e-12)
    k = np.exp(-(i * i) / (2.0 * s * s)) / (np.sqrt(2 * np.pi) * s)
    k /= k.sum()
    px, py = width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle))
    norm = np.hypot(px, py)
    dx = np.ceil(i * py / norm - 0.5).astype(np.int64)
    dy = np.ceil(i * px / norm - 0.5).astype(np.int64)
    return k, dx, dy


def motion_blur(x: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick ``-motion-blur radius x sigma + angle`` of a uint8 image [H, W] or [H, W, C]:
    sum_i k_i x(p + offset_i), pixels outside taken from the nearest edge (its default virtual
    pixel method), rounded to uint8 (the PNG the reference writes). -> uint8."""
    k, dx, dy = motion_kernel(radius, sigma, angle)
    h, w = x.shape[:2]
    rows, cols = np.arange(h), np.arange(w)
    src = np.asarray(x, np.float64)
    out = np.zeros_like(src)
    for weight, ox, oy in zip(k, dx, dy):
        r = np.clip(rows + oy, 0, h - 1)
        c = np.clip(cols + ox, 0, w - 1)
        out += weight * src[r[:, None], c[None, :]]
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def plasma_fractal(mapsize: int, wibbledecay: float, rng) -> np.ndarray:
    """The reference's diamond-square height map [mapsize, mapsize] in [0, 1] (its
    plasma_fractal, with ``rng.uniform`` for ``np.random.uniform``, in the same order)."""
    if mapsize & (mapsize - 1):
        raise ValueError(f"plasma mapsize must be a power of two, got {mapsize}")
    a = np.empty((mapsize, mapsize), np.float64)
    a[0, 0] = 0.0
    step, wibble = mapsize, 100.0
    while step >= 2:
        half = step // 2
        corners = a[0:mapsize:step, 0:mapsize:step]
        square = corners + np.roll(corners, -1, axis=0)
        square = square + np.roll(square, -1, axis=1)
        a[half:mapsize:step, half:mapsize:step] = (
            square / 4 + wibble * rng.uniform(-wibble, wibble, square.shape))
        dr = a[half:mapsize:step, half:mapsize:step]
        ul = a[0:mapsize:step, 0:mapsize:step]
        lt = (dr + np.roll(dr, 1, axis=0)) + (ul + np.roll(ul, -1, axis=1))
        a[0:mapsize:step, half:mapsize:step] = lt / 4 + wibble * rng.uniform(
            -wibble, wibble, lt.shape)
        tt = (dr + np.roll(dr, 1, axis=1)) + (ul + np.roll(ul, -1, axis=0))
        a[half:mapsize:step, 0:mapsize:step] = tt / 4 + wibble * rng.uniform(
            -wibble, wibble, tt.shape)
        step //= 2
        wibble /= wibbledecay
    a -= a.min()
    return a / a.max()


def rgb_to_grey(x: np.ndarray) -> np.ndarray:
    """cv2.cvtColor(x, COLOR_RGB2GRAY) of a float image: 0.299 R + 0.587 G + 0.114 B."""
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
