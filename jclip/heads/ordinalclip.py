"""OrdinalCLIP: rank prompts interpolated from a few base rank embeddings (Li et al., 2022).

Li, Huang et al., 2022 (NeurIPS), "OrdinalCLIP: Learning Rank Prompts for Language-Guided
Ordinal Regression", with its reference code (xk-huang/OrdinalCLIP, ``RankPromptLearner``):

- R rank embeddings from K learnable base rank embeddings B [K, W] placed at
  b_k = linspace(0, R - 1, K) (K = 1: the middle rank), linear interpolation
      w_rk = 1 - |r - b_k| / (R - 1),  w_rk <- w_rk / sum_k w_rk,   E_r = sum_k w_rk B_k;
- the prompt of rank r is [SOS] v_1 .. v_M E_r [EOS] (learnable shared context, CoOp);
- logits l_ir = exp(t) cos(f_i, g_r) over the R rank prompts; the loss is
      L = CE(l_i., y_i) + KL_text->image,
  the KL, for every rank r present in the batch, between the target q_r. = softmax_i(10 [y_i = r])
  over the batch images and softmax_i(l_ir), summed and divided by the number of ranks present;
- predictions: argmax_r p_ir, or the expectation sum_r p_ir r (p = softmax(l)).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jclip.heads import prompt_learning


def check_ranks(num_ranks, num_base_ranks=None) -> None:
    """Raises ValueError for fewer than 2 ranks or base ranks outside [1, R]."""
    if not isinstance(num_ranks, (int, np.integer)) or num_ranks < 2:
        raise ValueError(f"an ordinal task needs at least 2 ranks, got num_ranks={num_ranks!r}")
    if num_base_ranks is not None and (not isinstance(num_base_ranks, (int, np.integer))
                                       or not 1 <= num_base_ranks <= num_ranks):
        raise ValueError(f"num_base_ranks must be an int in [1, num_ranks={num_ranks}], got "
                         f"{num_base_ranks!r}")


def check_labels(labels, num_ranks: int) -> np.ndarray:
    """Concrete int labels in [0, num_ranks), else a ValueError naming the bad values."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"rank labels must be a 1-D int array, got dtype {labels.dtype} "
                         f"shape {labels.shape}")
    bad = labels[(labels < 0) | (labels >= num_ranks)]
    if bad.size:
        raise ValueError(f"rank labels must lie in [0, {num_ranks}) (the ranks), got "
                         f"{np.unique(bad)[:10].tolist()}")
    return labels.astype(np.int32)


def interpolation_weights(num_ranks: int, num_base_ranks: int) -> np.ndarray:
    """Row-normalised linear interpolation weights w [R, K] (see the module docstring)."""
    check_ranks(num_ranks, num_base_ranks)
    r = np.arange(num_ranks, dtype=np.float64)[:, None]
    if num_base_ranks == 1:
        base = np.linspace(0, num_ranks - 1, 3)[1:2]
    else:
        base = np.linspace(0, num_ranks - 1, num_base_ranks)
    w = 1.0 - np.abs(r - base[None]) / (num_ranks - 1)
    return (w / w.sum(-1, keepdims=True)).astype(np.float32)


def rank_kl(logits, labels, num_ranks: int, weights=None):
    """The text->image KL of OrdinalCLIP: see the module docstring.

    Args:
      logits: [B, R] image-to-rank logits; labels: [B] int ranks.
      weights: optional [R, B] factors applied to the transposed logits (NumCLIP's FCRC).
    Returns:
      Scalar: sum_r [r present] KL(q_r || softmax(w_r. l_.r)) / #ranks present.
    """
    onehot = jax.nn.one_hot(labels, num_ranks).T  # [R, B]
    present = onehot.sum(-1) > 0
    target = jnp.where(present[:, None], jax.nn.softmax(10.0 * onehot, -1), 0.0)
    lt = logits.T if weights is None else logits.T * weights
    log_p = jax.nn.log_softmax(lt, -1)
    kl = jnp.sum(jnp.where(target > 0, target * (jnp.log(jnp.where(target > 0, target, 1.0))
                                                 - log_p), 0.0))
    return kl / jnp.maximum(jnp.sum(present), 1)


