"""CE, mCE and relative mCE (Hendrycks & Dietterich, 2019) against float64 loops of the paper's
definitions, and their edge cases."""

import numpy as np
import pytest

from jclip import metrics
from jclip.metrics import corruption_error as ce


def _loops(err, clean, base, base_clean):
    """The paper's formulas, one corruption and one severity at a time."""
    ces, rels = [], []
    for c in err:
        num = den = rnum = rden = 0.0
        for s in range(len(err[c])):
            num += err[c][s]
            den += base[c][s]
            rnum += err[c][s] - clean
            rden += base[c][s] - base_clean
        ces.append(num / den)
        rels.append(rnum / rden)
    return float(np.mean(ces)), float(np.mean(rels)), ces, rels


def test_matches_the_definitions_on_random_errors():
    rng = np.random.default_rng(0)
    for _ in range(20):
        names = [f"c{i}" for i in range(rng.integers(1, 16))]
        err = {c: list(rng.uniform(0.2, 1.0, 5)) for c in names}
        base = {c: list(rng.uniform(0.4, 1.0, 5)) for c in names}
        clean, base_clean = rng.uniform(0, 0.2), rng.uniform(0, 0.3)
        mce, rel, ces, rels = _loops(err, clean, base, base_clean)
        assert metrics.mean_corruption_error(err, base) == pytest.approx(mce, rel=1e-12)
        assert metrics.relative_mean_corruption_error(err, clean, base, base_clean) == \
            pytest.approx(rel, rel=1e-12)
        np.testing.assert_allclose(list(metrics.corruption_errors(err, base).values()), ces)
        np.testing.assert_allclose(list(metrics.relative_corruption_errors(
            err, clean, base, base_clean).values()), rels)


def test_the_baseline_against_itself_is_one_and_mappings_equal_sequences():
    base = {"fog": [0.5, 0.6, 0.7], "snow": [0.4, 0.45, 0.9]}
    assert metrics.mean_corruption_error(base, base) == pytest.approx(1.0)
    assert metrics.relative_mean_corruption_error(base, 0.2, base, 0.2) == pytest.approx(1.0)
    as_map = {c: {str(i + 1): v for i, v in enumerate(vs)} for c, vs in base.items()}
    half = {c: [v / 2 for v in vs] for c, vs in base.items()}
    assert metrics.mean_corruption_error(half, as_map) == pytest.approx(0.5)


def test_errors_from_accuracy_and_a_worked_example():
    acc = {"fog": {"1": 0.8, "2": 0.6}}
    assert ce.errors_from_accuracy(acc) == {"fog": {"1": pytest.approx(0.2),
                                                    "2": pytest.approx(0.4)}}
    # CE = (0.2 + 0.4) / (0.5 + 0.7) = 0.5; relative = (0.1 + 0.3) / (0.3 + 0.5) = 0.5
    base = {"fog": {"1": 0.5, "2": 0.7}}
    assert metrics.mean_corruption_error(ce.errors_from_accuracy(acc), base) == \
        pytest.approx(0.5)
    assert metrics.relative_mean_corruption_error(ce.errors_from_accuracy(acc), 0.1, base,
                                                  0.2) == pytest.approx(0.5)


@pytest.mark.parametrize("call, match", [
    (lambda: metrics.mean_corruption_error({"fog": [0.5]}, {"snow": [0.5]}),
     r"baseline has no errors for corruption\(s\) \['fog'\]"),
    (lambda: metrics.mean_corruption_error({"fog": [0.5, 0.6]}, {"fog": [0.5]}),
     "severities .* differ"),
    (lambda: metrics.mean_corruption_error({"fog": [55.0]}, {"fog": [0.5]}),
     "not an error in \\[0, 1\\].*percentages"),
    (lambda: metrics.mean_corruption_error({"fog": [0.5]}, {"fog": [0.0]}),
     "baseline's errors sum to 0"),
    (lambda: metrics.relative_mean_corruption_error({"fog": [0.5]}, 0.1, {"fog": [0.3]}, 0.3),
     "relative CE is undefined"),
    (lambda: metrics.mean_corruption_error({}, {"fog": [0.5]}), "non-empty mapping"),
    (lambda: metrics.mean_corruption_error({"fog": [float("nan")]}, {"fog": [0.5]}),
     "not an error"),
])
def test_bad_errors_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
