"""The train step: the loss of the global batch, gradient caching, the update; jitted, donated.

Batch layout (global arrays sharded over the mesh's data and fsdp axes):
  "image": float32 [B, H, W, 3] normalised pixels; "tokens": int32 [B, L];
  "tokens_counterfactual": int32 [B, L] (only with the counting loss).

Distribution. The encoders run under ``jax.jit`` with ``NamedSharding`` (params over fsdp, rows
over data x fsdp); the loss of the embeddings runs under ``jax.shard_map`` over (data, fsdp)
with the losses' ``axis_name`` (jclip.train.objectives), so the value and the gradients are
exactly those of one device holding the global batch.

Accumulation (``accum_steps`` = K > 1) keeps the negatives of the whole batch (gradient caching,
Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup";
OpenCLIP's ``--accum-freq``). With z = f_theta(x) the embeddings of the B rows and L(z) the
batch loss, dL/dtheta = sum_k (dz_k/dtheta)^T dL/dz_k over the K microbatches, so:

  1. z_k = f_theta(x_k) for every microbatch, without gradient (no activations kept);
  2. L(z) and g = dL/dz on the whole batch (embeddings only: [B, D] memory);
  3. for each microbatch, recompute z_k and back-propagate g_k: grads += vjp(f_theta, x_k)(g_k).

The loss and gradients are those of the full batch; activation memory is that of one
microbatch, at the cost of one more forward pass of the towers.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import optax

from jclip.train import sharding as sharding_lib
from jclip.train.objectives import LOSSES, MAX_LOG_SCALE, TERMS, Objective, make_objective

__all__ = ["LOSSES", "MAX_LOG_SCALE", "TERMS", "Objective", "jit_train_step", "make_loss_fn",
           "make_objective", "make_train_step"]


def make_loss_fn(loss_config, model, locked=(), mesh=None):
    """Returns ``loss_fn(params, batch, rng) -> (loss, aux)`` of ``make_objective``."""
    return make_objective(loss_config, model, locked=locked, mesh=mesh).loss_fn


def _with_rng(loss_fn):
    """A plain ``loss_fn(params, batch)`` or ``loss_fn(params, batch, rng)`` as the latter."""
    try:
        n = len(inspect.signature(loss_fn).parameters)
    except (TypeError, ValueError):
        n = 3
    return loss_fn if n >= 3 else (lambda params, batch, rng: loss_fn(params, batch))


def _microbatches(batch, num, mesh):
    """[B, ...] -> [num, B/num, ...], microbatch j = rows j, j+num, ... so each device keeps its
    own rows (no resharding)."""

    def split(x):
        devices = 1 if mesh is None else mesh.size
        if x.shape[0] % (num * devices):
            raise ValueError(
                f"Batch size {x.shape[0]} is not divisible by accum_steps={num} x {devices} "
                f"devices: every device needs the same number of rows in each microbatch")
        x = x.reshape(x.shape[0] // num, num, *x.shape[1:]).swapaxes(0, 1)
        if mesh is not None:
            spec = jax.sharding.PartitionSpec(None, sharding_lib.BATCH_AXES)
            x = jax.lax.with_sharding_constraint(x, jax.sharding.NamedSharding(mesh, spec))
        return x

    return jax.tree.map(split, batch)


def _merge(x, mesh):
    """Inverse of ``_microbatches``: [num, B/num, ...] -> [B, ...] in the batch's row order."""
    x = x.swapaxes(0, 1).reshape(-1, *x.shape[2:])
    if mesh is not None:
        x = jax.lax.with_sharding_constraint(x, sharding_lib.batch_sharding(mesh))
    return x


