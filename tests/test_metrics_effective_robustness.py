import numpy as np
import pytest
from scipy import stats
from scipy.special import expit
from scipy.special import logit as sp_logit

from jclip.metrics import effective_robustness as er


def _testbed(seed=0, m=12):
    rng = np.random.default_rng(seed)
    acc_id = rng.uniform(0.3, 0.95, m)
    acc_ood = expit(0.8 * sp_logit(acc_id) - 0.7 + rng.normal(0, 0.2, m))
    return acc_id, acc_ood


def test_fit_matches_scipy_linregress_on_logits():
    acc_id, acc_ood = _testbed()
    fit = er.logit_linear_fit(acc_id, acc_ood)
    want = stats.linregress(sp_logit(acc_id), sp_logit(acc_ood))
    assert fit["slope"] == pytest.approx(want.slope, rel=1e-10)
    assert fit["intercept"] == pytest.approx(want.intercept, rel=1e-10)
    assert fit["r"] == pytest.approx(want.rvalue, rel=1e-10)
    assert fit["num_models"] == 12


def test_effective_robustness_is_ood_minus_the_fit_prediction():
    acc_id, acc_ood = _testbed(1)
    want = stats.linregress(sp_logit(acc_id), sp_logit(acc_ood))
    fit = er.logit_linear_fit(acc_id, acc_ood)
    got = er.effective_robustness(acc_id, acc_ood, fit)
    np.testing.assert_allclose(got, acc_ood - expit(want.slope * sp_logit(acc_id)
                                                    + want.intercept), atol=1e-12)
    # On the reference set the logit residuals sum to zero, so ER changes sign.
    assert got.min() < 0 < got.max()
    # A model exactly on the line has ER 0; one 5 points above has ER 0.05.
    on_line = er.predicted_ood_accuracy(0.6, fit)[0]
    assert er.effective_robustness([0.6], [on_line], fit)[0] == pytest.approx(0.0, abs=1e-12)
    assert er.effective_robustness([0.6], [on_line + 0.05], fit)[0] == pytest.approx(0.05)


def test_perfect_accuracy_is_clipped_not_infinite():
    fit = er.logit_linear_fit([0.5, 0.9, 1.0], [0.4, 0.7, 0.99])
    assert np.isfinite(fit["slope"]) and np.isfinite(fit["intercept"])
    want = stats.linregress(sp_logit([0.5, 0.9, 1 - 1e-4]), sp_logit([0.4, 0.7, 0.99]))
    assert fit["slope"] == pytest.approx(want.slope)


@pytest.mark.parametrize("acc_id, acc_ood, match", [
    ([0.5], [0.4], "at least 2 models"),
    ([0.5, 0.6], [0.4], "same length"),
    ([50.0, 60.0], [0.4, 0.5], "fractions in"),
    ([0.5, 0.5], [0.4, 0.45], "same ID accuracy"),
    ([0.5, np.nan], [0.4, 0.45], "NaN"),
])
def test_bad_fits_are_named(acc_id, acc_ood, match):
    with pytest.raises(ValueError, match=match):
        er.logit_linear_fit(acc_id, acc_ood)
