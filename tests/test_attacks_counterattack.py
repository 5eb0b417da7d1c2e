"""jclip.attacks.counterattack against a transcription of the reference code's
``tau_thres_weighted_counterattacks`` (Sxing2/CLIP-Test-time-Counterattacks) on transformers'
PyTorch CLIPModel with the same weights and the same random start."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jclip
from jclip import attacks
from jclip.attacks.counterattack import combine, counterattack_steps

FOLDER = os.path.join(os.path.dirname(__file__), "fixtures", "models", "hf_clip_quickgelu")
EPS, STEP, STEPS = 4 / 255, 1 / 255, 2


@functools.cache
def setup():
    model, params = jclip.load(FOLDER)
    x = np.random.RandomState(0).rand(8, 32, 32, 3).astype(np.float32)
    x[:2] = np.clip(np.round(x[:2]), 0, 1)  # pixels on the bounds: the clips matter
    return model, params, jax.jit(attacks.embedding_fn(model, params)), x


@functools.cache
def mlp():
    """(jitted unnormalised embedding fn of a tanh net on 8x8 pixels, x [8, 8, 8, 3]): cheap to
    compile, for the checks of the rules themselves."""
    rng = np.random.RandomState(2)
    w1 = jnp.asarray(rng.randn(8 * 8 * 3, 32).astype(np.float32) * 0.3)
    w2 = jnp.asarray(rng.randn(32, 6).astype(np.float32))
    x = rng.rand(8, 8, 8, 3).astype(np.float32)
    x[:2] = np.round(x[:2])  # pixels on the bounds
    return jax.jit(lambda v: jnp.tanh(v.reshape(v.shape[0], -1) @ w1) @ w2), x


def _reference(encode, X, delta0, alpha, attack_iters, epsilon, tau_thres, beta):
    """The reference function's computation (l_inf, no prompter), with delta_0 given."""
    import torch

    delta = torch.clamp(delta0.clone(), -X, 1 - X)
    delta.requires_grad = True
    with torch.no_grad():
        x_ori = encode(X)
        diff_ratio = (encode(X + delta) - x_ori).norm(dim=-1) / x_ori.norm(dim=-1)
    scheme_sign = (tau_thres - diff_ratio).sign()
    deltas = [delta.data.clone()]
    for _ in range(attack_iters):
        loss = ((encode(X + delta) - x_ori) ** 2).sum(1).sum()
        g = torch.autograd.grad(loss, delta)[0]
        d = torch.clamp(delta + alpha * torch.sign(g), min=-epsilon, max=epsilon)
        d = torch.clamp(d, -X, 1 - X)
        delta.data[:] = d
        deltas.append(delta.data.clone())
    stacked = torch.stack(deltas, dim=1)
    w = torch.arange(attack_iters + 1).unsqueeze(0).expand(X.size(0), -1).float()
    w = torch.exp(scheme_sign.view(-1, 1) * w * beta)
    w = w / w.sum(dim=1, keepdim=True)
    hard = torch.zeros_like(w)
    hard[:, 0] = 1.0
    w = torch.where(scheme_sign.unsqueeze(1) > 0, w, hard).view(X.size(0), -1, 1, 1, 1)
    return (w * stacked).sum(dim=1), diff_ratio


