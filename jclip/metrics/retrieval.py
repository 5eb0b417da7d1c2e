"""Image-text retrieval recall@k with several captions per image, blocked over the similarities.

The protocol is CLIP_benchmark's: image i is retrieved at k (image -> text) when one of its
captions is among the k captions most similar to it; caption t is retrieved at k (text -> image)
when its image is among the k images most similar to it. Ties are broken like ``lax.top_k``:
among equal similarities the lower index ranks first.

Instead of materialising the N_img x N_txt matrix and calling top-k, jclip counts, for every
query, the negatives ranked ahead of its best positive (rank r = that count; hit at k iff r < k).
The counts are sums over tiles of the similarity matrix, so memory is O(tile + N_img + N_txt)
and the matrix never exists at once when it is given as features.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jclip.metrics._checks import as_float_array, check_finite, check_same_dim, is_concrete

_HIGHEST = jax.lax.Precision.HIGHEST


def _check_text_to_image(text_to_image, n_img: int, n_txt: int):
    t2i = jnp.asarray(text_to_image)
    if t2i.shape != (n_txt,):
        raise ValueError(f"text_to_image must have shape ({n_txt},) (one image id per caption), "
                         f"got {tuple(t2i.shape)}")
    if not jnp.issubdtype(t2i.dtype, jnp.integer):
        raise TypeError(f"text_to_image must hold integer image ids, got dtype {t2i.dtype}")
    if is_concrete(t2i):
        ids = np.asarray(t2i)
        if ids.min() < 0 or ids.max() >= n_img:
            raise ValueError(f"text_to_image ids must lie in [0, {n_img}), "
                             f"got values in [{ids.min()}, {ids.max()}]")
        missing = np.flatnonzero(np.bincount(ids, minlength=n_img) == 0)
        if missing.size:
            raise ValueError(f"{missing.size} images have no caption (first: {missing[:5]}); "
                             "every image needs at least one caption in text_to_image")
    return t2i.astype(jnp.int32)


def _best_positive(pos_txt, t2i, n_img):
    """Per image: its best caption score and the lowest caption index reaching it."""
    best = jax.ops.segment_max(pos_txt, t2i, num_segments=n_img)
    captions = jnp.arange(pos_txt.shape[0])
    candidate = jnp.where(pos_txt == best[t2i], captions, pos_txt.shape[0])
    first = jax.ops.segment_min(candidate, t2i, num_segments=n_img)
    return best, first


@functools.partial(jax.jit, static_argnames=("tile_img", "tile_txt", "from_features"))
def _ranks(a, b, t2i, tile_img, tile_txt, from_features):
    """Ranks (0 = best) of each image's best caption and of each caption's image.

    ``a, b`` are (zimg, ztxt) when ``from_features`` else (sim, unused).
    """
    if from_features:
        n_img, n_txt = a.shape[0], b.shape[0]
        pos_txt = jnp.einsum("td,td->t", a[t2i], b, precision=_HIGHEST)
    else:
        n_img, n_txt = a.shape
        pos_txt = a[t2i, jnp.arange(n_txt)]
    best, first = _best_positive(pos_txt, t2i, n_img)
    num_i = -(-n_img // tile_img)
    num_t = -(-n_txt // tile_txt)

    def tile(i, t):
        # Clamped starts keep every slice in bounds; rows/columns before the nominal start were
        # covered by the previous tile and are masked out below.
        i0 = jnp.minimum(i * tile_img, n_img - tile_img)
        t0 = jnp.minimum(t * tile_txt, n_txt - tile_txt)
        rows = i0 + jnp.arange(tile_img)
        cols = t0 + jnp.arange(tile_txt)
        if from_features:
            za = jax.lax.dynamic_slice_in_dim(a, i0, tile_img)
            zb = jax.lax.dynamic_slice_in_dim(b, t0, tile_txt)
            s = jnp.dot(za, zb.T, precision=_HIGHEST)
        else:
            s = jax.lax.dynamic_slice(a, (i0, t0), (tile_img, tile_txt))
        fresh = (rows >= i * tile_img)[:, None] & (cols >= t * tile_txt)[None, :]
        return rows, cols, s, fresh

    def step(carry, it):
        rank_img, rank_txt = carry
        i, t = it // num_t, it % num_t
        rows, cols, s, fresh = tile(i, t)
        owner = t2i[cols]
        negative = fresh & (owner[None, :] != rows[:, None])
        # image -> text: captions of other images ahead of the image's best caption
        p, f = best[rows][:, None], first[rows][:, None]
        # A non-finite score counts against the model: a broken negative is ahead, and a
        # broken positive is behind every negative (so an all-NaN matrix has recall 0, not 1).
        broken = ~jnp.isfinite(s)
        ahead_i = negative & ((s > p) | ((s == p) & (cols[None, :] < f)) | broken
                              | ~jnp.isfinite(p))
        # text -> image: other images ahead of the caption's own image
        q, o = pos_txt[cols][None, :], owner[None, :]
        ahead_t = negative & ((s > q) | ((s == q) & (rows[:, None] < o)) | broken
                              | ~jnp.isfinite(q))
        rank_img = rank_img.at[rows].add(jnp.sum(ahead_i, axis=1, dtype=jnp.int32))
        rank_txt = rank_txt.at[cols].add(jnp.sum(ahead_t, axis=0, dtype=jnp.int32))
        return (rank_img, rank_txt), None

    init = (jnp.zeros(n_img, jnp.int32), jnp.zeros(n_txt, jnp.int32))
    (rank_img, rank_txt), _ = jax.lax.scan(step, init, jnp.arange(num_i * num_t))
    return rank_img, rank_txt


def retrieval_ranks(sim, text_to_image, *, tile_size=(1024, 4096)):
    """Rank (0-based) of the best positive of every image and of every caption.

    Args:
      sim: [N_img, N_txt] similarities, or a pair ``(zimg [N_img, D], ztxt [N_txt, D])`` whose
        dot products are the similarities (computed tile by tile, never all at once).
      text_to_image: [N_txt] int, the image index of each caption; every image needs >= 1.
      tile_size: (rows, columns) of the similarity tiles.
    Returns:
      (image_rank [N_img], text_rank [N_txt]) int32: the number of wrong captions ranked ahead
      of the image's best caption, and of wrong images ahead of the caption's image.
    """
    from_features = isinstance(sim, (tuple, list))
    if from_features:
        if len(sim) != 2:
            raise ValueError("sim given as a pair must be (zimg, ztxt)")
        a = as_float_array("zimg", sim[0], 2)
        b = as_float_array("ztxt", sim[1], 2)
        check_same_dim("zimg", a, "ztxt", b)
        n_img, n_txt = a.shape[0], b.shape[0]
    else:
        a = as_float_array("sim", sim, 2)
        b = jnp.zeros((), a.dtype)
        n_img, n_txt = a.shape
    if n_img == 0 or n_txt == 0:
        raise ValueError(f"retrieval needs images and captions, got {n_img} and {n_txt}")
    for name, x in ((("zimg", a), ("ztxt", b)) if from_features else (("sim", a),)):
        check_finite(name, x)
    t2i = _check_text_to_image(text_to_image, n_img, n_txt)
    tile_img, tile_txt = (int(v) for v in tile_size)
    if tile_img < 1 or tile_txt < 1:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    return _ranks(a, b, t2i, min(tile_img, n_img), min(tile_txt, n_txt), from_features)


def retrieval_recall(sim, text_to_image, ks=(1, 5, 10), *, tile_size=(1024, 4096)):
    """Recall@k of image -> text and text -> image retrieval.

    Args:
      sim: [N_img, N_txt] similarities (``sim[i, t]`` between image i and caption t), or a pair
        ``(zimg, ztxt)`` of features; then the similarities are computed tile by tile and the
        full matrix is never materialised (COCO 5k x 25k or 50k x 250k fit in a few MB).
      text_to_image: [N_txt] int, ``text_to_image[t]`` = image of caption t. Several captions
        may share an image; every image must have at least one.
      ks: the k of recall@k.
      tile_size: (rows, columns) of the similarity tiles.
    Returns:
      {"image_to_text@k": float32 scalar, "text_to_image@k": float32 scalar} for each k.
    """
    ks = tuple(ks)
    if not ks or any(not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive ints, got {ks}")
    rank_img, rank_txt = retrieval_ranks(sim, text_to_image, tile_size=tile_size)
    out = {}
    for k in ks:
        out[f"image_to_text@{k}"] = jnp.mean((rank_img < k).astype(jnp.float32))
        out[f"text_to_image@{k}"] = jnp.mean((rank_txt < k).astype(jnp.float32))
    return out
