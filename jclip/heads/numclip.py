"""NumCLIP: coarse bins named in language, then a fine regression stage (Du et al., 2024).

Du et al., 2024 (ECCV), "Teach CLIP to Develop a Number Sense for Ordinal Regression", with its
reference code (xmed-lab/NumCLIP, ``regclip_ssr.py`` / ``runner_ssr.py``):

- coarse stage: the target value y_i falls in one of d ordered bins [e_j, e_{j+1}) named in
  language ("small", "medium", "large"); learnable-context prompts of the bin names give the
  logits l_ij = exp(t) cos(f_i, g_j) with image features f = normalise(0.8 A(x) + 0.2 x),
  A(x) = ReLU(W_2 ReLU(W_1 x)) a residual adapter (W_1: D -> D/4, no biases);
- fine-grained cross-modal ranking (FCRC) reweights the logits by
      w_ij = (d - 1) |c_i - j| / sum_j' |c_i - j'|,   w_{i c_i} = 1     (c_i the bin of y_i)
  in the image->text cross-entropy CE(w * l, c) and, with the weights of each bin row
  w_ri = (d - 1) |r - c_i| / sum_i' |r - c_i'| over the batch (1 where c_i = r, 1 on rows of bins
  absent from the batch), in OrdinalCLIP's text->image KL (``ordinalclip.rank_kl``);
- fine stage (SSR-Net style): y_hat = sum_k p_k b_k / (1 + Delta_k), p = softmax(l),
  Delta = tanh(MLP(l)), MLP: Linear(d, 2d), ReLU, Linear(2d, d); b_k the bin values;
- L = CE + KL + L1(y_hat, y), weights 1:1:1.

The reference code uses the bins' lower edges as b_k (ages from 0); since 1 / (1 + Delta) lies in
(1/2, inf), a bin value can only be scaled, so ``bin_values`` defaults to the bin centres and the
values being regressed should be positive (the ordinal study uses ranks 1..R).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jclip.heads import ordinalclip, prompt_learning
from jclip.ops import l2_normalize

ADAPTER_RATIO = 0.8  # f = 0.8 A(x) + 0.2 x, as the reference


def check_edges(edges) -> np.ndarray:
    """Bin edges e_0 < e_1 < ... < e_d (d >= 2 bins), else a ValueError naming the problem."""
    e = np.asarray(edges, np.float64)
    if e.ndim != 1 or e.size < 3:
        raise ValueError(f"bin edges must be a 1-D list of at least 3 numbers (2 bins), got "
                         f"{np.asarray(edges).tolist()}")
    if not np.all(np.isfinite(e)):
        raise ValueError(f"bin edges must be finite, got {e.tolist()}")
    if not np.all(np.diff(e) > 0):
        raise ValueError(f"bin edges must increase strictly (monotone), got {e.tolist()}")
    return e


def bin_index(values, edges) -> np.ndarray:
    """Bin of each value: j with e_j <= v < e_{j+1} (the last bin includes e_d)."""
    e = check_edges(edges)
    v = np.asarray(values, np.float64)
    outside = (v < e[0]) | (v > e[-1]) | ~np.isfinite(v)
    if np.any(outside):
        raise ValueError(f"values {np.unique(v[outside])[:10].tolist()} lie outside the bins "
                         f"[{e[0]}, {e[-1]}]")
    return np.clip(np.searchsorted(e, v, side="right") - 1, 0, e.size - 2).astype(np.int32)


def bin_values(edges, kind: str = "center") -> np.ndarray:
    """b_k of the fine stage: the bin centres, or the lower edges as in the reference code."""
    e = check_edges(edges)
    if kind == "center":
        return ((e[:-1] + e[1:]) / 2).astype(np.float32)
    if kind == "lower":
        return e[:-1].astype(np.float32)
    raise ValueError(f"bin value kind must be 'center' or 'lower', got {kind!r}")


def fcrc_ce_weights(bins, num_bins: int):
    """w [B, d] of the FCRC cross-entropy (module docstring)."""
    dist = jnp.abs(bins[:, None] - jnp.arange(num_bins)[None]).astype(jnp.float32)
    w = (num_bins - 1) * dist / jnp.sum(dist, 1, keepdims=True)
    return jnp.where(dist == 0, 1.0, w)


def fcrc_kl_weights(bins, num_bins: int):
    """w [d, B] of the FCRC text->image KL (module docstring)."""
    dist = jnp.abs(jnp.arange(num_bins)[:, None] - bins[None]).astype(jnp.float32)
    denom = jnp.sum(dist, 1, keepdims=True)
    w = (num_bins - 1) * dist / jnp.where(denom > 0, denom, 1.0)
    present = jnp.any(dist == 0, 1, keepdims=True)
    return jnp.where(dist == 0, 1.0, jnp.where(present, w, 1.0))


def coarse_loss(logits, bins, num_bins: int):
    """(CE of the FCRC-weighted logits, the FCRC-weighted text->image KL)."""
    ce = ordinalclip.cross_entropy(logits * fcrc_ce_weights(bins, num_bins), bins)
    kl = ordinalclip.rank_kl(logits, bins, num_bins, fcrc_kl_weights(bins, num_bins))
    return ce, kl


def regress(regressor, logits, values):
    """Fine stage: y_hat = sum_k softmax(l)_k b_k / (1 + tanh(MLP(l))_k): [N, d] -> [N]."""
    h = jax.nn.relu(logits @ regressor["w1"] + regressor["b1"])
    delta = jnp.tanh(h @ regressor["w2"] + regressor["b2"])
    return jnp.sum(jax.nn.softmax(logits, -1) * jnp.asarray(values) / (1.0 + delta), -1)


def adapt(adapter, features, ratio: float = ADAPTER_RATIO):
    """normalise(ratio * ReLU(ReLU(f W_1) W_2) + (1 - ratio) f); ratio 0 leaves f as it is."""
    if adapter is None or ratio == 0:
        return l2_normalize(features)
    y = jax.nn.relu(jax.nn.relu(features @ adapter["w1"]) @ adapter["w2"])
    return l2_normalize(ratio * y + (1 - ratio) * features)


def init(clip_params, prompts, embed_dim: int, key, adapter: bool = True):
    """{"context", "regressor", "adapter"}: regressor N(0, 0.001) with zero biases (reference);
    adapter as torch's default Linear init, U(+-1/sqrt(fan_in))."""
    d = len(prompts.names)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    head = {"context": prompt_learning.init_context(clip_params, prompts),
            "regressor": {"w1": 0.001 * jax.random.normal(k1, (d, 2 * d)),
                          "b1": jnp.zeros(2 * d),
                          "w2": 0.001 * jax.random.normal(k2, (2 * d, d)),
                          "b2": jnp.zeros(d)}}
    if adapter:
        hidden = max(1, embed_dim // 4)
        u = lambda k, shape: jax.random.uniform(k, shape, minval=-1, maxval=1) / np.sqrt(shape[0])
        head["adapter"] = {"w1": u(k3, (embed_dim, hidden)), "w2": u(k4, (hidden, embed_dim))}
    return head


def forward(model, clip_params, prompts, head, image_features, values,
            ratio: float = ADAPTER_RATIO):
    """(coarse logits [N, d], fine predictions [N]) of unit image features."""
    g = prompt_learning.text_features(model, clip_params, prompts, head["context"])
    f = adapt(head.get("adapter"), jnp.asarray(image_features, jnp.float32), ratio)
    logits = jnp.exp(clip_params["logit_scale"]) * f @ g.T
    return logits, regress(head["regressor"], logits, values)


def loss(logits, predictions, bins, targets, num_bins: int, weights=(1.0, 1.0, 1.0)):
    """L = a CE + b KL + c L1 (default 1:1:1) -> (L, {"ce", "kl", "l1"})."""
    ce, kl = coarse_loss(logits, bins, num_bins)
    l1 = jnp.mean(jnp.abs(predictions - targets))
    return weights[0] * ce + weights[1] * kl + weights[2] * l1, {"ce": ce, "kl": kl, "l1": l1}


def fit(model, clip_params, prompts, image_features, targets, edges, *, steps: int = 300,
        lr: float = 1e-2, batch_size: int = 64, seed: int = 0, values: str = "center",
        ratio: float = ADAPTER_RATIO):
    """Trains context, adapter and regressor with Adam on frozen unit image features.

    Args:
      prompts: a ``PromptSet`` of the d bin names.
      targets: [N] values to regress (float); their bins follow from ``edges``.
      edges: d + 1 increasing bin edges.
    Returns:
      (head params, b_k values [d], the loss per step).
    """
    bins = bin_index(targets, edges)
    b = jnp.asarray(bin_values(edges, values))
    if len(prompts.names) != b.shape[0]:
        raise ValueError(f"{len(prompts.names)} bin names for {b.shape[0]} bins (edges "
                         f"{np.asarray(edges).tolist()})")
    feats = jnp.asarray(image_features, jnp.float32)
    head = init(clip_params, prompts, feats.shape[1], jax.random.key(seed), ratio > 0)
    y = jnp.asarray(targets, jnp.float32)
    bins = jnp.asarray(bins)
    opt = optax.adam(lr)
    d = int(b.shape[0])

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(head, state, rows, clip_params, feats):
        def objective(h):
            lg, pred = forward(model, clip_params, prompts, h, feats[rows], b, ratio)
            return loss(lg, pred, bins[rows], y[rows], d)[0]

        value, grad = jax.value_and_grad(objective)(head)
        updates, state = opt.update(grad, state, head)
        return optax.apply_updates(head, updates), state, value

    state, history = opt.init(head), []
    rng = np.random.default_rng(seed)
    for _ in range(int(steps)):
        rows = jnp.asarray(rng.choice(len(y), min(batch_size, len(y)), replace=False))
        head, state, value = step(head, state, rows, clip_params, feats)
        history.append(float(value))
    return head, b, history
