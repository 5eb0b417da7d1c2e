"""TeCoA and FARE objectives: their losses against independent float64 numpy computations on the
PGD images of the same key, gradients only in the vision tower, a few steps lower the adversarial
loss, and the sharded head equals the single-device one."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jclip import attacks
from jclip.data import shapes
from jclip.heads.prompts import format_prompts
from jclip.preprocessing import mean_std, normalize
from jclip.train import objectives_adversarial as adv
from jclip.train import sharding
from jclip.train.objectives import make_objective
from tests.helpers.models import SHAPES3, save_workdir, tiny_model

TEMPLATES = ("a photo of a {}", "a drawing of a {}")
EPS = 2 / 255


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return save_workdir(tmp_path_factory.mktemp("adv_ref")) + "/model"


def _loss_config(name, reference, **kw):
    c = ml_collections.ConfigDict()
    c.name = name
    c.reference = reference
    c.eps, c.step_size, c.attack_steps = EPS, 1 / 255, 2
    if name == "tecoa":
        c.classnames, c.templates = SHAPES3, TEMPLATES
    c.update(kw)
    return c


def _batch(n=8, seed=0):
    model, _, _ = tiny_model()
    scenes = shapes.generate("attributes", n, seed, image_size=32, shapes=SHAPES3)
    x01 = scenes["image"].astype(np.float32) / 255.0
    return {"image": np.asarray(normalize(scenes["image"], model.config), np.float32),
            "label": scenes["shape"].astype(np.int32)}, x01


def _perturbed(params, seed=1, scale=0.05):
    """Params whose vision tower differs from the reference's (so FARE's loss is not trivial)."""
    leaves, tree = jax.tree.flatten(params["vision"])
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    vision = jax.tree.unflatten(tree, [x + scale * jax.random.normal(k, x.shape) for x, k in
                                       zip(leaves, keys)])
    return {**params, "vision": vision}


def _image_features(model, params, x01):
    mean, std = mean_std(model.config)
    z = model.apply({"params": params}, jnp.asarray((x01 - mean) / std), method="encode_image")
    return np.asarray(z, np.float64)


def _numpy_classifier(model, params, tok):
    """[C, D] float64: per class the renormalised mean of the unit prompt embeddings."""
    tokens = np.asarray(tok(format_prompts(list(SHAPES3), list(TEMPLATES))))
    z = np.asarray(model.apply({"params": params}, jnp.asarray(tokens), method="encode_text"),
                   np.float64)
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    z = z.reshape(len(SHAPES3), len(TEMPLATES), -1).mean(1)  # format_prompts: class-major
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def test_unit_pixels_invert_the_normalisation():
    batch, x01 = _batch()
    model, _, _ = tiny_model()
    np.testing.assert_allclose(np.asarray(adv.to_unit_pixels(batch["image"], model.config)),
                               x01, atol=2e-6)


def _value_and_grad(objective, batch):
    """One compiled (params, key) -> ((loss, aux), grads) serves every check of an objective."""
    return jax.jit(jax.value_and_grad(lambda p, k: objective.loss_fn(p, batch, k), has_aux=True))


def _check_towers_and_training(vg, params, key):
    """Gradients only in the vision tower; a few Adam steps lower the loss at a fixed key."""
    (before, _), grads = vg(params, key)
    norm = lambda tree: float(optax.tree.norm(tree))
    assert norm(grads["vision"]) > 0
    assert norm(grads["text"]) == 0.0
    assert all(norm(v) == 0.0 for k, v in grads.items() if k not in ("vision", "text"))
    tx = optax.adam(2e-3)
    state = tx.init(params)
    for i in range(6):
        _, g = vg(params, jax.random.fold_in(key, i))
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
    after = float(vg(params, key)[0][0])
    assert after < 0.8 * float(before), (float(before), after)


def test_tecoa_loss_is_the_cross_entropy_of_the_pgd_images_of_the_same_key(reference):
    model, params, tok = tiny_model()
    batch, x01 = _batch()
    objective = make_objective(_loss_config("tecoa", reference), model, locked=("text",))
    vg = _value_and_grad(objective, batch)
    rng = jax.random.key(3)
    (loss, aux), _ = vg(params, rng)

    classifier = _numpy_classifier(model, params, tok)
    np.testing.assert_allclose(adv.frozen_classifier(model, params, tok, SHAPES3, TEMPLATES),
                               classifier, atol=1e-5)
    key, _ = jax.random.split(rng)  # Objective.loss_fn: (encoder key, head key)
    logits_fn = attacks.zeroshot_logits_fn(model, params, classifier.astype(np.float32))
    x_adv = np.asarray(jax.jit(lambda x: attacks.pgd(
        attacks.cross_entropy(logits_fn, batch["label"]), x, key, eps=EPS, step_size=1 / 255,
        steps=2))(jnp.asarray(x01)), np.float64)
    assert np.abs(x_adv - x01).max() <= EPS + 1e-6 and np.abs(x_adv - x01).max() > EPS / 2
    z = _image_features(model, params, x_adv.astype(np.float32))
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    logits = 100.0 * z @ classifier.T
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    expected = -log_p[np.arange(len(x01)), batch["label"]].mean()
    np.testing.assert_allclose(float(loss), expected, rtol=2e-4)
    assert float(aux["tecoa_loss"]) == float(loss)
    np.testing.assert_allclose(float(aux["adv_train_acc1"]),
                               np.mean(logits.argmax(1) == batch["label"]))
    # The attack raised the loss above the clean images' cross-entropy.
    zc = _image_features(model, params, x01)
    zc /= np.linalg.norm(zc, axis=-1, keepdims=True)
    lc = 100.0 * zc @ classifier.T
    lc = lc - lc.max(1, keepdims=True)
    clean = -(lc - np.log(np.exp(lc).sum(1, keepdims=True)))[np.arange(len(x01)),
                                                             batch["label"]].mean()
    assert expected > clean
    _check_towers_and_training(vg, params, jax.random.key(7))


def test_fare_loss_is_the_squared_distance_to_the_frozen_original(reference):
    model, original, _ = tiny_model()
    params = _perturbed(original)
    batch, x01 = _batch(seed=1)
    objective = make_objective(_loss_config("fare", reference), model, locked=("text",))
    vg = _value_and_grad(objective, batch)
    rng = jax.random.key(5)
    (loss, aux), _ = vg(params, rng)

    key, _ = jax.random.split(rng)
    z_ref = _image_features(model, original, x01)
    embed = attacks.embedding_fn(model, params)
    x_adv = np.asarray(jax.jit(lambda x: attacks.pgd(
        attacks.embedding_distance(embed, jnp.asarray(z_ref, jnp.float32)), x, key, eps=EPS,
        step_size=1 / 255, steps=2))(jnp.asarray(x01)))
    z_adv = _image_features(model, params, x_adv)
    expected = np.mean(np.sum((z_adv - z_ref) ** 2, axis=1))
    np.testing.assert_allclose(float(loss), expected, rtol=2e-4)
    assert float(aux["fare_loss"]) == float(loss)
    clean = np.mean(np.sum((_image_features(model, params, x01) - z_ref) ** 2, axis=1))
    assert expected > clean > 0
    _check_towers_and_training(vg, params, jax.random.key(7))


def test_the_sharded_head_equals_one_device(reference):
    model, params, _ = tiny_model()
    batch, _ = _batch(n=8)
    config = _loss_config("tecoa", reference)
    mesh = sharding.make_mesh(4, 1, devices=jax.devices()[:4])
    one = make_objective(config, model, locked=("text",))
    four = make_objective(config, model, locked=("text",), mesh=mesh)
    rng = jax.random.key(11)
    emb = jax.jit(one.encode)(params, batch, rng)
    a = jax.jit(one.loss_of_embeddings)(params, emb, rng)
    b = jax.jit(four.loss_of_embeddings)(params, emb, rng)
    np.testing.assert_allclose(float(b[0]), float(a[0]), rtol=1e-6)
    np.testing.assert_allclose(float(b[1]["adv_train_acc1"]), float(a[1]["adv_train_acc1"]))
