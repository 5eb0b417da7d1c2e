"""Memory-flat contrastive losses and kernel sums: XLA tiles on CPU, Pallas kernels on GPU/TPU.

The obvious CLIP / SigLIP loss materialises the B x B logit matrix, and kernel-entropy metrics
the n x n kernel matrix. The functions here compute the same values (and, for the losses, the
same gradients) tile by tile, never holding more than one tile of the matrix:

    contrastive_loss(zimg, ztxt, scale)         == jclip.losses.clip_loss
    sigmoid_loss(zimg, ztxt, scale, bias)       == jclip.losses.siglip_loss
    gaussian_kernel_mean(x, y, sigma, power=p)  == mean_ij exp(-p ||x_i - y_j||^2 / (2 sigma^2))

``impl`` chooses the implementation:

- ``"naive"``: the materialised matrix (jclip.losses / a dense formula), the reference;
- ``"xla"``: row strips with ``lax.scan``, an online log-sum-exp forward and a recomputing
  ``jax.custom_vjp`` backward (kernels/tiled.py, contrastive.py, sigmoid.py, gaussian.py);
- ``"pallas"``: Pallas kernels (kernels/pallas_tiles.py): Triton on GPU, Mosaic on TPU, and
  interpret mode on CPU (slow; for testing);
- ``"auto"``: ``"pallas"`` when the default backend is a GPU or TPU, ``"xla"`` otherwise.

``axis_name`` (losses): called under ``jax.shard_map`` (or ``jax.pmap``) with each device holding
B_local consecutive rows of the global batch, the loss is the exact global loss, computed with a
ring of ``ppermute``s (kernels/ring.py) in O(B_local * block) memory per device. Gradients follow
the conventions of jclip.losses: exact local rows under shard_map, N times the local derivative
under pmap (undone by the usual ``pmean``).
"""

import jax
import jax.numpy as jnp

from jclip._lazy import package_face
from jclip.kernels import _checks, contrastive, gaussian, naive, pallas_tiles, ring, sigmoid

__all__ = ["contrastive_loss", "gaussian_kernel_mean", "sigmoid_loss"]


def _resolve(fn, impl, block_size):
    _checks.check_impl(fn, impl)
    if impl == "auto":
        impl = "pallas" if jax.default_backend() in ("gpu", "tpu") else "xla"
    block_size = _checks.check_block_size(fn, block_size, power_of_two=impl == "pallas")
    return impl, block_size


def contrastive_loss(zimg, ztxt, scale, *, impl="auto", block_size=None, axis_name=None):
    """Symmetric InfoNCE loss of CLIP (Radford et al., 2021), without the B x B logit matrix.

    With l_ij = scale * <zimg_i, ztxt_j> over the global batch of B pairs,
    r_i = logsumexp_j l_ij and c_j = logsumexp_i l_ij,

        loss = 1/(2B) [ sum_i (r_i - l_ii) + sum_j (c_j - l_jj) ],

    the mean of the image->text and text->image cross-entropies (as jclip.losses.clip_loss).

    Args:
      zimg, ztxt: [B_local, D] L2-normalised embeddings (float32, bfloat16 or float64), row i a
        matching pair. Any B and D.
      scale: positive scalar multiplier (exp of the learned log-scale). Differentiable.
      impl: "auto", "naive", "xla" or "pallas" (see the module docstring).
      block_size: rows per strip (xla) or tile edge, a power of two (pallas); None picks one.
      axis_name: mesh axis of the batch under shard_map / pmap; None on one device.
    Returns:
      Scalar float32 (float64 for float64 inputs) loss of the global batch.
    Raises:
      ValueError / TypeError: shapes or dtypes of the inputs, unknown impl, bad block_size.
    """
    fn = "contrastive_loss"
    impl, block_size = _resolve(fn, impl, block_size)
    _checks.check_pair(fn, zimg, ztxt)
    scale = _checks.check_scalar(fn, "scale", scale, positive=True)
    if impl == "naive":
        return naive.clip_loss(zimg, ztxt, scale, axis_name=axis_name)
    passes = ring.Passes(impl, block_size, str(_checks.accumulation_dtype(zimg, ztxt)))
    return contrastive.clip_loss_tiled(zimg, ztxt, scale, axis_name=axis_name, passes=passes)


