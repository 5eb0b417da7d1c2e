"""Argument checks of the public kernels (trace-time: shapes, dtypes, static options)."""

import numpy as np

# The scalar and matrix checks and the accumulation dtype are the losses' own, so the kernels
# and the reference losses reject the same inputs with the same messages.
from jclip.losses._common import accumulation_dtype, check_embeddings, check_scalar  # noqa: F401

IMPLS = ("auto", "naive", "xla", "pallas")


def check_impl(fn, impl):
    if impl not in IMPLS:
        raise ValueError(f"{fn}: impl must be one of {IMPLS}, got {impl!r}")


def check_block_size(fn, block_size, *, power_of_two=False):
    """None (pick a default) or a positive int; a power of two >= 8 for the Pallas kernels."""
    if block_size is None:
        return None
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer):
        raise TypeError(f"{fn}: block_size must be an int or None, got {type(block_size).__name__}")
    block_size = int(block_size)
    if block_size < 1:
        raise ValueError(f"{fn}: block_size must be >= 1, got {block_size}")
    if power_of_two and (block_size < 8 or block_size & (block_size - 1)):
        raise ValueError(
            f"{fn}: impl='pallas' needs block_size a power of two >= 8 (GPU and TPU tiles), "
            f"got {block_size}"
        )
    return block_size


def check_matrix(fn, name, z):
    """A floating-point [N, D] array with N, D >= 1."""
    check_embeddings(fn, **{name: z})


def check_pair(fn, zimg, ztxt):
    """zimg and ztxt: floating [B, D] with the same B and D (row i a matching pair)."""
    check_matrix(fn, "zimg", zimg)
    check_matrix(fn, "ztxt", ztxt)
    if zimg.shape != ztxt.shape:
        raise ValueError(
            f"{fn}: zimg and ztxt must have the same shape [B, D] (row i a matching pair), got "
            f"{tuple(zimg.shape)} and {tuple(ztxt.shape)}"
        )
