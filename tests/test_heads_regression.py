"""Ridge / least-squares regression on frozen features against sklearn."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from jclip.heads import regression


@pytest.mark.parametrize("l2", [0.0, 0.1, 10.0])
def test_ridge_matches_sklearn(l2):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 6)), rng.normal(size=50)
    w, b = regression.ridge_fit(x, y, l2)
    ref = LinearRegression().fit(x, y) if l2 == 0 else Ridge(alpha=l2).fit(x, y)
    np.testing.assert_allclose(w, ref.coef_, rtol=1e-8, atol=1e-10)
    assert b == pytest.approx(ref.intercept_)
    np.testing.assert_allclose(regression.ridge_predict((w, b), x), ref.predict(x), rtol=1e-8)


def test_bad_regression_inputs():
    with pytest.raises(ValueError, match="at least 2 examples"):
        regression.ridge_fit(np.zeros((1, 3)), np.zeros(1))
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        regression.ridge_fit(np.zeros((4, 3)), np.zeros(4), -1.0)