def test_counterattack_equals_the_reference_code():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model, _, embed, x = setup()
    key = jax.random.key(3)
    deltas, tau = jax.jit(lambda v: counterattack_steps(embed, v, key, eps=EPS, step_size=STEP,
                                                        steps=STEPS))(x)
    threshold = float(np.median(np.asarray(tau)))  # both branches of the rule occur
    ours = combine(deltas, tau, tau_threshold=threshold) + x
    hf = transformers.CLIPModel.from_pretrained(FOLDER).eval()
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in jclip.preprocessing.mean_std(
        model.config))

    def encode(v):
        return hf.get_image_features(pixel_values=(v - mean) / std).pooler_output

    unit = np.asarray(jax.random.uniform(key, x.shape, jnp.float32, -1.0, 1.0))
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # noqa: E731
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        delta_ref, tau_ref = _reference(encode, nchw(x), nchw(unit * EPS), STEP, STEPS, EPS,
                                        threshold, 2.0)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(np.asarray(tau), tau_ref.numpy(), rtol=1e-4)
    weighted = np.asarray(tau) < threshold
    assert 0 < weighted.sum() < len(x)
    ref = x + delta_ref.numpy().transpose(0, 2, 3, 1)
    diff = np.abs(np.asarray(ours) - ref)
    assert np.mean(diff > 1e-5) < 0.01  # but for signs of near-zero gradient entries
    # The weighted examples moved away from delta_0; the others kept it exactly.
    d0 = np.asarray(deltas[0])
    np.testing.assert_allclose(np.asarray(ours)[~weighted], (x + d0)[~weighted], atol=1e-7)
    assert np.abs(np.asarray(ours)[weighted] - (x + d0)[weighted]).max() > 0.5 * STEP


def test_weights_rule_bounds_and_determinism():
    embed, x = mlp()
    key = jax.random.key(0)
    steps_fn = jax.jit(lambda v, k: counterattack_steps(embed, v, k, eps=EPS, step_size=STEP,
                                                        steps=STEPS))
    defend = jax.jit(lambda v, k, e: attacks.counterattack(embed, v, k, eps=e))
    deltas, tau = steps_fn(x, key)
    assert deltas.shape == (STEPS + 1, *x.shape)
    soft = np.exp(2.0 * np.arange(3)) / np.exp(2.0 * np.arange(3)).sum()
    always = np.asarray(combine(deltas, tau, tau_threshold=np.inf))
    np.testing.assert_allclose(always, np.einsum("k,kb...->b...", soft, np.asarray(deltas)),
                               atol=1e-7)
    never = np.asarray(combine(deltas, tau, tau_threshold=0.0))
    np.testing.assert_array_equal(never, np.asarray(deltas[0]))
    out = np.asarray(defend(x, key, EPS))
    np.testing.assert_array_equal(out, np.asarray(defend(x, key, EPS)))
    assert np.abs(out - x).max() <= EPS + 1e-6 and out.min() >= 0 and out.max() <= 1
    # tau as defined, and each ascent step increased the embedding distance.
    z = np.asarray(embed(x), np.float64)
    dist = [np.sum((np.asarray(embed(x + d), np.float64) - z) ** 2, 1) for d in np.asarray(deltas)]
    np.testing.assert_allclose(np.asarray(tau), np.sqrt(dist[0]) / np.linalg.norm(z, axis=1),
                               rtol=1e-4)
    assert (dist[2] > dist[0]).all()
    np.testing.assert_array_equal(np.asarray(defend(x, key, 0.0)), x)


def test_adaptive_gradient_through_the_defence_is_the_identity_away_from_the_bounds():
    embed, x = mlp()
    head = jnp.asarray(np.random.RandomState(5).randn(6).astype(np.float32))
    key = jax.random.key(1)

    def loss(v):
        return jnp.sum(jnp.sin(embed(v) @ head))

    grad = np.asarray(jax.jit(jax.grad(lambda v: loss(attacks.counterattack(embed, v, key))))(x))
    x_def = jax.jit(lambda v: attacks.counterattack(embed, v, key))(x)
    direct = np.asarray(jax.jit(jax.grad(loss))(x_def))
    inside = (x > EPS + 1e-6) & (x < 1 - EPS - 1e-6)
    assert inside.mean() > 0.5 and (~inside).any()
    np.testing.assert_allclose(grad[inside], direct[inside], rtol=1e-4, atol=1e-6)
    assert np.isfinite(grad).all() and np.abs(grad[inside]).max() > 0
