"""Prompt learning on a frozen text tower: learnable context vectors in place of token embeddings.

CoOp (Zhou et al., 2022, "Learning to Prompt for Vision-Language Models", IJCV): the prompt of
class c is [SOS] v_1 ... v_M [CLASS_c] [EOS], with the M context vectors v_m shared by the classes
(or one set per class) learned by gradient descent through the frozen text tower, the class tokens
kept as their word embeddings; the class text feature is the tower's output for that sequence.

Here a prompt set is tokenized from ``"{context} {name}"`` (the context words initialise the
vectors, as CoOp's "a photo of a" initialisation), and the tower reads the token embeddings with
the context positions replaced (``CLIPModel.encode_text(..., prompt_embeddings=...)``); the tokens
still give the pooled position. One extra learnable slot right after the context (``slot``) holds
OrdinalCLIP's rank embeddings when the names are single placeholder words.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jclip.models.clip import bucket_length
from jclip.models.text import token_embeddings
from jclip.ops import l2_normalize


@dataclasses.dataclass(frozen=True)
class PromptSet:
    """Tokens of C prompts and where the learnable vectors go.

    tokens: int32 [C, L] (cut to the length the tower needs, ``bucket_length``).
    start: position of the first context vector; num_context: M.
    slot: the position after the context (the first token of each name).
    names: the C names.
    """

    tokens: np.ndarray
    start: int
    num_context: int
    slot: int
    names: tuple[str, ...]


def build_prompts(tokenizer, names, config, context: str = "a photo of a") -> PromptSet:
    """Tokenizes ``"{context} {name}"`` for every name and locates the context positions.

    Args:
      tokenizer: list[str] -> int [N, L] ids (the model's tokenizer).
      names: C class / rank / bin names (C >= 1).
      config: the model's ``ModelConfig`` (for the cut length).
      context: the words that initialise the context vectors (M = their token count).
    Raises:
      ValueError when the context is empty, the names are empty, or the prompts do not start
      with the context's tokens (e.g. cut by the context length).
    """
    names = tuple(str(n) for n in names)
    if not names or not all(n.strip() for n in names):
        raise ValueError(f"prompt names must be non-empty strings, got {names!r}")
    if not context or not context.strip():
        raise ValueError("the prompt context must have at least one word, e.g. 'a photo of a'")
    row = np.asarray(tokenizer([context]))[0]
    full = np.asarray(tokenizer([f"{context} {n}" for n in names])).astype(np.int32)
    sot, eos = getattr(tokenizer, "sot_id", None), getattr(tokenizer, "eos_id", None)
    start = 1 if sot is not None and row[0] == sot else 0
    ends = np.flatnonzero(row == eos) if eos is not None else np.array([])
    m = (int(ends[0]) if len(ends) else int(np.sum(row != getattr(tokenizer, "pad_id", 0)))) \
        - start
    if m < 1:
        raise ValueError(f"could not locate the context {context!r} in the tokenized prompts")
    for line in full:
        if not np.array_equal(line[start:start + m], row[start:start + m]):
            raise ValueError(f"prompt rows do not all start with the context {context!r}")
    if start + m >= full.shape[1]:
        raise ValueError(f"the context {context!r} fills the context length {full.shape[1]}")
    tokens = full[:, : bucket_length(full, config)]
    return PromptSet(tokens, int(start), int(m), int(start + m), names)


def init_context(params, prompts: PromptSet, per_class: bool = False) -> jax.Array:
    """The context words' token embeddings: [M, W] (or [C, M, W] with ``per_class``)."""
    rows = token_embeddings(params, prompts.tokens[:1, prompts.start:prompts.start +
                                                   prompts.num_context])[0]
    if per_class:
        return jnp.broadcast_to(rows, (len(prompts.names), *rows.shape))
    return rows


def prompt_embeddings(params, prompts: PromptSet, context, slot=None) -> jax.Array:
    """Token embeddings of the prompts with the context (and the slot) replaced: [C, L, W].

    Args:
      context: [M, W] shared or [C, M, W] class-specific context vectors.
      slot: optional [C, W] vectors for the position after the context (OrdinalCLIP's ranks).
    """
    c, m = len(prompts.names), prompts.num_context
    emb = token_embeddings(params, prompts.tokens)
    context = jnp.asarray(context, emb.dtype)
    if context.shape[-2:] != (m, emb.shape[-1]) or context.ndim not in (2, 3):
        raise ValueError(f"context must be [M, W] or [C, M, W] with M={m}, W={emb.shape[-1]}, "
                         f"got shape {tuple(context.shape)}")
    context = jnp.broadcast_to(context, (c, m, emb.shape[-1]))
    emb = emb.at[:, prompts.start:prompts.start + m].set(context)
    if slot is not None:
        slot = jnp.asarray(slot, emb.dtype)
        if slot.shape != (c, emb.shape[-1]):
            raise ValueError(f"slot vectors must be [C, W] = {(c, emb.shape[-1])}, got "
                             f"{tuple(slot.shape)}")
        emb = emb.at[:, prompts.slot].set(slot)
    return emb


def text_features(model, params, prompts: PromptSet, context, slot=None) -> jax.Array:
    """Unit text features [C, D] of the learned prompts (differentiable in context and slot)."""
    emb = prompt_embeddings(params, prompts, context, slot)
    z = model.apply({"params": params}, jnp.asarray(prompts.tokens), method="encode_text",
                    prompt_embeddings=emb)
    return l2_normalize(z.astype(jnp.float32))


def coop_loss(model, params, prompts: PromptSet, context, image_features, labels) -> jax.Array:
    """CoOp's objective: mean cross-entropy of exp(t) cos(f_i, g_c) over the C prompts."""
    z = text_features(model, params, prompts, context)
    logits = jnp.exp(params["logit_scale"]) * image_features @ z.T
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1))


def fit_coop(model, params, prompts: PromptSet, image_features, labels, *, steps: int = 300,
             lr: float = 1e-2, batch_size: int = 64, seed: int = 0):
    """Trains the shared context of CoOp with Adam on frozen unit image features.

    Returns:
      (context [M, W], the loss per step).
    """
    import functools

    import optax

    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.min() < 0 or labels.max() >= len(prompts.names):
        raise ValueError(f"labels must be class ids in [0, {len(prompts.names)})")
    ctx = init_context(params, prompts)
    opt = optax.adam(lr)
    feats, y = jnp.asarray(image_features, jnp.float32), jnp.asarray(labels, jnp.int32)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(ctx, state, rows, clip_params, feats):
        value, grad = jax.value_and_grad(lambda c: coop_loss(
            model, clip_params, prompts, c, feats[rows], y[rows]))(ctx)
        updates, state = opt.update(grad, state, ctx)
        return optax.apply_updates(ctx, updates), state, value

    state, history = opt.init(ctx), []
    rng = np.random.default_rng(seed)
    for _ in range(int(steps)):
        rows = jnp.asarray(rng.choice(len(y), min(batch_size, len(y)), replace=False))
        ctx, state, value = step(ctx, state, rows, params, feats)
        history.append(float(value))
    return ctx, history
