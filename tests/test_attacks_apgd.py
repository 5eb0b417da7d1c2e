"""jclip.attacks.apgd / autoattack_eval and the DLR losses, against torchattacks 3.5's APGD /
APGDT on transformers' PyTorch CLIPModel with the same weights (tests/fixtures/models)."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jclip
from jclip import attacks
from jclip.attacks import losses
from jclip.attacks.apgd import schedule

FOLDER = os.path.join(os.path.dirname(__file__), "fixtures", "models", "hf_clip_quickgelu")
NUM_CLASSES = 10


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The tiny torch model runs faster on one thread (no spinning on a busy 2-core machine)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def setup(batch=32):
    """(jitted jclip logits fn, torch logits module, x [B, 32, 32, 3], clean predictions [B])."""
    model, params = jclip.load(FOLDER)
    rng = np.random.RandomState(0)
    classifier = rng.randn(NUM_CLASSES, model.config.embed_dim).astype(np.float32)
    classifier /= np.linalg.norm(classifier, axis=1, keepdims=True)
    fn = jax.jit(attacks.zeroshot_logits_fn(model, params, classifier))
    x = rng.rand(batch, 32, 32, 3).astype(np.float32)
    labels = np.asarray(jnp.argmax(fn(x), -1)).astype(np.int32)
    return fn, _torch_model(model.config, classifier), x, labels


def _torch_model(config, classifier):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    mean, std = jclip.preprocessing.mean_std(config)
    hf = transformers.CLIPModel.from_pretrained(FOLDER).eval()

    class ZeroShot(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hf = hf
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
            self.register_buffer("classifier", torch.from_numpy(classifier))

        def forward(self, x):
            z = self.hf.get_image_features(pixel_values=(x - self.mean) / self.std).pooler_output
            return 100.0 * (z / z.norm(dim=-1, keepdim=True)) @ self.classifier.T

    return ZeroShot().eval()


def _predict(torch_model, x_nchw):
    import torch

    with torch.no_grad():
        return torch_model(x_nchw).argmax(1).numpy()


def _nchw(x):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def test_schedule_of_checkpoints():
    assert schedule(100) == (22, 6, 3)  # p_1 = 0.22 N, min 0.06 N, decrease 0.03 N
    assert schedule(10) == (2, 1, 1)
    assert schedule(1) == (1, 1, 1)


def test_dlr_losses_match_torchattacks_formulas():
    torchattacks = pytest.importorskip("torchattacks")
    import torch

    rng = np.random.RandomState(1)
    z = rng.randn(16, 7).astype(np.float32) * 3
    labels = rng.randint(0, 7, 16)
    targets = (labels + rng.randint(1, 7, 16)) % 7
    zt, yt, tt = torch.from_numpy(z), torch.from_numpy(labels), torch.from_numpy(targets)
    ref = torchattacks.APGD.dlr_loss(None, zt, yt).numpy()
    ref_t = torchattacks.APGDT.dlr_loss_targeted(None, zt, yt, tt).numpy()
    logits = lambda x: jnp.asarray(z)  # noqa: E731 (losses take a logits function)
    x = np.zeros((16, 1, 1, 3), np.float32)
    np.testing.assert_allclose(np.asarray(losses.dlr(logits, labels)(x)), ref, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(losses.dlr_targeted(logits, labels, targets)(x)),
                               ref_t, rtol=1e-5)
    # Independent float64 formulas (Croce & Hein, 2020, eqs. 6 and 7).
    zs = np.sort(z.astype(np.float64), 1)
    zy = z[np.arange(16), labels]
    other = np.where(np.eye(7)[labels] > 0, -np.inf, z).max(1)
    np.testing.assert_allclose(ref, -(zy - other) / (zs[:, -1] - zs[:, -3]), rtol=1e-5)
    np.testing.assert_allclose(
        ref_t, -(zy - z[np.arange(16), targets]) / (zs[:, -1] - (zs[:, -3] + zs[:, -4]) / 2),
        rtol=1e-5)


def _mlp(batch=16):
    """A one-hidden-layer tanh net on 8x8 pixels in jax and in torch (same weights), cheap to
    compile: (jitted jax logits fn, torch module, x [B, 8, 8, 3], clean predictions)."""
    import torch

    rng = np.random.RandomState(2)
    w1 = rng.randn(8 * 8 * 3, 32).astype(np.float32) * 0.3
    w2 = rng.randn(32, NUM_CLASSES).astype(np.float32)
    fn = jax.jit(lambda v: jnp.tanh(v.reshape(v.shape[0], -1) @ w1) @ w2)
    t1, t2 = torch.from_numpy(w1), torch.from_numpy(w2)

    class Net(torch.nn.Module):
        def forward(self, v):  # NCHW -> the NHWC flattening of the jax net
            return torch.tanh(v.permute(0, 2, 3, 1).reshape(v.shape[0], -1) @ t1) @ t2

    x = rng.rand(batch, 8, 8, 3).astype(np.float32)
    return fn, Net().eval(), x, np.asarray(jnp.argmax(fn(x), -1)).astype(np.int32)


@pytest.mark.parametrize("norm,eps", [("linf", 1 / 255), ("l2", 0.05)])
def test_apgd_ce_follows_torchattacks_from_the_same_start(norm, eps):
    """Same start (torch's random draw replaced by ours): same robust set, same images. l_inf
    on the CLIP of both libraries; l_2 on a small net in both (the same algorithm, cheaper)."""
    torchattacks = pytest.importorskip("torchattacks")
    import torch

    fn, torch_model, x, labels = setup() if norm == "linf" else _mlp()
    key, steps = jax.random.key(0), 10
    adv, robust = jax.jit(lambda x, y, k: attacks.apgd("ce", fn, x, y, k, eps=eps, steps=steps,
                                                       norm=norm))(x, labels, key)
    sub = jax.random.split(key, 1)[0]
    if norm == "linf":  # torchattacks: t = 2 * rand - 1
        t = jax.random.uniform(sub, x.shape, jnp.float32, -1.0, 1.0)
        draw, name = _nchw((np.asarray(t) + 1) / 2), "rand"
    else:
        draw, name = _nchw(np.asarray(jax.random.normal(sub, x.shape, jnp.float32))), "randn"
    original = getattr(torch, name)
    setattr(torch, name, lambda *a, **k: draw.clone())
    try:
        attack = torchattacks.APGD(torch_model, norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps,
                                   steps=steps, n_restarts=1, loss="ce")
        adv_t = attack(_nchw(x), torch.from_numpy(labels.astype(np.int64)))
    finally:
        setattr(torch, name, original)
    robust_t = _predict(torch_model, adv_t) == labels
    robust = np.asarray(robust)
    assert 0.1 < robust.mean() < 0.9  # the comparison is informative at this eps
    assert (robust != robust_t).sum() <= 1
    agree = robust == robust_t
    diff = np.abs(np.asarray(adv) - adv_t.detach().numpy().transpose(0, 2, 3, 1))[agree]
    # Identical but for the sign of near-zero gradient entries (float32 torch vs XLA).
    assert np.mean(diff > 1e-4) < 0.01
    assert diff.max() <= 2 * eps + 1e-6


def test_apgd_t_robust_accuracy_within_a_few_points_of_torchattacks():
    torchattacks = pytest.importorskip("torchattacks")
    import torch

    fn, torch_model, x, labels = setup()
    eps, steps = 1 / 255, 10
    _, robust = attacks.apgd("dlr-targeted", fn, x, labels, jax.random.key(1), eps=eps,
                             steps=steps, n_target_classes=3)
    attack = torchattacks.APGDT(torch_model, norm="Linf", eps=eps, steps=steps, n_restarts=1,
                                n_classes=4)  # n_classes - 1 = 3 target classes
    adv_t = attack(_nchw(x), torch.from_numpy(labels.astype(np.int64)))
    acc_t = float(np.mean(_predict(torch_model, adv_t) == labels))
    acc = float(np.mean(np.asarray(robust)))
    assert acc < 0.9
    assert abs(acc - acc_t) <= 0.1, (acc, acc_t)


def test_autoattack_eval_is_the_worst_case_over_attacks():
    rng = np.random.RandomState(2)
    w1 = jnp.asarray(rng.randn(8 * 8 * 3, 32).astype(np.float32) * 0.3)
    w2 = jnp.asarray(rng.randn(32, NUM_CLASSES).astype(np.float32))
    fn = jax.jit(lambda v: jnp.tanh(v.reshape(v.shape[0], -1) @ w1) @ w2)  # cheap to compile
    x = rng.rand(16, 8, 8, 3).astype(np.float32)
    labels = np.asarray(jnp.argmax(fn(x), -1)).astype(np.int32)
    labels[:3] = (labels[:3] + 1) % NUM_CLASSES  # misclassified clean
    eps = 0.01  # some examples robust, some not (APGD-T fools one that APGD-CE does not)
    out = jax.jit(lambda x, y, k: attacks.autoattack_eval(fn, x, y, k, eps=eps, steps=5,
                                                          n_target_classes=2))(
        x, labels, jax.random.key(0))
    clean, ce, tgt, robust = (np.asarray(out[k]) for k in ("clean", "apgd-ce", "apgd-t",
                                                          "robust"))
    np.testing.assert_array_equal(robust, clean & ce & tgt)
    assert not clean[:3].any() and not robust[:3].any()
    fooled = clean & ~robust
    assert fooled.any() and robust.any()
    pred = np.asarray(jnp.argmax(fn(out["x_adv"]), -1))
    assert (pred[fooled] != labels[fooled]).all()  # x_adv holds the successful attack
    np.testing.assert_array_equal(np.asarray(out["x_adv"])[~fooled], x[~fooled])
    assert np.abs(np.asarray(out["x_adv"]) - x).max() <= eps + 1e-6
