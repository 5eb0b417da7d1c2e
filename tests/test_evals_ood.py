"""The ood task against sklearn / scipy on independently computed zero-shot cosines."""

import numpy as np
import pytest
from scipy.special import logsumexp, softmax
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from jclip import evals
from jclip.data import shapes
from tests.helpers.features import image_features, reference_classifier
from tests.helpers.models import SHAPES3, tiny_model

N = 64
SCENES = "jclip_shapes/spurious_texture"
ID_OPTS = {"image_size": 32, "shapes": SHAPES3, "correlation": 1 / 3}
OOD_OPTS = {**ID_OPTS, "shapes": ("star", "diamond", "cross")}


def _task(**kw):
    return dict(type="ood", dataset="jclip_shapes/spurious_texture", split="test",
                data=dict(num_examples=N, seed=1, options=ID_OPTS), ood_dataset=
                "jclip_shapes/spurious_texture", ood_split="test",
                ood_data=dict(num_examples=N, seed=1, options=OOD_OPTS), **kw)


def _fpr(y, s, tpr=0.95):
    fpr, tpr_curve, _ = roc_curve(y, s, drop_intermediate=False)
    return fpr[np.searchsorted(tpr_curve, tpr, side="left")]


def test_ood_task_equals_sklearn_on_reference_scores():
    model, params, tok = tiny_model()
    (result,) = evals.evaluate(model, params, tok, _task(), progress=False)
    m = result["metrics"]
    # Independent float64 cosines of the ID and OOD scenes with the ID prompt ensemble.
    classifier = reference_classifier(SHAPES3, shapes.templates("spurious", "shape"))
    scenes_in = shapes.generate("spurious", N, (1, 1), split="test", **ID_OPTS)
    scenes_out = shapes.generate("spurious", N, (1, 1), split="test", **OOD_OPTS)
    cos_in = image_features(scenes_in["image"]) @ classifier
    cos_out = image_features(scenes_out["image"]) @ classifier
    reference = {"msp": lambda c: softmax(100 * c, 1).max(1), "max_logit": lambda c: c.max(1),
                 "energy": lambda c: logsumexp(100 * c, 1), "mcm": lambda c: softmax(c, 1).max(1)}
    y = np.r_[np.ones(N), np.zeros(N)]
    for name, fn in reference.items():
        s = np.r_[fn(cos_in), fn(cos_out)]
        assert m[f"{name}/auroc"] == pytest.approx(roc_auc_score(y, s), abs=2e-3), name
        assert m[f"{name}/aupr_in"] == pytest.approx(average_precision_score(y, s), abs=2e-3)
        assert m[f"{name}/aupr_out"] == pytest.approx(average_precision_score(1 - y, -s),
                                                      abs=2e-3)
        assert m[f"{name}/fpr95"] == pytest.approx(_fpr(y, s), abs=1 / N + 1e-6)
        assert m[f"{name}/fpr95_ood_positive"] == pytest.approx(_fpr(1 - y, -s), abs=1 / N + 1e-6)
    assert m["id_acc1"] == pytest.approx(np.mean(cos_in.argmax(1) == scenes_in["shape"]))
    assert result["num_examples"] == N and result["num_ood_examples"] == N
    hist = result["histograms"]["mcm"]
    assert sum(hist["id"]) == N and sum(hist["ood"]) == N and len(hist["edges"]) == 21


def test_scores_subset_and_unknown_score():
    model, params, tok = tiny_model()
    (result,) = evals.evaluate(model, params, tok, _task(scores=["mcm"]), progress=False)
    assert sorted(result["metrics"]) == sorted(
        [f"mcm/{k}" for k in ("auroc", "aupr_in", "aupr_out", "fpr95", "fpr95_ood_positive")]
        + ["id_acc1"])
    with pytest.raises(ValueError, match="scores must be 'all' or a non-empty list"):
        evals.evaluate(model, params, tok, _task(scores=["odin"]), progress=False)


def test_the_ood_set_must_differ_from_the_id_set():
    model, params, tok = tiny_model()
    task = _task()
    task["ood_data"] = task["data"]
    with pytest.raises(ValueError, match="OOD set must differ from the ID set"):
        evals.evaluate(model, params, tok, task, progress=False)


def test_command_line_plans_ood_calibration_and_spurious_tasks():
    from jclip.evals import cli

    parse = lambda *a: cli.build_parser().parse_args(["--model", "m", "--dataset", SCENES, *a])
    ((_, _, task, _),) = cli.plan(parse("--task", "ood", "--ood_dataset",
                                        "jclip_shapes/spurious_color"))
    assert task["type"] == "ood" and task["ood_dataset"] == "jclip_shapes/spurious_color"
    assert task["dataset"] == SCENES and task["scores"] == "all"
    ((_, _, task, _),) = cli.plan(parse("--task", "calibration"))
    assert task["type"] == "calibration" and task["n_bins"] == 15
    ((_, _, task, _),) = cli.plan(parse("--task", "spurious"))
    assert task["type"] == "spurious"
    with pytest.raises(ValueError, match="--task ood needs --ood_dataset"):
        cli.plan(parse("--task", "ood"))

