"""Few-shot adaptation on frozen CLIP features: GDA (training-free) and the linear probe.

Both work on cached image features; all solves are jit-compiled JAX.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jclip.metrics.classification import accuracy
from jclip.ops import l2_normalize

_top1 = lambda logits, labels: float(accuracy(logits, labels))

GDA_ALPHAS = tuple(10.0**i for i in range(-4, 5))


def _features_and_labels(features, labels, name="features", num_classes=None):
    features = jnp.asarray(features, jnp.float32)
    labels = jnp.asarray(labels)
    if features.ndim != 2:
        raise ValueError(f"{name} must be [N, D], got shape {tuple(features.shape)}")
    if labels.shape != (features.shape[0],) or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"labels must be int [{features.shape[0]}], got {labels.dtype} "
                         f"{tuple(labels.shape)}")
    if features.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not bool(jnp.all(jnp.isfinite(features))):
        raise ValueError(f"{name} contain NaN or inf values")
    if num_classes is not None:
        lo, hi = int(jnp.min(labels)), int(jnp.max(labels))
        if lo < 0 or hi >= int(num_classes):
            raise ValueError(f"labels of {name} must lie in [0, {int(num_classes)}) (num_classes),"
                             f" got values in [{lo}, {hi}]")
    return features, labels.astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("num_classes",))
def _gda_solve(x, labels, num_classes):
    n, d = x.shape
    counts = jnp.bincount(labels, length=num_classes).astype(jnp.float32)
    means = jax.ops.segment_sum(x, labels, num_segments=num_classes) / counts[:, None]
    centered = x - means[labels]
    scatter = centered.T @ centered  # (N - 1) * cov; the centred rows have mean 0 exactly
    trace_cov = jnp.trace(scatter) / (n - 1)
    precision = d * jnp.linalg.pinv(scatter + trace_cov * jnp.eye(d), hermitian=True)
    weights = precision @ means.T  # [D, K]
    bias = jnp.log(1.0 / num_classes) - 0.5 * jnp.sum(means.T * weights, axis=0)
    return weights, bias


def gda_fit(features, labels, num_classes: int):
    """Linear classifier of Gaussian discriminant analysis with a shared, shrunk covariance.

    Wang et al., 2024 (ICLR), "A Hard-to-Beat Baseline for Training-free CLIP-based
    Adaptation": on L2-normalised features f, class means mu_k, centred rows c_i = f_i - mu_y_i,
    scatter S = sum_i c_i c_i^T and cov = S / (N - 1), the precision is the paper's shrinkage
    estimate P = D * pinv(S + tr(cov) I), and with uniform priors
      logit_k(f) = f^T P mu_k - mu_k^T P mu_k / 2 + log(1 / K).

    Args:
      features: [N, D] image features (normalised here).
      labels: [N] int in [0, K); every class needs at least one example.
      num_classes: K.
    Returns:
      (weights [D, K], bias [K]); logits = normalize(f) @ weights + bias.
    """
    x, labels = _features_and_labels(features, labels, num_classes=num_classes)
    counts = np.bincount(np.asarray(labels), minlength=num_classes)
    if counts.size != num_classes or np.any(counts == 0):
        raise ValueError(f"every class in [0, {num_classes}) needs a training example; "
                         f"classes without one: {np.flatnonzero(counts == 0)[:10]}")
    if x.shape[0] < 2:
        raise ValueError("GDA needs at least two training examples")
    return _gda_solve(l2_normalize(x), labels, int(num_classes))


@dataclasses.dataclass(frozen=True)
class GDAClassifier:
    """Zero-shot logits ensembled with GDA: scale * f @ W_zs + alpha * (f @ W + b), f normalised."""

    weights: jax.Array  # [D, K]
    bias: jax.Array  # [K]
    zeroshot: jax.Array | None  # [D, K] text classifier, or None for GDA alone
    alpha: float
    scale: float = 100.0

    def __call__(self, features):
        f = l2_normalize(jnp.asarray(features, jnp.float32))
        logits = self.alpha * (f @ self.weights + self.bias)
        if self.zeroshot is not None:
            logits = logits + self.scale * f @ self.zeroshot
        return logits


def gda(train_features, train_labels, zeroshot_classifier, val_features, val_labels, *,
        alphas=GDA_ALPHAS, scale: float = 100.0) -> GDAClassifier:
    """GDA ensembled with the zero-shot classifier, alpha picked on a validation split.

    As in the official code: alpha runs over 1e-4 ... 1e4 (powers of ten) and the first value
    with the best validation accuracy is kept (ties keep the smaller alpha).

    Args:
      train_features, train_labels: [N, D] features and [N] labels of the few-shot set.
      zeroshot_classifier: [D, K] from ``zeroshot.build_classifier`` (or None: GDA alone).
      val_features, val_labels: the validation split that picks alpha.
      alphas: candidate ensemble weights; scale: logit scale of the zero-shot part.
    Returns:
      A ``GDAClassifier`` (call it on features to get logits).
    """
    x, y = _features_and_labels(train_features, train_labels)
    xv, yv = _features_and_labels(val_features, val_labels, "val_features")
    num_classes = int(zeroshot_classifier.shape[1]) if zeroshot_classifier is not None else (
        int(max(int(jnp.max(y)), int(jnp.max(yv)))) + 1)
    _features_and_labels(xv, yv, "val_features", num_classes)  # labels < num_classes
    weights, bias = gda_fit(x, y, num_classes)
    zs = None if zeroshot_classifier is None else jnp.asarray(zeroshot_classifier, jnp.float32)
    best, best_alpha = -1.0, float(alphas[0])
    for alpha in alphas:
        acc = _top1(GDAClassifier(weights, bias, zs, float(alpha), scale)(xv), yv)
        if acc > best:
            best, best_alpha = acc, float(alpha)
    return GDAClassifier(weights, bias, zs, best_alpha, scale)


def _loss(params, x, onehot, l2):
    logits = x @ params["w"] + params["b"]
    ce = -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(logits), axis=1))
    return ce + 0.5 * l2 * jnp.sum(params["w"] ** 2)


@functools.partial(jax.jit, static_argnames=("num_classes", "max_iter"))
def _fit_one(x, labels, l2, num_classes, max_iter, tol):
    onehot = jax.nn.one_hot(labels, num_classes)
    fun = functools.partial(_loss, x=x, onehot=onehot, l2=l2)
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(fun)
    init = {"w": jnp.zeros((x.shape[1], num_classes)), "b": jnp.zeros(num_classes)}

    def step(carry):
        params, state = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fun)
        return optax.apply_updates(params, updates), state

    def keep_going(carry):
        _, state = carry
        count = optax.tree_utils.tree_get(state, "count")
        grad = optax.tree_utils.tree_get(state, "grad")
        return (count == 0) | ((count < max_iter) & (optax.tree_utils.tree_norm(grad) >= tol))

    params, _ = jax.lax.while_loop(keep_going, step, (init, opt.init(init)))
    return params["w"], params["b"]


def fit_logistic_regression(features, labels, num_classes: int, l2, *, max_iter: int = 500,
                            tol: float = 1e-6):
    """Multinomial logistic regression by L-BFGS (optax), vectorised over a grid of L2 strengths.

    Minimises mean_i CE(softmax(x_i W + b), y_i) + (l2 / 2) ||W||_F^2 (bias unpenalised). This
    is sklearn's ``LogisticRegression(C=1 / (l2 * N))`` objective divided by C * N.

    Args:
      features: [N, D]; labels: [N] int; num_classes: K.
      l2: a scalar or a [G] array of strengths; each is solved independently (vmap).
      max_iter, tol: L-BFGS iterations and gradient-norm tolerance.
    Returns:
      (weights, bias): [D, K] and [K], or [G, D, K] and [G, K] for a grid.
    """
    x, y = _features_and_labels(features, labels, num_classes=num_classes)
    l2 = jnp.asarray(l2, jnp.float32)
    fit = functools.partial(_fit_one, num_classes=int(num_classes), max_iter=int(max_iter))
    if l2.ndim == 0:
        return fit(x, y, l2, tol=tol)
    return jax.vmap(lambda lam: fit(x, y, lam, tol=tol))(l2)


@dataclasses.dataclass(frozen=True)
class LinearProbe:
    """A fitted probe: logits = features @ weights + bias."""

    weights: jax.Array  # [D, K]
    bias: jax.Array  # [K]
    l2: float
    val_accuracy: float

    def __call__(self, features):
        return jnp.asarray(features, jnp.float32) @ self.weights + self.bias


def linear_probe(train_features, train_labels, val_features, val_labels, *, num_classes=None,
                 l2_grid=None, refit: bool = True, max_iter: int = 500) -> LinearProbe:
    """Linear probe with the L2 strength picked on a validation split (Radford et al., 2021).

    CLIP sweeps the regularisation on a validation split and CLIP_benchmark does the same; here
    the whole grid is solved at once (vmapped L-BFGS), the strength with the best validation
    accuracy is kept (ties: the stronger regularisation) and, with ``refit``, the probe is
    refitted on train + validation.

    Args:
      train_features, train_labels, val_features, val_labels: [N, D] / [N] splits.
      num_classes: K (default: 1 + the largest label).
      l2_grid: candidate strengths (default 10^-6 ... 10^1, 15 log-spaced values).
      refit: refit on the union of both splits with the chosen strength.
      max_iter: L-BFGS iterations per fit.
    Returns:
      A ``LinearProbe``.
    """
    x, y = _features_and_labels(train_features, train_labels)
    xv, yv = _features_and_labels(val_features, val_labels, "val_features")
    if num_classes is None:
        num_classes = int(max(int(jnp.max(y)), int(jnp.max(yv)))) + 1
    _features_and_labels(xv, yv, "val_features", num_classes)  # labels < num_classes
    grid = np.logspace(-6, 1, 15) if l2_grid is None else np.asarray(l2_grid, np.float64)
    grid = np.sort(grid)[::-1]  # strongest first, so ties keep the stronger regularisation
    weights, bias = fit_logistic_regression(x, y, num_classes, grid, max_iter=max_iter)
    val_logits = jnp.einsum("nd,gdk->gnk", xv, weights) + bias[:, None, :]
    accs = np.asarray(jnp.mean(jnp.argmax(val_logits, axis=2) == yv[None], axis=1))
    best = int(np.argmax(accs))
    w, b = weights[best], bias[best]
    if refit:
        w, b = fit_logistic_regression(jnp.concatenate([x, xv]), jnp.concatenate([y, yv]),
                                       num_classes, grid[best], max_iter=max_iter)
    return LinearProbe(w, b, float(grid[best]), float(accs[best]))
