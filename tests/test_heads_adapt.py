import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from jclip.heads import adapt


def _blobs(n_per=20, k=3, d=6, spread=0.6, seed=0, noise_seed=None):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d))
    labels = np.repeat(np.arange(k), n_per)
    if noise_seed is not None:
        rng = np.random.default_rng(noise_seed)
    x = centers[labels] + spread * rng.normal(size=(k * n_per, d))
    return x.astype(np.float32), labels


def _reference_gda(x, labels, k):
    x = x.astype(np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    n, d = x.shape
    mus = np.stack([x[labels == c].mean(0) for c in range(k)])
    centered = x - mus[labels]
    cov = np.cov(centered.T)  # re-centres; the mean of the centred rows is 0 anyway
    precision = d * np.linalg.pinv((n - 1) * cov + np.trace(cov) * np.eye(d))
    w = precision @ mus.T
    b = np.log(1 / k) - 0.5 * np.einsum("kd,de,ke->k", mus, precision, mus)
    return w, b


def test_gda_fit_matches_float64_reference():
    x, y = _blobs()
    w, b = adapt.gda_fit(x, y, 3)
    w_ref, b_ref = _reference_gda(x, y, 3)
    np.testing.assert_allclose(np.asarray(w), w_ref, rtol=2e-3, atol=2e-3 * np.abs(w_ref).max())
    np.testing.assert_allclose(np.asarray(b), b_ref, rtol=2e-3, atol=2e-3 * np.abs(b_ref).max())


def test_gda_alpha_selection_on_validation():
    x, y = _blobs(n_per=16, seed=1)
    xv, yv = _blobs(n_per=16, seed=1, noise_seed=5)  # same centres, new noise
    rng = np.random.default_rng(2)
    useless = rng.normal(size=(6, 3)).astype(np.float32)
    useless /= np.linalg.norm(useless, axis=0, keepdims=True)
    clf = adapt.gda(x, y, useless, xv, yv)
    # brute-force the same choice in numpy
    w, b = _reference_gda(x, y, 3)
    f = xv / np.linalg.norm(xv, axis=1, keepdims=True)
    accs = [np.mean(np.argmax(100 * f @ useless + a * (f @ w + b), 1) == yv)
            for a in adapt.GDA_ALPHAS]
    assert clf.alpha == adapt.GDA_ALPHAS[int(np.argmax(accs))]
    assert np.mean(np.argmax(np.asarray(clf(xv)), 1) == yv) == pytest.approx(max(accs))
    assert max(accs) > 0.8 and clf.alpha >= 1.0  # the useless text classifier is outweighed
    with pytest.raises(ValueError, match="needs a training example"):
        adapt.gda_fit(x[y < 2], y[y < 2], 3)


def test_logistic_regression_matches_sklearn():
    x, y = _blobs(n_per=30, spread=1.0, seed=3)
    l2 = 0.05
    w, b = adapt.fit_logistic_regression(x, y, 3, l2, max_iter=1000, tol=1e-7)
    ref = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-10, max_iter=10_000).fit(x, y)
    logits = x @ np.asarray(w) + np.asarray(b)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, ref.predict_proba(x), atol=2e-4)
    np.testing.assert_allclose(np.asarray(w), ref.coef_.T, atol=2e-3)


def test_linear_probe_picks_l2_on_validation_and_separates():
    grid = [1e-4, 1e-2, 1.0, 100.0]
    x, y = _blobs(n_per=12, spread=0.2, seed=4)
    xv, yv = _blobs(n_per=12, spread=0.2, seed=4, noise_seed=5)
    probe = adapt.linear_probe(x, y, xv, yv, num_classes=3, l2_grid=grid, max_iter=100)
    assert probe.val_accuracy == 1.0 and probe.l2 == 100.0  # all separate: ties -> strongest
    assert probe.weights.shape == (6, 3)
    # overlapping classes: the choice is the grid point with the best validation accuracy
    x, y = _blobs(n_per=12, spread=1.5, seed=6)
    xv, yv = _blobs(n_per=12, spread=1.5, seed=6, noise_seed=7)
    probe = adapt.linear_probe(x, y, xv, yv, num_classes=3, l2_grid=grid, refit=False,
                               max_iter=100)
    weights, bias = adapt.fit_logistic_regression(x, y, 3, np.array(grid[::-1]), max_iter=100)
    accs = [np.mean(np.argmax(xv @ np.asarray(w) + np.asarray(b), 1) == yv)
            for w, b in zip(weights, bias)]
    assert probe.val_accuracy == pytest.approx(max(accs))
    assert accs[grid[::-1].index(probe.l2)] == max(accs)
    assert np.linalg.norm(weights[-1]) > np.linalg.norm(weights[0])  # less penalty, larger W
