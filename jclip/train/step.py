"""The loss chosen by the config and the jitted, donated train step.

Batch layout (global arrays sharded over the mesh's data and fsdp axes):
  "image": float32 [B, H, W, 3] normalised pixels; "tokens": int32 [B, L];
  "tokens_counterfactual": int32 [B, L] (only with the counting loss).
The loss sees the whole global batch: under ``jax.jit`` with ``NamedSharding`` XLA partitions the
similarity matrix and inserts the collectives, so the value and gradient are those of the global
batch on any mesh.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jclip.ops import l2_normalize
from jclip.train import sharding as sharding_lib

_l2 = lambda z: l2_normalize(z, eps=1e-12)

# CLIP clamps the learnable logit scale so that exp(logit_scale) <= 100 (Radford et al., 2021).
MAX_LOG_SCALE = math.log(100.0)
LOSSES = ("clip", "siglip", "cloob", "cwcl")


def make_loss_fn(loss_config: ml_collections.ConfigDict, model, locked=()):
    """Returns ``loss_fn(params, batch) -> (loss, aux_metrics)`` for ``loss_config.name``.

    clip: InfoNCE (Radford et al., 2021); siglip: pairwise sigmoid (Zhai et al., 2023); cloob:
    InfoLOOB with Hopfield retrieval (Fürst et al., 2022); cwcl: continuously weighted contrastive
    loss (Srinivasa et al., 2023) with weights from the ``cwcl_reference`` tower's embeddings.
    ``counting_weight`` > 0 adds lambda * L_count of Paiss et al. (2023) on counterfactual captions.
    ``impl="kernel"`` computes clip / siglip with the memory-flat ``jclip.kernels``.
    Subtrees named in ``locked`` (LiT) get no gradient.
    """
    from jclip import losses

    name = loss_config.name
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; expected one of {LOSSES}")
    impl = loss_config.get("impl", "xla")
    if impl not in ("xla", "kernel"):
        raise ValueError(f"loss.impl must be 'xla' or 'kernel', got {impl!r}")
    if impl == "kernel" and name not in ("clip", "siglip"):
        raise ValueError(f"loss.impl='kernel' exists for clip and siglip, not {name!r}")
    locked = (locked,) if isinstance(locked, str) else tuple(x for x in locked if x)
    counting_weight = float(loss_config.get("counting_weight", 0.0))

    def encode(params, images, tokens):
        variables = {"params": params}
        zimg = model.apply(variables, images, method="encode_image")
        ztxt = model.apply(variables, tokens, method="encode_text")
        return _l2(zimg), _l2(ztxt)

    def contrastive(params, zimg, ztxt):
        scale = jnp.exp(params["logit_scale"])
        if name == "clip":
            if impl == "kernel":
                from jclip import kernels

                return kernels.contrastive_loss(zimg, ztxt, scale)
            return losses.clip_loss(
                zimg, ztxt, scale, label_smoothing=float(loss_config.get("label_smoothing", 0.0))
            )
        if name == "siglip":
            if "logit_bias" not in params:
                raise ValueError("The siglip loss needs a model with a logit_bias (kind='siglip')")
            if impl == "kernel":
                from jclip import kernels

                return kernels.sigmoid_loss(zimg, ztxt, scale, params["logit_bias"])
            return losses.siglip_loss(zimg, ztxt, scale, params["logit_bias"])
        if name == "cloob":
            inv_tau = float(loss_config.get("inv_tau", 0.0))
            inv_tau = scale if inv_tau <= 0 else inv_tau  # <= 0: learn it as the logit scale
            return losses.cloob_loss(
                zimg, ztxt, inv_tau, hopfield_beta=float(loss_config.get("hopfield_beta", 14.3))
            )
        reference = loss_config.get("cwcl_reference", "text")
        zref = jax.lax.stop_gradient({"image": zimg, "text": ztxt}[reference])
        return losses.cwcl_loss(zimg, ztxt, scale, zref)

    def loss_fn(params, batch):
        params = {k: jax.lax.stop_gradient(v) if k in locked else v for k, v in params.items()}
        zimg, ztxt = encode(params, batch["image"], batch["tokens"])
        loss = contrastive(params, zimg, ztxt)
        aux = {"contrastive_loss": loss}
        if counting_weight > 0:
            if "tokens_counterfactual" not in batch:
                raise ValueError("counting_weight > 0 needs counterfactual captions in the batch")
            ztxt_cf = _l2(model.apply(
                {"params": params}, batch["tokens_counterfactual"], method="encode_text"))
            count = losses.counting_loss(zimg, ztxt, ztxt_cf, jnp.exp(params["logit_scale"]))
            aux["counting_loss"] = count
            loss = loss + counting_weight * count
        return loss, aux

    return loss_fn


def _microbatches(batch, num, mesh):
    """[B, ...] -> [num, B/num, ...], microbatch j = rows j, j+num, ... so each device keeps its
    own rows (no resharding)."""

    def split(x):
        if x.shape[0] % num:
            raise ValueError(f"Batch size {x.shape[0]} not divisible by accum_steps={num}")
        x = x.reshape(x.shape[0] // num, num, *x.shape[1:]).swapaxes(0, 1)
        if mesh is not None:
            spec = jax.sharding.PartitionSpec(None, sharding_lib.BATCH_AXES)
            x = jax.lax.with_sharding_constraint(x, jax.sharding.NamedSharding(mesh, spec))
        return x

    return jax.tree.map(split, batch)


def make_train_step(loss_fn, optimizer, schedule, *, accum_steps: int = 1, mesh=None,
                    nan_at_step: int = -1):
    """Returns ``train_step(state, batch) -> (state, metrics)`` (not yet jitted).

    With ``accum_steps`` > 1 the batch is split into that many microbatches whose gradients
    are averaged (contrastive negatives then come from one microbatch). After the update the logit
    scale is clamped at log(100). ``nan_at_step`` >= 1 poisons the loss and gradients of that
    step (1-based, the step number the loop logs): fault injection for the non-finite abort.
    """
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_step(state, batch):
        params = state["params"]
        if accum_steps == 1:
            (loss, aux), grads = grad_fn(params, batch)
        else:
            def body(carry, micro):
                (loss, aux), grads = grad_fn(params, micro)
                return jax.tree.map(jnp.add, carry, (loss, aux, grads)), None

            zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(grad_fn, params, jax.tree.map(
                lambda x: x[0], _microbatches(batch, accum_steps, None))))
            (loss, aux), grads = zeros
            (loss, aux, grads), _ = jax.lax.scan(
                body, (loss, aux, grads), _microbatches(batch, accum_steps, mesh))
            loss, aux, grads = jax.tree.map(lambda x: x / accum_steps, (loss, aux, grads))
        if nan_at_step >= 0:
            poison = jnp.where(state["step"] + 1 == nan_at_step, jnp.nan, 1.0)
            loss = loss * poison
            grads = jax.tree.map(lambda g: g * poison, grads)
        updates, opt_state = optimizer.update(grads, state["opt_state"], params)
        params = optax.apply_updates(params, updates)
        if "logit_scale" in params:
            params = {**params, "logit_scale": jnp.minimum(params["logit_scale"], MAX_LOG_SCALE)}
        rng, _ = jax.random.split(state["rng"])
        metrics = {
            "loss": loss,
            "learning_rate": schedule(state["step"]),
            "grad_norm": optax.tree.norm(grads),
            **aux,
        }
        if "logit_scale" in params:
            metrics["logit_scale"] = jnp.exp(params["logit_scale"])
        new_state = {"step": state["step"] + 1, "params": params, "opt_state": opt_state,
                     "rng": rng}
        return new_state, metrics

    return train_step


def jit_train_step(train_step, state_shardings, mesh):
    """jit with the state's shardings in and out, the batch over (data, fsdp), state donated."""
    replicated = sharding_lib.replicated(mesh)
    return jax.jit(
        train_step,
        in_shardings=(state_shardings, sharding_lib.batch_sharding(mesh)),
        out_shardings=(state_shardings, replicated),
        donate_argnums=(0,),
    )

