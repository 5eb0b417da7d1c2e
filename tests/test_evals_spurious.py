"""The spurious task: easy = typical backgrounds, hard = counter backgrounds, per class."""

import numpy as np
import pytest

from jclip import evals
from jclip.data import shapes
from jclip.evals import spurious
from tests.helpers.features import image_features, reference_classifier
from tests.helpers.models import SHAPES3, tiny_model

N = 64
OPTS = {"image_size": 32, "shapes": SHAPES3}


def test_spurious_task_equals_the_reference_per_class():
    model, params, tok = tiny_model()
    task = dict(type="spurious", dataset="jclip_shapes/spurious_texture",
                data=dict(num_examples=N, seed=4, options=OPTS))
    (result,) = evals.evaluate(model, params, tok, task, progress=False)
    classifier = reference_classifier(SHAPES3, shapes.templates("spurious", "shape"))
    easy = shapes.generate("spurious", N, (4, 1), split="test", correlation=1.0, **OPTS)
    hard = shapes.generate("spurious", N, (4, 2), split="counter", **OPTS)
    assert easy["typical"].all() and not hard["typical"].any()
    want = {}
    for name, scenes in (("easy", easy), ("hard", hard)):
        pred = (image_features(scenes["image"]) @ classifier).argmax(1)
        want[name] = [np.mean(pred[scenes["shape"] == c] == c) for c in range(3)]
        assert result["metrics"][f"{name}/acc1"] == pytest.approx(
            np.mean(pred == scenes["shape"]))
    m = result["metrics"]
    assert m["drop"] == pytest.approx(m["easy/acc1"] - m["hard/acc1"])
    for c, shape in enumerate(SHAPES3):
        got = result["per_class"][shape]
        assert got["easy"] == pytest.approx(want["easy"][c])
        assert got["hard"] == pytest.approx(want["hard"][c])
        assert got["drop"] == pytest.approx(want["easy"][c] - want["hard"][c])


def test_groups_and_errors():
    easy, hard = spurious.groups({**spurious.DEFAULTS, "dataset": "jclip_shapes/spurious_color",
                                  "data": {"seed": 1}})
    assert easy["split"] == "test" and easy["data"]["options"]["correlation"] == 1.0
    assert hard["split"] == "counter" and hard["data"] == {"seed": 1}
    with pytest.raises(ValueError, match="needs a spurious config"):
        spurious.groups({**spurious.DEFAULTS, "dataset": "jclip_shapes/attributes",
                         "data": None})
    with pytest.raises(ValueError, match="needs hard_dataset"):
        spurious.groups({**spurious.DEFAULTS, "dataset": "folder:/x", "split": None,
                         "data": None})
    recall = spurious.per_class_recall(np.eye(3)[[0, 1, 1]], np.array([0, 1, 0]), 4)
    np.testing.assert_allclose(recall[:3], [0.5, 1.0, np.nan])