def cross_entropy(logits, labels):
    """mean_i -log softmax(l_i.)[y_i]."""
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1))


def loss(logits, labels, num_ranks: int):
    """L = CE + KL (weights 1:1, as the reference config)."""
    return cross_entropy(logits, labels) + rank_kl(logits, labels, num_ranks)


def predict(logits):
    """[N, R] logits -> (argmax ranks [N] int, expected ranks sum_r p_r r [N] float)."""
    logits = jnp.asarray(logits, jnp.float32)
    p = jax.nn.softmax(logits, -1)
    return jnp.argmax(logits, -1), p @ jnp.arange(logits.shape[-1], dtype=jnp.float32)


def init(clip_params, prompts, num_base_ranks: int, key, base_init=None):
    """Head params {"context": [M, W], "base_ranks": [K, W]}.

    The context starts at the context words' embeddings (CoOp); the base ranks at the token
    embeddings of ``base_init`` ids [K] (e.g. the words "small", "large") or N(0, 0.02).
    """
    ctx = prompt_learning.init_context(clip_params, prompts)
    if base_init is not None:
        from jclip.models.text import token_embeddings

        base = token_embeddings(clip_params, jnp.asarray(base_init)[None])[0]
        if base.shape[0] != num_base_ranks:
            raise ValueError(f"base_init has {base.shape[0]} ids, num_base_ranks is "
                             f"{num_base_ranks}")
    else:
        base = 0.02 * jax.random.normal(key, (num_base_ranks, ctx.shape[-1]))
    return {"context": ctx, "base_ranks": base}


def rank_features(model, clip_params, prompts, head, weights):
    """Unit text features [R, D] of the R rank prompts (E = weights @ base_ranks in the slot)."""
    return prompt_learning.text_features(model, clip_params, prompts, head["context"],
                                         jnp.asarray(weights) @ head["base_ranks"])


def logits_of(model, clip_params, prompts, head, weights, image_features):
    """exp(t) f @ g^T: [N, R] logits of unit image features against the rank prompts."""
    g = rank_features(model, clip_params, prompts, head, weights)
    return jnp.exp(clip_params["logit_scale"]) * jnp.asarray(image_features) @ g.T


def fit(model, clip_params, prompts, image_features, labels, *, num_base_ranks: int,
        steps: int = 300, lr: float = 1e-2, batch_size: int = 64, seed: int = 0,
        base_init=None):
    """Trains the context and base ranks with Adam on frozen unit image features.

    Returns:
      (head params, the [R, K] interpolation weights, the loss per step).
    """
    num_ranks = len(prompts.names)
    labels = check_labels(labels, num_ranks)
    weights = jnp.asarray(interpolation_weights(num_ranks, num_base_ranks))
    head = init(clip_params, prompts, num_base_ranks, jax.random.key(seed), base_init)
    opt = optax.adam(lr)
    feats = jnp.asarray(image_features, jnp.float32)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(head, state, rows, clip_params, feats):
        def objective(h):
            lg = logits_of(model, clip_params, prompts, h, weights, feats[rows])
            return loss(lg, jnp.asarray(labels)[rows], num_ranks)

        value, grad = jax.value_and_grad(objective)(head)
        updates, state = opt.update(grad, state, head)
        return optax.apply_updates(head, updates), state, value

    state, history = opt.init(head), []
    rng = np.random.default_rng(seed)
    for _ in range(int(steps)):
        rows = jnp.asarray(rng.choice(len(labels), min(batch_size, len(labels)), replace=False))
        head, state, value = step(head, state, rows, clip_params, feats)
        history.append(float(value))
    return head, weights, history
