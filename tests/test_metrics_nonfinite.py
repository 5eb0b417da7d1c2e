"""Non-finite and empty inputs: concrete ones raise, traced ones count against the model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jclip import metrics

NAN = float("nan")


def _logits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=40)
    logits = rng.normal(size=(40, 5)).astype(np.float32)
    logits[np.arange(40), labels] += 3.0  # mostly right
    return jnp.asarray(logits), jnp.asarray(labels)


@pytest.mark.parametrize("fn", [
    lambda x, y: metrics.accuracy(x, y),
    lambda x, y: metrics.accuracy(x, y, k=3),
    lambda x, y: metrics.mean_per_class_recall(x, y),
])
def test_classification_refuses_concrete_nan_and_misses_it_under_jit(fn):
    logits, labels = _logits()
    clean = float(fn(logits, labels))
    assert clean > 0.5
    broken = logits.at[:10].set(NAN)  # 10 rows that the model got "right" before
    with pytest.raises(ValueError, match="contains 50 NaN or inf values"):
        fn(broken, labels)
    assert float(jax.jit(fn)(jnp.full_like(logits, NAN), labels)) == 0.0  # not 1.0
    traced = float(jax.jit(fn)(broken, labels))
    assert traced < clean
    inf_row = logits.at[0].set(jnp.inf)
    assert float(jax.jit(fn)(inf_row, labels)) <= clean


def test_empty_inputs_raise():
    with pytest.raises(ValueError, match="logits is empty"):
        metrics.accuracy(jnp.zeros((0, 3)), jnp.zeros((0,), jnp.int32))
    with pytest.raises(ValueError, match="logits is empty"):
        metrics.mean_per_class_recall(jnp.zeros((0, 3)), jnp.zeros((0,), jnp.int32))
    with pytest.raises(ValueError, match="predictions is empty"):
        metrics.mae(jnp.zeros((0,)), jnp.zeros((0,)))
    with pytest.raises(ValueError, match="probs is empty"):
        metrics.expected_calibration_error(jnp.zeros((0, 3)), jnp.zeros((0,), jnp.int32))


def test_ood_scores():
    rng = np.random.default_rng(1)
    pos, neg = jnp.asarray(rng.normal(1, 1, 50)), jnp.asarray(rng.normal(0, 1, 60))
    for fn in (metrics.auroc, metrics.fpr_at_tpr):
        with pytest.raises(ValueError, match="NaN or inf"):
            fn(pos.at[3].set(NAN), neg)
        with pytest.raises(ValueError, match="NaN or inf"):
            fn(pos, neg.at[3].set(jnp.inf))
    auroc = jax.jit(metrics.auroc)
    assert float(auroc(jnp.full_like(pos, NAN), neg)) == 0.0  # was 1.0
    assert float(auroc(pos.at[:5].set(NAN), neg)) < float(auroc(pos, neg))
    assert float(auroc(pos, neg.at[:5].set(NAN))) < float(auroc(pos, neg))
    fpr = jax.jit(metrics.fpr_at_tpr)
    assert float(fpr(jnp.full_like(pos, NAN), neg)) == 1.0  # was 0.0: every OOD sample passes
    threshold = np.sort(np.asarray(pos))[::-1][47]  # k = ceil(0.95 * 50)
    passing = (np.asarray(neg) >= threshold) | (np.arange(60) < 6)  # broken ones pass too
    assert float(fpr(pos, neg.at[:6].set(NAN))) == pytest.approx(passing.mean())


def test_retrieval_of_nan_similarities_is_a_miss():
    rng = np.random.default_rng(2)
    zimg = rng.normal(size=(12, 8)).astype(np.float32)
    zimg /= np.linalg.norm(zimg, axis=1, keepdims=True)
    ztxt = zimg + 0.01 * rng.normal(size=(12, 8)).astype(np.float32)
    t2i = jnp.arange(12)
    sim = jnp.asarray(zimg @ ztxt.T)
    assert float(metrics.retrieval_recall(sim, t2i, ks=(1,))["text_to_image@1"]) == 1.0
    with pytest.raises(ValueError, match="sim contains 144 NaN"):
        metrics.retrieval_recall(jnp.full_like(sim, NAN), t2i)
    with pytest.raises(ValueError, match="ztxt contains 8 NaN"):
        metrics.retrieval_recall((zimg, ztxt.copy() * np.r_[np.nan, np.ones(11)][:, None]), t2i)
    recall = jax.jit(lambda s: metrics.retrieval_recall(s, t2i, ks=(1, 5)))
    out = recall(jnp.full_like(sim, NAN))
    assert all(float(v) == 0.0 for v in out.values())  # was 1.0
    one_row = recall(sim.at[0].set(NAN))  # image 0's scores are broken
    assert float(one_row["image_to_text@1"]) == pytest.approx(11 / 12)


def test_rank_correlations_and_mae():
    x = jnp.arange(10.0)
    for fn in (metrics.spearman, metrics.kendall_tau, metrics.mae):
        with pytest.raises(ValueError, match="NaN or inf"):
            fn(x.at[2].set(NAN), x)
    assert np.isnan(float(jax.jit(metrics.spearman)(x.at[2].set(NAN), x)))  # scipy gives nan
    assert float(jax.jit(metrics.spearman)(x, x)) == pytest.approx(1.0)


def test_calibration_refuses_logits_and_nan():
    logits, labels = _logits()
    probs = jax.nn.softmax(logits, axis=-1)
    assert 0 <= float(metrics.expected_calibration_error(probs, labels)) <= 1
    with pytest.raises(ValueError, match="pass jax.nn.softmax"):
        metrics.expected_calibration_error(logits, labels)
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.reliability_diagram(probs.at[0, 0].set(NAN), labels)
