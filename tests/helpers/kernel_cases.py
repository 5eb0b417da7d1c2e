"""Shared shapes, inputs and tolerance check of the contrastive / sigmoid kernel tests."""

import jax
import jax.numpy as jnp
import numpy as np

# (impl, block_size, B, D): B = 1, B not a multiple of the block, D odd, default block.
CASES = [(impl, 16, b, d) for impl in ("xla", "pallas") for b, d in [(1, 3), (37, 7), (70, 16)]] + [
    ("xla", None, 37, 7)
]


def pair(b, d, seed=0, dtype=jnp.float32):
    """Two L2-normalised [b, d] embeddings whose rows i are correlated (a matching pair)."""
    kx, ky = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (b, d))
    y = x + 0.8 * jax.random.normal(ky, (b, d))
    norm = lambda z: z / jnp.linalg.norm(z, axis=1, keepdims=True)
    return norm(x).astype(dtype), norm(y).astype(dtype)


def close(a, b, rtol):
    """max |a - b| <= rtol * max |b| (relative to the largest reference entry)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert np.max(np.abs(a - b)) <= rtol * max(np.max(np.abs(b)), 1e-30), (a, b)
