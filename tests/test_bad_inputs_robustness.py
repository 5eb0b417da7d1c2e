"""Bad inputs of the robustness tasks, metrics and study config: each raises the named exception
with a message saying what is wrong, before any encoding or training (one test line per case)."""

import numpy as np
import pytest

from experiments.robustness import run as study
from experiments.robustness.configs import micro
from jclip import metrics
from jclip.evals import calibration, runner
from jclip.evals.datasets import get_eval_data
from jclip.evals.registry import TASKS
from jclip.metrics import effective_robustness as er

SCENES = "jclip_shapes/spurious_texture"
DATA = dict(num_examples=8, seed=0, options=dict(image_size=32, shapes=("circle", "square")))


class NoModelContext:
    """Resolves datasets like ``EvalContext``; has no model, so a task that got past its checks
    fails with AttributeError instead of the expected error."""

    def dataset(self, task, split=None):
        return get_eval_data(task["dataset"], split or task.get("split"),
                             classnames=task.get("classnames"), **dict(task.get("data") or {}))


def _run(**task):
    checked = runner.check_task(task)
    return TASKS[checked["type"]].run(NoModelContext(), checked)


def _ood(**kw):
    return _run(**{**dict(type="ood", dataset=SCENES, split="test", data=DATA,
                          ood_dataset=SCENES, ood_split="test",
                          ood_data={**DATA, "options": {**DATA["options"],
                                                        "shapes": ("star", "cross")}}), **kw})


def _calibration(**kw):
    return _run(**{**dict(type="calibration", dataset=SCENES, split="test", data=DATA), **kw})


def _study(**changes):
    config = study.plain(micro.get_config())
    config.update(changes)
    study.check_config(config)


def _with_model(**model):
    config = study.plain(micro.get_config())
    config["models"][0] = {**config["models"][0], **model}
    study.check_config(config)


def _identical_ood_in_config():
    config = study.plain(micro.get_config())
    task = config["tasks"]["ood"]["unseen_shapes"]
    task["ood_data"] = task["data"]
    study.check_config(config)


CASES = [
    (lambda: _ood(ood_data=DATA), ValueError, "OOD set must differ from the ID set"),
    (lambda: _ood(scores=["odin"]), ValueError, "scores must be 'all' or a non-empty list"),
    (lambda: _ood(scores=[]), ValueError, "scores must be 'all' or a non-empty list"),
    (lambda: _ood(ood_dataset=None), ValueError, "ood_dataset needs a dataset spec"),
    (lambda: _ood(tpr=0.0), ValueError, r"tpr must lie in \(0, 1\]"),
    (lambda: metrics.ood_score(np.zeros((3, 1)), "mcm"), ValueError, "at least 2 ID classes"),
    (lambda: metrics.ood_score(np.zeros((3, 2)), "mcm", 0.0), ValueError,
     "temperature must be > 0"),
    (lambda: metrics.aupr([0.5], []), ValueError, "scores_neg is empty"),
    (lambda: er.logit_linear_fit([0.7], [0.5]), ValueError,
     "reference set of at least 2 models, got 1"),
    (lambda: er.logit_linear_fit([70.0, 80.0], [50.0, 60.0]), ValueError,
     r"fractions in \[0, 1\] \(not percent\)"),
    (lambda: er.logit_linear_fit([0.6, 0.6, 0.6], [0.5, 0.4, 0.3]), ValueError,
     "same ID accuracy"),
    (lambda: er.logit_linear_fit([0.6, 0.7], [0.5, 0.4, 0.3]), ValueError, "same length"),
    (lambda: _calibration(validation_split="test"), ValueError,
     "validation set must differ from the ID test set"),
    (lambda: _calibration(shifts=["cifar10", "cifar10"]), ValueError,
     "distinct names other than 'id'"),
    (lambda: _calibration(shifts=[dict(name="x")]), ValueError,
     "needs a dataset or a corruption"),
    (lambda: _calibration(shifts=[dict(dataset=SCENES, seed=1)]), TypeError,
     "a calibration shift takes name, dataset"),
    (lambda: _calibration(n_bins=0), ValueError, "n_bins must be a positive int"),
    (lambda: _calibration(shifts=[dict(name="more", dataset=SCENES, split="counter", data={
        **DATA, "options": {**DATA["options"], "shapes": ("circle", "square", "star")}})]),
     ValueError, "shift 'more' has 3 classes, the ID set 2"),
    (lambda: calibration.fit_temperature(np.zeros((2, 2)), [0, 1], (1.0, 0.5)), ValueError,
     "temperature_range must be 0 < low < high"),
    (lambda: _run(type="spurious", dataset="jclip_shapes/attributes"), ValueError,
     "needs a spurious config"),
    (lambda: _run(type="spurious", dataset="cifar10"), ValueError, "needs hard_dataset"),
    (lambda: _study(models=micro.get_config().models[:1]), ValueError,
     "at least 2 models .*effective-robustness fit.*got 1"),
    (lambda: _study(reference_model="resnet"), ValueError,
     "reference_model 'resnet' is not one of the models"),
    (lambda: _study(models=[micro.get_config().models[0]] * 2), ValueError,
     "model names must be distinct"),
    (lambda: _study(er_shifts=("imagenet_v2",)), ValueError,
     "er_shifts names 'imagenet_v2', which is not a shift"),
    (_identical_ood_in_config, ValueError, "the OOD set is the ID set"),
    (lambda: _with_model(source="openai/clip-vit-base-patch32"), ValueError,
     "needs exactly one of 'train'"),
    (lambda: _with_model(train=dict(correlation=1.5, steps=10)), ValueError,
     r"train.correlation must be in \[0, 1\]"),
    (lambda: _study(tasks={"id": micro.get_config().tasks.id.to_dict(), "adversarial": {}}),
     ValueError, "unknown task group"),
    (lambda: _study(tasks={}), ValueError, "needs tasks.id"),
]


@pytest.mark.parametrize("case, error, match", CASES, ids=[str(i) for i in range(len(CASES))])
def test_bad_input_is_named(case, error, match):
    with pytest.raises(error, match=match):
        case()
