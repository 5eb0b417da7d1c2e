"""Key maps: which checkpoint tensor becomes which jclip param, and how.

A key map is a list of ``(jclip param path, checkpoint key, transform)``; ``transform`` turns the
PyTorch tensor into the Flax leaf (Linear weights [out, in] -> kernels [in, out], Conv weights
[O, I, kh, kw] -> [kh, kw, I, O], in_proj rows -> q / k / v). The HF and OpenCLIP layouts are
written with the helpers here.
"""

from __future__ import annotations

import numpy as np


def linear(w: np.ndarray) -> np.ndarray:
    return w.T


def conv(w: np.ndarray) -> np.ndarray:
    return w.transpose(2, 3, 1, 0)


def same(w: np.ndarray) -> np.ndarray:
    return w


def scalar(w: np.ndarray) -> np.ndarray:
    if w.size != 1:
        raise ValueError(f"expected a scalar, got shape {w.shape}")
    return w.reshape(())


def in_proj_rows(index: int, transform=same):
    """Slice ``index`` (0 = q, 1 = k, 2 = v) of a fused [3W, ...] in_proj tensor."""

    def take(w):
        n = w.shape[0] // 3
        return transform(w[index * n:(index + 1) * n])

    return take


def ln(path, key):
    """A LayerNorm: ``key.weight`` -> scale, ``key.bias`` -> bias."""
    return [(path + ("scale",), key + ".weight", same), (path + ("bias",), key + ".bias", same)]


def dense(path, key, bias=True):
    """A Linear layer: ``key.weight`` [out, in] -> kernel [in, out] (+ ``key.bias``)."""
    out = [(path + ("kernel",), key + ".weight", linear)]
    return out + ([(path + ("bias",), key + ".bias", same)] if bias else [])
