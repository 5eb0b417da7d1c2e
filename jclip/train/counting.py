"""The counting loss in the trainer: counterfactual captions for every data source, and the
masked loss term.

With ``loss.counting_weight > 0`` every source's batches carry, next to ``tokens``,

  ``tokens_counterfactual`` int32 [b, L]: each caption with its number swapped
    (``jclip.data.counterfactual.counterfactual_caption``), and
  ``count_mask`` float32 [b]: 1 where the caption states a number, 0 where it does not.

``data.counterfactual`` (a dict, every key optional) configures them:

  counts    counts the swapped number is drawn from (default 2..10, Paiss et al.)
  missing   "mask" (default): a caption without a number keeps its row in the contrastive loss
            and is left out of the counting term (its counterfactual is the caption itself, its
            mask 0; the step metric ``counting_rows`` counts the rows the term used); "error":
            such a caption raises a ValueError naming it
  articles  also read "a" / "an" as one (default False: only number words and digits)
  one_word  how a swapped-in one is written: "one" (default) or "a"

The synthetic counting scenes keep their own counterfactuals (``caption_counterfactual``, the
counts of the scene config); shapes batches that mix scene kinds use the function above.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jclip.data import counterfactual as cf_lib

CF_STREAM = 15  # seed stream of the counterfactual draws (the file sources use 11..14)
MISSING = ("mask", "error")
DEFAULTS = {"counts": tuple(range(2, 11)), "missing": "mask", "articles": False,
            "one_word": "one"}


def options(data) -> dict:
    """``data.counterfactual`` with defaults filled in, checked (ValueError naming the key)."""
    given = dict(data.get("counterfactual", None) or {})
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"data.counterfactual got unknown key(s) {unknown}; it accepts "
                         f"{sorted(DEFAULTS)}")
    opts = {**DEFAULTS, **given}
    counts = tuple(int(c) for c in opts["counts"])
    if len(set(counts)) < 2:
        raise ValueError(f"data.counterfactual.counts needs at least 2 distinct counts to swap "
                         f"between, got {opts['counts']!r}")
    for c in counts:
        cf_lib.number_word(c)  # a count that has no number word raises here
    if opts["missing"] not in MISSING:
        raise ValueError(f"data.counterfactual.missing must be one of {MISSING}, got "
                         f"{opts['missing']!r}")
    if opts["one_word"] not in ("one", "a"):
        raise ValueError(f"data.counterfactual.one_word must be 'one' or 'a', got "
                         f"{opts['one_word']!r}")
    return {**opts, "counts": counts, "articles": bool(opts["articles"])}


def counterfactuals(captions, rng: np.random.Generator, opts: dict):
    """(counterfactual captions, mask float32 [n]) of ``captions`` under ``opts``
    (``options``); raises for a caption without a number when ``missing="error"``."""
    out, mask = [], np.zeros(len(captions), np.float32)
    for i, caption in enumerate(captions):
        swapped = cf_lib.counterfactual_caption(caption, rng, opts["counts"],
                                                articles=opts["articles"],
                                                one_word=opts["one_word"])
        if swapped is None:
            if opts["missing"] == "error":
                raise ValueError(
                    f"caption {caption!r} states no number, which the counting loss needs "
                    f"(data.counterfactual.missing='mask' leaves such rows out of the term)")
            swapped = caption
        else:
            mask[i] = 1.0
        out.append(swapped)
    return out, mask


def fields_fn(data, tokenizer, seed: int, process_index: int = 0):
    """``fn(captions, step) -> {"tokens_counterfactual", "count_mask"}`` for a source's local
    batch; the draws are a pure function of (seed, step, process)."""
    opts = options(data)

    def fn(captions, step):
        rng = np.random.default_rng(np.random.SeedSequence(
            [int(seed), CF_STREAM, int(step), int(process_index)]))
        texts, mask = counterfactuals(list(captions), rng, opts)
        return {"tokens_counterfactual": np.asarray(tokenizer(texts), np.int32),
                "count_mask": mask}

    return fn


def masked_counting_loss(zimg, ztxt, ztxt_counterfactual, scale, mask, *, axis_name=None):
    """The counting loss of Paiss et al. (2023, eq. 2) over the rows whose caption has a number.

        loss = sum_i m_i softplus(s <zimg_i, ztxt_cf_i - ztxt_i>) / max(sum_i m_i, 1)
             = -(1/M) sum_{i: m_i=1} log[e^{s<x_i,t_i>} / (e^{s<x_i,t_i>} + e^{s<x_i,cf_i>})],

    M the number of such rows in the global batch; equal to ``jclip.losses.counting_loss`` when
    every m_i = 1, and 0 when no row has a number.

    Args:
      zimg, ztxt, ztxt_counterfactual: [B_local, D] L2-normalised embeddings.
      scale: positive scalar multiplier of the cosines (exp of the logit scale).
      mask: [B_local] 1 / 0 per row.
      axis_name: mesh axis (or axes) of the batch under shard_map; None on one device.
    Returns:
      (loss, M): the scalar loss and the number of rows it used, the same on every device.
    """
    zimg, ztxt, ztxt_counterfactual = map(jnp.asarray, (zimg, ztxt, ztxt_counterfactual))
    dtype = jnp.promote_types(jnp.result_type(zimg, ztxt, ztxt_counterfactual), jnp.float32)
    mask = jax.lax.stop_gradient(jnp.asarray(mask, dtype))
    margins = jnp.asarray(scale, dtype) * jnp.sum(
        zimg.astype(dtype) * (ztxt_counterfactual.astype(dtype) - ztxt.astype(dtype)), axis=1)
    total, rows = jnp.sum(mask * jax.nn.softplus(margins)), jnp.sum(mask)
    if axis_name is not None:
        total, rows = jax.lax.psum(total, axis_name), jax.lax.psum(rows, axis_name)
    return total / jnp.maximum(rows, 1.0), rows
