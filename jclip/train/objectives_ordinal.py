"""NumCLIP's coarse stage as a trainer objective: fine-tune the towers on labelled ordinal data.

Du et al., 2024 (ECCV), "Teach CLIP to Develop a Number Sense for Ordinal Regression": every
image is scored against the d prompts of the coarse bins (fixed token ids in the loss config,
e.g. "a photo of a small object" / "... medium ..." / "... large ..."),
l_ij = exp(t) <zimg_i, zbin_j>, and the loss is the FCRC-weighted image->text cross-entropy plus
the FCRC-weighted text->image KL of ``jclip.heads.numclip.coarse_loss`` over the global batch.
The fine regression stage and the image adapter of the paper are extra heads outside the
model's param tree; they are trained on frozen features by ``jclip.heads.numclip.fit``.

Loss config fields:
  numclip_bin_tokens: d rows of token ids of the bin prompts (tokenized with the run's tokenizer,
    padded to one length).
  numclip_label_bins: the bin of each label id of the batch's ``label`` (default: label = bin).

Under ``shard_map`` each device all-gathers the logits and bins, computes the global loss and
returns loss / n, and the ``psum`` gives the exact global value; the transpose of the gather sums
the n copies' cotangents, so the local gradients are exact too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jclip.heads import numclip
from jclip.ops import l2_normalize
from jclip.train.objective import Objective

_l2 = lambda z: l2_normalize(z, eps=1e-12)


def _bin_tokens(loss_config, model):
    rows = loss_config.get("numclip_bin_tokens", None)
    if not rows:
        raise ValueError("loss.name='numclip' needs loss.numclip_bin_tokens: the token ids of the "
                         "d >= 2 bin prompts, e.g. tokenizer(['a photo of a small object', ...])")
    tokens = np.asarray(rows)
    if tokens.ndim != 2 or tokens.shape[0] < 2 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"loss.numclip_bin_tokens must be d >= 2 rows of int token ids of one "
                         f"length, got shape {tokens.shape} dtype {tokens.dtype}")
    if tokens.shape[1] > model.config.context_length:
        raise ValueError(f"loss.numclip_bin_tokens rows have {tokens.shape[1]} ids, more than the "
                         f"model's context_length {model.config.context_length}")
    return tokens.astype(np.int32)


def _label_bins(loss_config, num_bins: int):
    mapping = loss_config.get("numclip_label_bins", None)
    if not mapping:
        return np.arange(num_bins, dtype=np.int32)
    mapping = np.asarray(mapping)
    if mapping.ndim != 1 or mapping.min() < 0 or mapping.max() >= num_bins or np.any(
            np.diff(mapping) < 0):
        raise ValueError(f"loss.numclip_label_bins must map each label to a bin in "
                         f"[0, {num_bins}), non-decreasing with the label, got {mapping.tolist()}")
    return mapping.astype(np.int32)


def numclip_objective(loss_config, model):
    """The trainer's ``Objective`` of NumCLIP's coarse stage (module docstring)."""

    tokens = jnp.asarray(_bin_tokens(loss_config, model))
    d = int(tokens.shape[0])
    label_bins = jnp.asarray(_label_bins(loss_config, d))

    def encode(params, batch, rng):
        del rng
        if "label" not in batch:
            raise ValueError("loss.name='numclip' needs int labels in the batch (batch['label'], "
                             "e.g. data.label='level' with the ordinal scenes)")
        v = {"params": params}
        img = _l2(model.apply(v, batch["image"], method="encode_image"))
        txt = _l2(model.apply(v, tokens, method="encode_text"))  # [d, D]
        # Every row carries the d bin embeddings so the dict shards along the batch like the rest.
        return {"image": img, "bin_text": jnp.broadcast_to(txt, (img.shape[0], *txt.shape)),
                "bin": label_bins[batch["label"]]}

    def head(params, emb, rng, axis_name):
        del rng
        txt = emb["bin_text"][0]
        logits = jnp.exp(params["logit_scale"]) * emb["image"] @ txt.T  # [B_local, d]
        bins = emb["bin"]
        n = 1
        if axis_name is not None:
            logits = jax.lax.all_gather(logits, axis_name, tiled=True)
            bins = jax.lax.all_gather(bins, axis_name, tiled=True)
            n = jax.lax.psum(1, axis_name)
        ce, kl = numclip.coarse_loss(logits, bins, d)
        loss = ce + kl
        if axis_name is not None:
            loss, ce, kl = (jax.lax.psum(x / n, axis_name) for x in (loss, ce, kl))
        return loss, {"numclip_ce": ce, "numclip_kl": kl}

    return Objective(encode, head)
