"""The OpenCV steps of spatter's water drops, on uint8 images [H, W], in numpy / scipy.

canny (cv2.Canny, 3x3 Sobel, L1 gradient), chamfer_distance (cv2.distanceTransform, DIST_L2,
5x5 mask), equalize_hist (cv2.equalizeHist), filter8u (cv2.filter2D to CV_8U) and box3_8u
(cv2.blur of a uint8 image), following OpenCV 4's definitions.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_TG22 = int(0.4142135623730950488016887242097 * (1 << 15) + 0.5)


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a[y + dy, x + dx] with zeros outside (a zero-padded view)."""
    h, w = a.shape
    p = np.pad(a, 1)
    return p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def canny(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """cv2.Canny(x, low, high): uint8 edges (255) of a uint8 image.

    Sobel derivatives (BORDER_REPLICATE), magnitude |dx| + |dy|, non-maximum suppression in
    the four directions of OpenCV's fixed-point tan(22.5 deg) test (strict towards one
    neighbour, >= towards the other; both strict on diagonals; zero outside the image), then
    hysteresis: a pixel above ``high`` that survives is an edge, and so is every survivor above
    ``low`` 8-connected to one.
    """
    p = np.pad(np.asarray(x, np.int64), 1, mode="edge")
    win = lambda dy, dx: p[1 + dy:p.shape[0] - 1 + dy, 1 + dx:p.shape[1] - 1 + dx]
    gx = (win(-1, 1) + 2 * win(0, 1) + win(1, 1)) - (win(-1, -1) + 2 * win(0, -1) + win(1, -1))
    gy = (win(1, -1) + 2 * win(1, 0) + win(1, 1)) - (win(-1, -1) + 2 * win(-1, 0) + win(-1, 1))
    mag = np.abs(gx) + np.abs(gy)
    lo, hi = int(np.floor(low)), int(np.floor(high))
    xs, ys = np.abs(gx), np.abs(gy) << 15
    tg22 = xs * _TG22
    tg67 = tg22 + (xs << 16)
    horizontal = ys < tg22
    vertical = ~horizontal & (ys > tg67)
    diagonal = ~horizontal & ~vertical
    s = np.where((gx ^ gy) < 0, -1, 1)
    keep = np.zeros(mag.shape, bool)
    keep |= horizontal & (mag > _shift(mag, 0, -1)) & (mag >= _shift(mag, 0, 1))
    keep |= vertical & (mag > _shift(mag, -1, 0)) & (mag >= _shift(mag, 1, 0))
    diag_pos = (mag > _shift(mag, -1, -1)) & (mag > _shift(mag, 1, 1))
    diag_neg = (mag > _shift(mag, -1, 1)) & (mag > _shift(mag, 1, -1))
    keep |= diagonal & np.where(s > 0, diag_pos, diag_neg)
    keep &= mag > lo
    strong = keep & (mag > hi)
    labels, _ = ndimage.label(keep, structure=np.ones((3, 3), bool))
    edge_labels = np.unique(labels[strong])
    edges = np.isin(labels, edge_labels[edge_labels > 0])
    return np.where(edges, 255, 0).astype(np.uint8)


_HV, _DIAG, _LONG = 65536, int(np.rint(1.4 * 65536)), int(np.rint(2.1969 * 65536))
_INF = np.int64(2 ** 31 - 1)


def chamfer_distance(x: np.ndarray) -> np.ndarray:
    """cv2.distanceTransform(x, DIST_L2, 5): float32 distance of every pixel to the nearest
    zero pixel with the 5x5 chamfer weights 1, 1.4, 2.1969 (16-bit fixed point), by OpenCV's
    forward and backward passes (each row's in-row step a cumulative minimum)."""
    h, w = x.shape
    t = np.full((h + 4, w + 4), _INF, np.int64)
    zero = np.asarray(x) == 0
    cols = np.arange(w, dtype=np.int64) * _HV
    for i in range(h):
        r = i + 2
        up2, up1 = t[r - 2], t[r - 1]
        cand = np.minimum.reduce([
            up2[1:w + 1] + _LONG, up2[3:w + 3] + _LONG, up1[0:w] + _LONG, up1[1:w + 1] + _DIAG,
            up1[2:w + 2] + _HV, up1[3:w + 3] + _DIAG, up1[4:w + 4] + _LONG])
        cand = np.where(zero[i], 0, cand)
        row = np.minimum.accumulate(cand - cols) + cols  # t[j] = min(cand[j], t[j-1] + HV)
        t[r, 2:w + 2] = np.where(zero[i], 0, np.minimum(cand, row))
    rev = cols[::-1]
    for i in range(h - 1, -1, -1):
        r = i + 2
        dn2, dn1 = t[r + 2], t[r + 1]
        cand = np.minimum.reduce([
            t[r, 2:w + 2], dn2[3:w + 3] + _LONG, dn2[1:w + 1] + _LONG, dn1[4:w + 4] + _LONG,
            dn1[3:w + 3] + _DIAG, dn1[2:w + 2] + _HV, dn1[1:w + 1] + _DIAG, dn1[0:w] + _LONG])
        # t[j] = min(cand[j], t[j+1] + HV), right to left
        row = (np.minimum.accumulate((cand + cols)[::-1]) - rev)[::-1]
        t[r, 2:w + 2] = np.minimum(cand, row)
    return (t[2:h + 2, 2:w + 2].astype(np.float64) * (1.0 / 65536)).astype(np.float32)


def equalize_hist(x: np.ndarray) -> np.ndarray:
    """cv2.equalizeHist of a uint8 image: lut[j] = round(255 cdf'(j)), cdf' counting from the
    first occupied level (which maps to 0), scale in float32."""
    hist = np.bincount(np.asarray(x, np.uint8).ravel(), minlength=256)
    first = int(np.flatnonzero(hist)[0])
    total = x.size
    if hist[first] == total:
        return np.full_like(x, first)
    scale = np.float32(255.0 / (total - hist[first]))
    cum = np.cumsum(hist).astype(np.int64) - hist[first]
    lut = np.rint(cum.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    lut[:first + 1] = 0
    return lut[x]


def filter8u(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """cv2.filter2D(x, cv2.CV_8U, kernel) of a uint8 image: correlation (REFLECT_101), rounded
    and saturated to uint8."""
    out = ndimage.correlate(np.asarray(x, np.float64), np.asarray(kernel, np.float64),
                            mode="mirror")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def box3_8u(x: np.ndarray) -> np.ndarray:
    """cv2.blur(x, (3, 3)) of a uint8 image: the rounded 3x3 mean (REFLECT_101)."""
    s = ndimage.correlate(np.asarray(x, np.int64), np.ones((3, 3), np.int64), mode="mirror")
    return np.clip(np.rint(s / 9.0), 0, 255).astype(np.uint8)
