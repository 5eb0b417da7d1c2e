"""CLIPScore and RefCLIPScore (Hessel et al., 2021, "CLIPScore: A Reference-free Evaluation
Metric for Image Captioning").
"""

from __future__ import annotations

import jax.numpy as jnp

from jclip.metrics._checks import (
    as_float_array,
    check_finite,
    check_nonempty,
    check_same_dim,
    positive_scalar,
)
from jclip.ops import l2_normalize


def _check_pairs(zimg, ztxt):
    zimg = as_float_array("zimg", zimg, 2)
    ztxt = as_float_array("ztxt", ztxt, 2)
    if zimg.shape != ztxt.shape:
        raise ValueError(f"zimg and ztxt must pair up row by row, got {zimg.shape}, {ztxt.shape}")
    check_nonempty("zimg", zimg)
    check_finite("zimg", zimg)
    check_finite("ztxt", ztxt)
    return zimg, ztxt


def clip_score(zimg, ztxt, w: float = 2.5):
    """CLIP-S = mean_i w * max(cos(zimg_i, ztxt_i), 0) (Hessel et al., 2021, eq. 1).

    Hessel et al. embed the candidate caption with the prefix "A photo depicts" and use w = 2.5.
    torchmetrics' ``CLIPScore`` reports a different number: max(100 * mean_i cos_i, 0), scaled
    by 100 instead of 2.5 and clamped after the mean instead of per pair; for pairs with
    non-negative cosines it equals ``clip_score(...) * 100 / w``.

    Args:
      zimg, ztxt: [N, D] image and caption embeddings, paired row by row (normalised here).
      w: the re-scaling weight.
    Returns:
      Scalar float32.
    """
    zimg, ztxt = _check_pairs(zimg, ztxt)
    w = positive_scalar("w", w)
    cos = jnp.sum(l2_normalize(zimg) * l2_normalize(ztxt), axis=-1)
    return jnp.mean(w * jnp.maximum(cos, 0.0))


def ref_clip_score(zimg, ztxt, zrefs, w: float = 2.5, *, refs_mask=None):
    """RefCLIP-S = mean_i H(CLIP-S_i, max(max_r cos(ztxt_i, zrefs_ir), 0)), H the harmonic mean.

    (Hessel et al., 2021, eq. 2.) Per pair, the harmonic mean of the image-caption CLIP-S
    (including w) and the best cosine between the candidate caption and its references; a
    harmonic mean with a zero term is 0.

    Args:
      zimg, ztxt: [N, D] image and candidate-caption embeddings.
      zrefs: [N, R, D] embeddings of R reference captions per image.
      w: the CLIP-S weight.
      refs_mask: optional [N, R] bool, False for padding references (ragged reference sets).
    Returns:
      Scalar float32.
    """
    zimg, ztxt = _check_pairs(zimg, ztxt)
    w = positive_scalar("w", w)
    zrefs = as_float_array("zrefs", zrefs, 3)
    if zrefs.shape[0] != zimg.shape[0]:
        raise ValueError(f"zrefs must have {zimg.shape[0]} rows of references, got {zrefs.shape}")
    check_same_dim("ztxt", ztxt, "zrefs", zrefs)
    txt = l2_normalize(ztxt)
    clip_s = w * jnp.maximum(jnp.sum(l2_normalize(zimg) * txt, axis=-1), 0.0)
    ref_cos = jnp.einsum("nd,nrd->nr", txt, l2_normalize(zrefs))
    if refs_mask is not None:
        refs_mask = jnp.asarray(refs_mask, bool)
        if refs_mask.shape != zrefs.shape[:2]:
            raise ValueError(f"refs_mask must have shape {zrefs.shape[:2]}, got {refs_mask.shape}")
        ref_cos = jnp.where(refs_mask, ref_cos, -jnp.inf)
    ref_s = jnp.maximum(jnp.max(ref_cos, axis=1), 0.0)
    total = clip_s + ref_s
    harmonic = jnp.where(total > 0, 2 * clip_s * ref_s / jnp.where(total > 0, total, 1.0), 0.0)
    return jnp.mean(harmonic)


__all__ = ["clip_score", "ref_clip_score"]
