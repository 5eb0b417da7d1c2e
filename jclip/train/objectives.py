"""The loss table of the trainer: name -> factory of an ``Objective``.

An objective is split where the global batch starts to matter:

- ``encode(params, batch, rng) -> embeddings``: the towers, row by row (a dict of [B, D]
  L2-normalised arrays). It runs under ``jax.jit`` with the batch and params sharded by
  ``NamedSharding`` (params over fsdp, rows over data x fsdp), like any other layer.
- ``head(params, embeddings, rng, axis_name) -> (loss, aux)``: embeddings -> scalar loss of the
  global batch. With a mesh it runs under ``jax.shard_map`` over the batch axes (data, fsdp) on
  each device's rows, with the losses' own ``axis_name`` strategies; each device computes its
  partial sum of the global loss terms and the loss ``psum``s them, so the value and the
  gradients (local rows, replicated scalars, hence params through the encoders) are exactly
  those of one device holding the whole batch.

``Objective.loss_fn(params, batch, rng) -> (loss, aux)`` composes the two; the train step
(jclip.train.step) also uses the split directly for gradient caching. Adding a loss is adding
an entry to ``LOSSES`` (and, for an extra additive term such as counting, to ``TERMS``).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jclip import kernels, losses
from jclip.ops import l2_normalize
from jclip.train import counting, objectives_adversarial, objectives_ordinal
from jclip.train.objective import MAX_LOG_SCALE, Objective  # noqa: F401 (re-exported)

_l2 = lambda z: l2_normalize(z, eps=1e-12)


def _encoder(model, locked, counterfactual=False):
    """The towers; subtrees named in ``locked`` (LiT, Zhai et al. 2022) get no gradient."""

    def encode(params, batch, rng):
        del rng  # the towers are deterministic (no dropout); kept for entries that draw
        params = {k: jax.lax.stop_gradient(v) if k in locked else v for k, v in params.items()}
        v = {"params": params}
        emb = {"image": _l2(model.apply(v, batch["image"], method="encode_image")),
               "text": _l2(model.apply(v, batch["tokens"], method="encode_text"))}
        if counterfactual:
            if "tokens_counterfactual" not in batch:
                raise ValueError("counting_weight > 0 needs counterfactual captions in the "
                                 "batch (tokens_counterfactual)")
            emb["text_cf"] = _l2(model.apply(v, batch["tokens_counterfactual"],
                                             method="encode_text"))
            if "count_mask" in batch:  # rows whose caption has a number (jclip.train.counting)
                emb["count_mask"] = jax.lax.stop_gradient(batch["count_mask"])
        return emb

    return encode


def _strategy(config, name, allowed):
    strategy = config.get("strategy", None) or allowed[0]
    if strategy not in allowed:
        raise ValueError(f"loss.strategy={strategy!r} does not exist for {name}; choose one of "
                         f"{allowed}")
    return strategy


def _needs(model, name, kind):
    if getattr(model.config, "kind", None) != kind:
        raise ValueError(f"The {name} loss needs a model with a logit_bias (kind='{kind}'); "
                         f"this model has kind={model.config.kind!r}: use a SigLIP model "
                         f"(e.g. model.name='tiny-siglip') or loss.name='clip'")


def _clip(config, model):
    """InfoNCE of CLIP (Radford et al., 2021): (CE(l_i., i) + CE(l_.j, j)) / 2 over the global
    batch, l_ij = exp(t) <zimg_i, ztxt_j>; strategies all_gather | local, or the kernel ring."""
    smoothing = float(config.get("label_smoothing", 0.0))
    if config.get("impl", "xla") == "kernel":
        if smoothing:
            raise ValueError("loss.impl='kernel' has no label smoothing; set "
                             "loss.label_smoothing=0 or loss.impl='xla'")
        return lambda p, e, rng, ax: kernels.contrastive_loss(
            e["image"], e["text"], jnp.exp(p["logit_scale"]), axis_name=ax)
    strategy = _strategy(config, "clip", losses.CLIP_STRATEGIES)
    return lambda p, e, rng, ax: losses.clip_loss(
        e["image"], e["text"], jnp.exp(p["logit_scale"]), axis_name=ax,
        label_smoothing=smoothing, strategy=strategy)


def _siglip(config, model):
    """Pairwise sigmoid loss of SigLIP (Zhai et al., 2023, eq. 1):
    -(1/B) sum_ij log sigmoid(s_ij (exp(t) <zimg_i, ztxt_j> + b)); all_gather | ring | kernel."""
    _needs(model, "siglip", "siglip")
    if config.get("impl", "xla") == "kernel":
        return lambda p, e, rng, ax: kernels.sigmoid_loss(
            e["image"], e["text"], jnp.exp(p["logit_scale"]), p["logit_bias"], axis_name=ax)
    strategy = _strategy(config, "siglip", losses.SIGLIP_STRATEGIES)
    return lambda p, e, rng, ax: losses.siglip_loss(
        e["image"], e["text"], jnp.exp(p["logit_scale"]), p["logit_bias"], axis_name=ax,
        strategy=strategy)


def _cloob(config, model):
    """InfoLOOB on Hopfield-retrieved embeddings (Fürst et al., 2022); ``inv_tau`` <= 0 learns
    the inverse temperature as the logit scale."""
    _strategy(config, "cloob", ("all_gather",))
    inv_tau, beta = float(config.get("inv_tau", 0.0)), float(config.get("hopfield_beta", 14.3))

    def head(p, e, rng, ax):
        tau = jnp.exp(p["logit_scale"]) if inv_tau <= 0 else inv_tau
        return losses.cloob_loss(e["image"], e["text"], tau, hopfield_beta=beta, axis_name=ax)

    return head


def _cwcl(config, model):
    """Continuously weighted contrastive loss (Srinivasa et al., 2023): CLIP's one-hot targets
    replaced by w_ij = (1 + <zref_i, zref_j>) / 2 of the ``cwcl_reference`` tower (no gradient)."""
    _strategy(config, "cwcl", ("all_gather",))
    reference = config.get("cwcl_reference", "text")
    if reference not in ("image", "text"):
        raise ValueError(f"loss.cwcl_reference must be 'image' or 'text', got {reference!r}")
    return lambda p, e, rng, ax: losses.cwcl_loss(
        e["image"], e["text"], jnp.exp(p["logit_scale"]), e[reference], axis_name=ax)


def _counting(config, model):
    """L_count of Paiss et al. (2023, eq. 2): each image against its caption and the caption
    with a wrong number, -log(e^{l_i} / (e^{l_i} + e^{l_i^cf})); with a ``count_mask`` (captions
    without a number) over the masked rows only (``jclip.train.counting``)."""
    def head(p, e, rng, ax):
        if "count_mask" not in e:
            return losses.counting_loss(e["image"], e["text"], e["text_cf"],
                                        jnp.exp(p["logit_scale"]), axis_name=ax)
        loss, rows = counting.masked_counting_loss(e["image"], e["text"], e["text_cf"],
                                                   jnp.exp(p["logit_scale"]), e["count_mask"],
                                                   axis_name=ax)
        return loss, {"counting_rows": rows}

    return head


# name -> factory(loss_config, model) -> head(params, embeddings, rng, axis_name) -> loss.
LOSSES: dict[str, Callable] = {"clip": _clip, "siglip": _siglip, "cloob": _cloob, "cwcl": _cwcl}
# Additive terms: name -> (weight key in the loss config, factory, embeddings they need).
TERMS: dict[str, tuple[str, Callable, tuple[str, ...]]] = {
    "counting": ("counting_weight", _counting, ("text_cf",)),
}


def make_objective(loss_config, model, locked=(), mesh=None) -> Objective:
    """The ``Objective`` of ``loss_config.name`` (+ weighted ``TERMS``) for ``model``.

    ``loss.impl`` = "xla" (jclip.losses, ``loss.strategy`` as they define it) or "kernel"
    (jclip.kernels, memory-flat, its ppermute ring across devices; clip and siglip only).
    With ``mesh`` the head runs under shard_map over the mesh's (data, fsdp) axes.
    Raises ValueError naming the fix when the loss does not fit the config or the model.
    """
    name = loss_config.name
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; expected one of {tuple(LOSSES)}")
    impl = loss_config.get("impl", "xla")
    if impl not in ("xla", "kernel"):
        raise ValueError(f"loss.impl must be 'xla' or 'kernel', got {impl!r}")
    if impl == "kernel" and name not in ("clip", "siglip"):
        raise ValueError(f"loss.impl='kernel' exists for clip and siglip, not {name!r}; "
                         f"set loss.impl='xla'")
    locked = (locked,) if isinstance(locked, str) else tuple(x for x in locked if x)
    main = LOSSES[name](loss_config, model)
    terms = [(t, float(loss_config.get(key, 0.0)), factory(loss_config, model))
             for t, (key, factory, _) in TERMS.items() if float(loss_config.get(key, 0.0)) > 0]

    def head(params, emb, rng, axis_name):
        loss = main(params, emb, rng, axis_name)
        aux = {"contrastive_loss": loss}
        for i, (term, weight, fn) in enumerate(terms):
            value = fn(params, emb, jax.random.fold_in(rng, i + 1), axis_name)
            if isinstance(value, tuple):  # (value, extra metrics of the term)
                value, extra = value
                aux.update(extra)
            aux[f"{term}_loss"] = value
            loss = loss + weight * value
        return loss, aux

    if isinstance(main, Objective):  # an entry with its own encoder (tecoa, fare: PGD inside)
        if terms:
            raise ValueError(f"loss.name={name!r} takes no additive terms, got "
                             f"{[t for t, _, _ in terms]}")
        return Objective(_locked_encoder(main.encode, locked), main.head, mesh)
    counterfactual = any(t == "counting" for t, _, _ in terms)
    return Objective(_encoder(model, locked, counterfactual), head, mesh)


def _locked_encoder(encode, locked):
    """``encode`` with the subtrees named in ``locked`` behind a stop_gradient."""
    return lambda params, batch, rng: encode(
        {k: jax.lax.stop_gradient(v) if k in locked else v for k, v in params.items()}, batch, rng)


# Adversarial fine-tunes (TeCoA, Mao et al. 2023; FARE, Schlarmann et al. 2024) and NumCLIP's
# coarse stage (Du et al., 2024): entries that are Objectives with their own encoders.
LOSSES.update(tecoa=objectives_adversarial.FACTORIES["tecoa"],
              fare=objectives_adversarial.FACTORIES["fare"],
              numclip=objectives_ordinal.numclip_objective)