def cached_value_and_grad(objective: Objective, params, batch, rng, accum_steps: int, mesh=None):
    """((loss, aux), grads) of the whole batch, towers run one microbatch at a time (GradCache).

    Same result as ``jax.value_and_grad(objective.loss_fn, has_aux=True)(params, batch, rng)``
    up to float rounding; the three passes are those of the module docstring.
    """
    enc_rng, head_rng = jax.random.split(rng)
    micro = _microbatches(batch, accum_steps, mesh)
    keys = jax.random.split(enc_rng, accum_steps)

    def embed(_, xs):
        mb, key = xs
        return None, jax.lax.stop_gradient(objective.encode(params, mb, key))

    _, emb = jax.lax.scan(embed, None, (micro, keys))
    full = jax.tree.map(lambda z: _merge(z, mesh), emb)
    (loss, aux), (grads, g_emb) = jax.value_and_grad(
        objective.loss_of_embeddings, argnums=(0, 1), has_aux=True)(params, full, head_rng)
    g_micro = _microbatches(g_emb, accum_steps, mesh)

    def backprop(acc, xs):
        mb, key, g = xs
        _, vjp = jax.vjp(lambda p: objective.encode(p, mb, key), params)
        return jax.tree.map(jnp.add, acc, vjp(g)[0]), None

    grads, _ = jax.lax.scan(backprop, grads, (micro, keys, g_micro))
    return (loss, aux), grads


def _averaged_value_and_grad(loss_fn, params, batch, rng, accum_steps, mesh):
    """Mean of per-microbatch gradients: exact only for a mean of per-example terms (a plain
    ``loss_fn`` has no embeddings to cache, so its negatives would be per microbatch)."""
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    micro = _microbatches(batch, accum_steps, mesh)
    keys = jax.random.split(rng, accum_steps)

    def body(carry, xs):
        mb, key = xs
        return jax.tree.map(jnp.add, carry, grad_fn(params, mb, key)), None

    first = jax.eval_shape(grad_fn, params, jax.tree.map(lambda x: x[0], micro), keys[0])
    total, _ = jax.lax.scan(body, jax.tree.map(jnp.zeros_like, first), (micro, keys))
    return jax.tree.map(lambda x: x / accum_steps, total)


def make_train_step(loss, optimizer, schedule, *, accum_steps: int = 1, mesh=None,
                    nan_at_step: int = -1):
    """Returns ``train_step(state, batch) -> (state, metrics)`` (not yet jitted).

    ``loss`` is an ``Objective`` (``make_objective``) or a plain ``loss_fn(params, batch[, rng])
    -> (loss, aux)``. The step splits ``state["rng"]`` into the next state's key and this step's
    key (so a resumed run draws the same numbers) and passes the latter to the loss. With
    ``accum_steps`` > 1 an Objective gets gradient caching (whole-batch negatives, module
    docstring); a plain loss_fn gets the mean of microbatch gradients. After the update the
    logit scale is clamped at log(100). ``nan_at_step`` >= 1 poisons the loss and gradients of
    that step (1-based, the step number the loop logs): fault injection for the non-finite abort.
    """
    accum_steps = int(accum_steps)
    if accum_steps < 1:
        raise ValueError(f"optim.accum_steps must be >= 1, got {accum_steps}")
    objective = loss if isinstance(loss, Objective) else None
    loss_fn = objective.loss_fn if objective is not None else _with_rng(loss)
    if objective is not None and mesh is None:
        mesh = objective.mesh

    def train_step(state, batch):
        params = state["params"]
        rng, step_rng = jax.random.split(state["rng"])
        if accum_steps == 1:
            (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, step_rng)
        elif objective is not None:
            (loss, aux), grads = cached_value_and_grad(
                objective, params, batch, step_rng, accum_steps, mesh)
        else:
            (loss, aux), grads = _averaged_value_and_grad(
                loss_fn, params, batch, step_rng, accum_steps, mesh)
        if nan_at_step >= 0:
            poison = jnp.where(state["step"] + 1 == nan_at_step, jnp.nan, 1.0)
            loss = loss * poison
            grads = jax.tree.map(lambda g: g * poison, grads)
        updates, opt_state = optimizer.update(grads, state["opt_state"], params)
        params = optax.apply_updates(params, updates)
        if "logit_scale" in params:
            params = {**params, "logit_scale": jnp.minimum(params["logit_scale"], MAX_LOG_SCALE)}
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
