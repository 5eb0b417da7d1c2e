"""The calibration task: temperature fitted on the validation split, ECE / NLL before and after,
against float64 numpy and a brute-force search over T."""

import numpy as np
import pytest
from scipy.special import log_softmax, softmax

from jclip import evals
from jclip.data import shapes
from jclip.evals import calibration
from tests.helpers.features import image_features, reference_classifier
from tests.helpers.models import SHAPES3, tiny_model

N = 64
OPTS = {"image_size": 32, "shapes": SHAPES3, "correlation": 1 / 3}


def _ece(probs, labels, bins=15):
    """Guo et al.'s ECE, bins (b/B, (b+1)/B], in float64."""
    conf, pred = probs.max(1), probs.argmax(1)
    total = 0.0
    for b in range(bins):
        inside = (conf > b / bins) & (conf <= (b + 1) / bins)
        if inside.any():
            total += inside.mean() * abs((pred[inside] == labels[inside]).mean()
                                         - conf[inside].mean())
    return total


def test_fit_temperature_is_the_nll_minimum():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 400)
    logits = rng.normal(0, 1, (400, 5)) * 8
    logits[np.arange(400), labels] += 6  # over-confident: the best T is > 1
    t = calibration.fit_temperature(logits, labels)
    grid = np.exp(np.linspace(np.log(0.05), np.log(50), 20001))
    nlls = [-log_softmax(logits / g, 1)[np.arange(400), labels].mean() for g in grid]
    assert t == pytest.approx(grid[int(np.argmin(nlls))], rel=1e-3)
    assert t > 1
    assert calibration.nll(logits, labels, t) == pytest.approx(min(nlls), rel=1e-6)


def test_calibration_task_equals_the_reference():
    model, params, tok = tiny_model()
    data = dict(num_examples=N, seed=2, options=OPTS)
    task = dict(type="calibration", dataset="jclip_shapes/spurious_texture", split="test",
                data=data, shifts=[dict(name="counter", dataset="jclip_shapes/spurious_texture",
                                        split="counter", data=data)])
    (result,) = evals.evaluate(model, params, tok, task, progress=False)
    m = result["metrics"]
    classifier = reference_classifier(SHAPES3, shapes.templates("spurious", "shape"))

    def logits_of(split, split_id):
        scenes = shapes.generate("spurious", N, (2, split_id), split=split, **OPTS)
        return 100 * image_features(scenes["image"]) @ classifier, scenes["shape"]

    val_logits, val_labels = logits_of("train", 0)
    t = calibration.fit_temperature(val_logits, val_labels)
    assert m["temperature"] == pytest.approx(t, rel=2e-3)
    for name, split, split_id in (("id", "test", 1), ("counter", "counter", 2)):
        logits, labels = logits_of(split, split_id)
        assert m[f"{name}/acc1"] == pytest.approx(np.mean(logits.argmax(1) == labels))
        assert m[f"{name}/ece"] == pytest.approx(_ece(softmax(logits, 1), labels), abs=2e-3)
        assert m[f"{name}/ece_temperature_scaled"] == pytest.approx(
            _ece(softmax(logits / t, 1), labels), abs=2e-3)
        assert m[f"{name}/nll_temperature_scaled"] == pytest.approx(
            -log_softmax(logits / t, 1)[np.arange(N), labels].mean(), rel=2e-3)
        diagram = result["reliability"][name]["after"]
        assert sum(diagram["count"]) == N and len(diagram["edges"]) == 16
    # The fitted T can only lower the validation NLL.
    assert m["validation/nll_temperature_scaled"] <= m["validation/nll"] + 1e-9


def test_validation_set_must_differ_and_shift_names_distinct():
    model, params, tok = tiny_model()
    data = dict(num_examples=N, seed=2, options=OPTS)
    task = dict(type="calibration", dataset="jclip_shapes/spurious_texture", split="test",
                data=data, validation_split="test")
    with pytest.raises(ValueError, match="validation set must differ from the ID test set"):
        evals.evaluate(model, params, tok, task, progress=False)
    with pytest.raises(ValueError, match="distinct names other than 'id'"):
        calibration.shift_sets(["cifar10", "cifar10"])
