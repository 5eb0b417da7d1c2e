"""jclip.attacks.pgd, the differentiable forwards and the CE / CW losses.

PGD is compared with foolbox 3 (LinfPGD / L2PGD on the same jclip model as a foolbox JAXModel):
same adversarial images and robust accuracy.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jclip
from jclip import attacks
from jclip.attacks import losses
from jclip.attacks.pgd import sample_start

NUM_CLASSES = 5
FOLDER = os.path.join(os.path.dirname(__file__), "fixtures", "models", "hf_clip_quickgelu")


@functools.cache
def setup():
    """(model, params, classifier [5, D], jitted logits fn, x [8, 32, 32, 3], labels [8])."""
    model, params = jclip.load(FOLDER)  # a 2-layer 32 px CLIP (transformers' layout)
    rng = np.random.RandomState(0)
    dim = model.config.embed_dim
    classifier = rng.randn(NUM_CLASSES, dim).astype(np.float32)
    classifier /= np.linalg.norm(classifier, axis=1, keepdims=True)
    fn = attacks.zeroshot_logits_fn(model, params, classifier)
    x = rng.rand(8, 32, 32, 3).astype(np.float32)
    labels = np.asarray(jnp.argmax(fn(x), -1)).astype(np.int32)
    labels[:2] = (labels[:2] + 1) % NUM_CLASSES  # two examples already misclassified
    return model, params, classifier, jax.jit(fn), x, labels


@functools.cache
def mlp():
    """(jitted logits fn of a one-hidden-layer tanh net on 8x8 pixels, x [8, 8, 8, 3], labels):
    cheap to compile, for the tests of the attack algorithm itself."""
    rng = np.random.RandomState(2)
    w1 = jnp.asarray(rng.randn(8 * 8 * 3, 32).astype(np.float32) * 0.3)
    w2 = jnp.asarray(rng.randn(32, NUM_CLASSES).astype(np.float32))
    fn = jax.jit(lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ w1) @ w2)
    x = rng.rand(8, 8, 8, 3).astype(np.float32)
    return fn, x, np.asarray(jnp.argmax(fn(x), -1)).astype(np.int32)


def _acc(fn, x, labels):
    return float(np.mean(np.asarray(jnp.argmax(fn(x), -1)) == labels))


def test_zeroshot_logits_fn_matches_preprocess_encode_and_classifier():
    model, params, classifier, fn, _, _ = setup()
    images = np.random.RandomState(3).randint(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    pixels = jclip.preprocessing.normalize(images, model.config)  # the host pipeline
    encode = jax.jit(lambda p: model.apply({"params": params}, p, method="encode_image"))
    raw = np.asarray(encode(pixels))
    z = raw.astype(np.float64) / np.linalg.norm(raw.astype(np.float64), axis=1, keepdims=True)
    ref = 100.0 * z @ classifier.T.astype(np.float64)
    out = fn(jnp.asarray(images, jnp.float32) / 255.0)
    np.testing.assert_allclose(np.asarray(out), ref, atol=2e-3)
    emb = jax.jit(attacks.embedding_fn(model, params))(images.astype(np.float32) / 255)
    np.testing.assert_allclose(np.asarray(emb), raw, atol=1e-5)


def test_forward_resizes_larger_images_like_preprocess():
    model, _, _, _, _, _ = setup()
    images = np.random.RandomState(4).randint(0, 256, (2, 40, 56, 3)).astype(np.uint8)
    smooth = np.stack([np.asarray(jax.image.resize(im.astype(np.float32), (40, 56, 3), "linear"))
                       for im in images[:, ::4, ::4]]).round().clip(0, 255).astype(np.uint8)
    ref = jclip.preprocess(smooth, model.config)  # PIL bicubic, shortest side + centre crop
    out = np.asarray(attacks.to_model_input(smooth.astype(np.float32) / 255, model.config))
    assert out.shape == ref.shape == (2, 32, 32, 3)
    # jax bicubic vs PIL bicubic on smooth images: close, not bit-identical (module docstring).
    assert np.abs(out - ref).mean() < 0.02


def test_linf_pgd_equals_foolbox():
    import foolbox as fb

    model, params, classifier, _, x, labels = setup()
    # Logit scale 10: no example has a saturated softmax, whose CE gradient is float rounding
    # noise (its sign then differs between any two implementations of the CE).
    fn = jax.jit(attacks.zeroshot_logits_fn(model, params, classifier, scale=10.0))
    eps, step, steps = 2 / 255, 0.5 / 255, 5
    ours = attacks.pgd(losses.cross_entropy(fn, labels), x, jax.random.key(0), eps=eps,
                       step_size=step, steps=steps, random_start=False)
    attack = fb.attacks.LinfPGD(steps=steps, abs_stepsize=step, random_start=False)
    raw, _, success = attack(fb.JAXModel(fn, bounds=(0, 1)), jnp.asarray(x),
                             jnp.asarray(labels), epsilons=eps)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(raw), atol=1e-6)
    assert _acc(fn, ours, labels) == pytest.approx(1.0 - float(np.mean(np.asarray(success))))
    assert _acc(fn, ours, labels) < _acc(fn, x, labels)  # the attack does something here
    assert np.abs(np.asarray(ours) - x).max() <= eps + 1e-7


def test_l2_pgd_equals_foolbox():
    import foolbox as fb

    fn, x, labels = mlp()
    eps, step, steps = 0.3, 0.1, 4
    ours = attacks.pgd(losses.cross_entropy(fn, labels), x, jax.random.key(0), eps=eps,
                       step_size=step, steps=steps, norm="l2", random_start=False)
    attack = fb.attacks.L2PGD(steps=steps, abs_stepsize=step, random_start=False)
    raw, _, success = attack(fb.JAXModel(fn, bounds=(0, 1)), jnp.asarray(x),
                             jnp.asarray(labels), epsilons=eps)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(raw), atol=1e-4)
    assert _acc(fn, ours, labels) == pytest.approx(1.0 - float(np.mean(np.asarray(success))))
    norms = np.sqrt(((np.asarray(ours) - x) ** 2).reshape(len(x), -1).sum(1))
    assert norms.max() <= eps + 1e-5


@pytest.mark.parametrize("norm,eps", [("linf", 4 / 255), ("l2", 0.5)])
def test_random_start_is_deterministic_in_the_ball_and_jits_with_traced_eps(norm, eps):
    fn, x, labels = mlp()
    loss = losses.cross_entropy(fn, labels)
    run = jax.jit(lambda key, e: attacks.pgd(loss, x, key, eps=e, step_size=1 / 255, steps=2,
                                             norm=norm))
    a, b, c = (np.asarray(run(jax.random.key(k), eps)) for k in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0
    d = a - x
    size = np.abs(d).max() if norm == "linf" else np.sqrt((d ** 2).reshape(8, -1).sum(1)).max()
    assert size <= eps + 1e-5 and a.min() >= 0 and a.max() <= 1
    start = np.asarray(sample_start(jax.random.key(0), jnp.asarray(x), eps, norm))
    if norm == "linf":  # uniform in the box: fills it
        assert np.abs(start).max() <= eps and np.abs(start).max() > 0.95 * eps
        assert abs(float(np.mean(np.abs(start))) - eps / 2) < 0.02 * eps
    else:  # uniform in the ball's volume: in high dimension, just inside the sphere
        n = np.sqrt((start ** 2).reshape(8, -1).sum(1))
        assert n.max() <= eps + 1e-6 and n.min() > 0.95 * eps  # P(fail) ~ 8 * 0.95^192


def test_ce_and_cw_losses_match_numpy_and_targeted_is_minus():
    fn, x, labels = mlp()
    z = np.asarray(fn(x), np.float64)
    ce = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1) - z[np.arange(8), labels]
    np.testing.assert_allclose(np.asarray(losses.cross_entropy(fn, labels)(x)), ce, rtol=1e-4,
                               atol=1e-4)
    targets = (labels + 2) % NUM_CLASSES
    ce_t = (np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
            - z[np.arange(8), targets])
    np.testing.assert_allclose(np.asarray(losses.cross_entropy(fn, targets, targeted=True)(x)),
                               -ce_t, rtol=1e-4, atol=1e-4)
    other = np.where(np.eye(NUM_CLASSES)[labels] > 0, -np.inf, z).max(1)
    cw = -np.maximum(z[np.arange(8), labels] - other + 50.0, 0)
    np.testing.assert_allclose(np.asarray(losses.cw_margin(fn, labels)(x)), cw, rtol=1e-4)
    other_t = np.where(np.eye(NUM_CLASSES)[targets] > 0, -np.inf, z).max(1)
    cw_t = -np.maximum(other_t - z[np.arange(8), targets] + 2.0, 0)
    np.testing.assert_allclose(
        np.asarray(losses.cw_margin(fn, targets, kappa=2.0, targeted=True)(x)), cw_t, rtol=1e-4,
        atol=1e-5)


def test_targeted_pgd_moves_predictions_to_the_target():
    fn, x, labels = mlp()
    targets = (labels + 1) % NUM_CLASSES
    loss = losses.cross_entropy(fn, targets, targeted=True)
    adv = attacks.pgd(loss, x, jax.random.key(0), eps=0.1, step_size=0.02, steps=10)
    before = np.asarray(loss(x))
    after = np.asarray(loss(adv))
    assert (after > before).all()  # -CE of the target rose for every example
    assert _acc(fn, adv, targets) > _acc(fn, x, targets)


def test_pgd_with_the_batch_sharded_over_8_devices_equals_one_device():
    if jax.device_count() < 8:
        pytest.skip("needs XLA_FLAGS=--xla_force_host_platform_device_count=8 (tests/conftest.py)")
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    model, params, classifier, _, x, labels = setup()
    fn = attacks.zeroshot_logits_fn(model, params, classifier)

    def attack(x, labels, key):
        return attacks.pgd(losses.cross_entropy(fn, labels), x, key, eps=4 / 255,
                           step_size=1 / 255, steps=2)

    mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
    rows = NamedSharding(mesh, P("data"))
    xs, ys = jax.device_put(x, rows), jax.device_put(labels, rows)
    sharded = jax.jit(attack, in_shardings=(rows, rows, None), out_shardings=rows)(
        xs, ys, jax.random.key(5))
    single = jax.jit(attack)(jax.device_put(x, jax.devices()[0]), labels, jax.random.key(5))
    assert sharded.sharding.is_equivalent_to(rows, 4)
    np.testing.assert_allclose(np.asarray(sharded), np.asarray(single), atol=1e-6)