def sigmoid_loss(zimg, ztxt, scale, bias, *, impl="auto", block_size=None, axis_name=None):
    """Pairwise sigmoid loss of SigLIP (Zhai et al., 2023, eq. 1), without the B x B logits.

    With l_ij = scale * <zimg_i, ztxt_j> + bias and z_ii = 1, z_ij = -1 (i != j),

        loss = -(1/B) sum_i sum_j log sigmoid(z_ij l_ij),

    B the global batch (as jclip.losses.siglip_loss).

    Args:
      zimg, ztxt: [B_local, D] L2-normalised embeddings (float32, bfloat16 or float64).
      scale: positive scalar (exp of the learned log-temperature); bias: scalar. Both
        differentiable.
      impl, block_size, axis_name: as in ``contrastive_loss``.
    Returns:
      Scalar float32 (float64 for float64 inputs) loss of the global batch.
    """
    fn = "sigmoid_loss"
    impl, block_size = _resolve(fn, impl, block_size)
    _checks.check_pair(fn, zimg, ztxt)
    scale = _checks.check_scalar(fn, "scale", scale, positive=True)
    bias = _checks.check_scalar(fn, "bias", bias)
    if impl == "naive":
        return naive.siglip_loss(zimg, ztxt, scale, bias, axis_name=axis_name)
    passes = ring.Passes(impl, block_size, str(_checks.accumulation_dtype(zimg, ztxt)))
    return sigmoid.siglip_loss_tiled(zimg, ztxt, scale, bias, axis_name=axis_name, passes=passes)


def gaussian_kernel_mean(x, y, sigma, *, power=1, impl="auto", block_size=None):
    """mean_ij exp(-power * ||x_i - y_j||^2 / (2 sigma^2)) in O((N + M) * D) memory.

    With y = x and power = 2 it is exp(-RKE_2), the order-2 Renyi kernel entropy of x
    (Jalali et al., 2023), i.e. 1 / Vendi_2 (Friedman & Dieng, 2023); with power = 1, three
    calls give CMMD (Jayasumana et al., 2024): mean k_xx + mean k_yy - 2 mean k_xy. Passing the
    same array object as x and y lets the xla implementation sum only half of the tiles.

    Args:
      x: [N, D], y: [M, D] floating arrays.
      sigma: positive bandwidth; power: positive exponent p (both scalars).
      impl, block_size: as in ``contrastive_loss`` (block_size is the tile edge).
    Returns:
      Scalar float32 (float64 for float64 inputs) in (0, 1].
    """
    fn = "gaussian_kernel_mean"
    impl, block_size = _resolve(fn, impl, block_size)
    _checks.check_matrix(fn, "x", x)
    _checks.check_matrix(fn, "y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{fn}: x and y must have the same width D, got x {tuple(x.shape)} and "
            f"y {tuple(y.shape)}"
        )
    sigma = _checks.check_scalar(fn, "sigma", sigma, positive=True)
    power = _checks.check_scalar(fn, "power", power, positive=True)
    dtype = _checks.accumulation_dtype(x, y)
    coef = power.astype(dtype) / (2.0 * jnp.square(sigma.astype(dtype)))
    if impl == "naive":
        return naive.gaussian_kernel_mean(x, y, coef)
    pairs = float(x.shape[0]) * float(y.shape[0])  # a float: n * m can exceed int32
    if impl == "xla":
        total = gaussian.gaussian_sum_xla(x, y, coef, symmetric=y is x, block=block_size)
    else:
        total = jnp.sum(pallas_tiles.gaussian_row_sums(x, y, coef, block_size))
    return total / pairs

__getattr__, __dir__ = package_face(__name__, __path__)  # every submodule, lazily
