import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score, roc_curve

from jclip import metrics


def _scores(seed, ties=False):
    rng = np.random.default_rng(seed)
    pos = rng.normal(1.0, 1.0, size=300)
    neg = rng.normal(0.0, 1.0, size=200)
    if ties:
        pos, neg = np.round(pos, 1), np.round(neg, 1)
    return pos.astype(np.float32), neg.astype(np.float32)


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_matches_sklearn(ties):
    pos, neg = _scores(0, ties)
    y = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    want = roc_auc_score(y, np.r_[pos, neg])
    assert float(metrics.auroc(pos, neg)) == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("ties,tpr", [(False, 0.95), (True, 0.95), (True, 0.5), (False, 1.0)])
def test_fpr_at_tpr_matches_sklearn_roc_curve(ties, tpr):
    s_in, s_out = _scores(1, ties)
    y = np.r_[np.ones(s_in.size), np.zeros(s_out.size)]
    fpr, tpr_curve, _ = roc_curve(y, np.r_[s_in, s_out], drop_intermediate=False)
    want = fpr[np.searchsorted(tpr_curve, tpr, side="left")]
    assert float(metrics.fpr_at_tpr(s_in, s_out, tpr)) == pytest.approx(want, abs=1e-7)


def test_hand_worked_fpr95_and_errors():
    s_in = np.arange(1, 21, dtype=np.float32)  # 20 in-scores: the 19th largest is 2
    s_out = np.array([0.0, 1.5, 2.0, 2.5, 30.0], np.float32)  # 3 of 5 are >= 2
    assert float(metrics.fpr_at_tpr(s_in, s_out)) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="tpr"):
        metrics.fpr_at_tpr(s_in, s_out, tpr=0.0)
    with pytest.raises(ValueError, match="empty"):
        metrics.auroc(s_in, s_out[:0])


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000))
def test_auroc_symmetry_bounds_and_permutation(seed):
    pos, neg = _scores(seed, ties=True)
    a = float(metrics.auroc(pos, neg))
    assert 0 <= a <= 1
    assert a + float(metrics.auroc(neg, pos)) == pytest.approx(1.0, abs=1e-5)
    rng = np.random.default_rng(seed)
    assert float(metrics.auroc(rng.permutation(pos), rng.permutation(neg))) == pytest.approx(a)


def test_metrics_compile_under_jit():
    import jax

    pos, neg = _scores(3)
    assert float(jax.jit(metrics.auroc)(pos, neg)) == pytest.approx(float(metrics.auroc(pos, neg)))
    fpr = jax.jit(lambda a, b: metrics.fpr_at_tpr(a, b, 0.9))(pos, neg)
    assert float(fpr) == pytest.approx(float(metrics.fpr_at_tpr(pos, neg, 0.9)))
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(30, 4)).astype(np.float32), rng.integers(0, 4, 30)
    acc = jax.jit(lambda a, b: metrics.accuracy(a, b, k=2))(logits, labels)
    assert float(acc) == pytest.approx(float(metrics.accuracy(logits, labels, k=2)))
    ece = jax.jit(metrics.expected_calibration_error)(jax.nn.softmax(logits), labels)
    assert float(ece) == pytest.approx(
        float(metrics.expected_calibration_error(jax.nn.softmax(logits), labels)))


@pytest.mark.parametrize("ties", [False, True])
def test_aupr_matches_sklearn_average_precision(ties):
    from sklearn.metrics import average_precision_score

    pos, neg = _scores(3, ties)
    y = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    s = np.r_[pos, neg]
    assert float(metrics.aupr(pos, neg)) == pytest.approx(average_precision_score(y, s), abs=1e-6)
    # AUPR-Out: OOD as the positives of the negated score.
    assert float(metrics.aupr(-neg, -pos)) == pytest.approx(
        average_precision_score(1 - y, -s), abs=1e-6)


def test_aupr_hand_worked():
    # Sorted: 3 (pos), 2 (neg), 1 (pos): AP = 1/2 * (1/1) + 1/2 * (2/3).
    assert float(metrics.aupr([3.0, 1.0], [2.0])) == pytest.approx(0.5 + 1 / 3)
    with pytest.raises(ValueError, match="scores_neg is empty"):
        metrics.aupr([1.0], np.zeros(0))


def test_ood_scores_match_numpy_float64():
    from scipy.special import logsumexp, softmax

    rng = np.random.default_rng(0)
    cos = rng.uniform(-1, 1, (50, 7))
    np.testing.assert_allclose(metrics.ood_score(cos, "msp"), softmax(100 * cos, 1).max(1),
                               rtol=1e-5)
    np.testing.assert_allclose(metrics.ood_score(cos, "max_logit"), cos.max(1), rtol=1e-6)
    np.testing.assert_allclose(metrics.ood_score(cos, "energy"), logsumexp(100 * cos, 1),
                               rtol=1e-5)
    np.testing.assert_allclose(metrics.ood_score(cos, "mcm"), softmax(cos, 1).max(1), rtol=1e-5)
    np.testing.assert_allclose(metrics.ood_score(cos, "mcm", 0.5), softmax(cos / 0.5, 1).max(1),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="unknown OOD score 'odin'"):
        metrics.ood_score(cos, "odin")
    with pytest.raises(ValueError, match="at least 2 ID classes"):
        metrics.ood_score(cos[:, :1], "msp")
