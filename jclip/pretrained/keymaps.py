"""Key maps: which checkpoint tensor becomes which jclip param, and how (both ways).

A key map is a list of ``(jclip param path, checkpoint key, transform)``; ``transform`` turns the
PyTorch tensor into the Flax leaf (Linear weights [out, in] -> kernels [in, out], Conv weights
[O, I, kh, kw] -> [kh, kw, I, O], in_proj rows -> q / k / v). The HF and OpenCLIP layouts are
written with the helpers here. ``INVERSE`` maps each transform to the one that turns the Flax
leaf back into the PyTorch tensor, and ``to_state_dict`` writes a checkpoint with a key map
(re-concatenating the q / k / v rows of fused in_proj tensors).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np


def linear(w: np.ndarray) -> np.ndarray:
    """Linear weight [out, in] -> Flax kernel [in, out] (its own inverse)."""
    return w.T


def conv(w: np.ndarray) -> np.ndarray:
    """Conv weight [O, I, kh, kw] -> Flax kernel [kh, kw, I, O]."""
    return w.transpose(2, 3, 1, 0)


def conv_inverse(w: np.ndarray) -> np.ndarray:
    """Flax kernel [kh, kw, I, O] -> Conv weight [O, I, kh, kw]."""
    return w.transpose(3, 2, 0, 1)


def same(w: np.ndarray) -> np.ndarray:
    return w


def scalar(w: np.ndarray) -> np.ndarray:
    """A size-1 tensor (shape () or (1,)) -> shape (); written back with shape ()."""
    if w.size != 1:
        raise ValueError(f"expected a scalar, got shape {w.shape}")
    return w.reshape(())


def scalar_1d(w: np.ndarray) -> np.ndarray:
    """As ``scalar``, for checkpoints that store the scalar as shape (1,) (HF SigLIP)."""
    return scalar(w)


@dataclasses.dataclass(frozen=True)
class InProjRows:
    """Slice ``index`` (0 = q, 1 = k, 2 = v) of a fused [3W, ...] in_proj tensor, then
    ``transform``. Written back by concatenating the three slices (see ``to_state_dict``)."""

    index: int
    transform: Callable = same

    def __call__(self, w: np.ndarray) -> np.ndarray:
        n = w.shape[0] // 3
        return self.transform(w[self.index * n:(self.index + 1) * n])


def in_proj_rows(index: int, transform=same) -> InProjRows:
    """Slice ``index`` (0 = q, 1 = k, 2 = v) of a fused [3W, ...] in_proj tensor."""
    return InProjRows(index, transform)


# transform (checkpoint -> Flax) -> its inverse (Flax -> checkpoint).
INVERSE: dict[Callable, Callable] = {
    linear: linear,
    conv: conv_inverse,
    same: same,
    scalar: lambda w: np.reshape(w, ()),
    scalar_1d: lambda w: np.reshape(w, (1,)),
}


def ln(path, key):
    """A LayerNorm: ``key.weight`` -> scale, ``key.bias`` -> bias."""
    return [(path + ("scale",), key + ".weight", same), (path + ("bias",), key + ".bias", same)]


def dense(path, key, bias=True):
    """A Linear layer: ``key.weight`` [out, in] -> kernel [in, out] (+ ``key.bias``)."""
    out = [(path + ("kernel",), key + ".weight", linear)]
    return out + ([(path + ("bias",), key + ".bias", same)] if bias else [])


def to_state_dict(flat_params: dict, key_map: list) -> dict[str, np.ndarray]:
    """Inverse of a key map: {jclip path: array} -> {checkpoint key: float32 array}.

    Every path of ``key_map`` must be in ``flat_params`` (canonical, per-layer layout). Fused
    in_proj tensors get their q, k, v slices concatenated back along the first axis.
    """
    state, fused = {}, {}
    for path, key, transform in key_map:
        value = np.asarray(flat_params[path], np.float32)
        if isinstance(transform, InProjRows):
            fused.setdefault(key, {})[transform.index] = INVERSE[transform.transform](value)
        else:
            state[key] = np.array(INVERSE[transform](value), order="C")  # keeps 0-d shapes
    for key, parts in fused.items():
        if sorted(parts) != [0, 1, 2]:  # a bug in a key map, not in the params
            raise AssertionError(f"{key}: in_proj slices {sorted(parts)}, expected [0, 1, 2]")
        state[key] = np.array(np.concatenate([parts[i] for i in range(3)]), order="C")
    return state
