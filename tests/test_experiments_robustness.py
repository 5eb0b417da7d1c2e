"""The robustness study end to end: the micro config on the scenes, the real config offline."""

import json
import os
import shutil

import numpy as np
import pytest

from experiments import common
from experiments.robustness import run as study
from experiments.robustness.configs import real
from jclip.metrics import effective_robustness as er


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("robustness"))
    config, seeds, workdir = common.parse_study_args(
        ["--config", "experiments/robustness/configs/micro.py", "--workdir", workdir],
        study="robustness", default_config=study.DEFAULT_CONFIG)
    return study.run(config, seeds, workdir), workdir


def test_micro_run_writes_the_summary_and_plots(micro_run):
    summary, workdir = micro_run
    with open(os.path.join(workdir, "summary.json")) as f:
        assert json.load(f)["seeds"] == [0]
    mean = summary["mean"]
    assert set(mean["corruptions"]) == {"gaussian_noise", "contrast"}
    assert set(mean["corruptions"]["contrast"]) == {"1", "3", "5"}
    assert set(mean["spurious"]) == {"0.33", "0.90"}
    for v in mean["spurious"].values():
        assert v["drop"] == pytest.approx(v["easy"] - v["hard"])
    assert set(mean["ood"]) == {"msp", "max_logit", "energy", "mcm"}
    assert set(mean["effective_robustness"]) == {"corr0.33", "corr0.9", "corr0.33-steps5"}
    assert {"ece", "ece_temperature_scaled"} <= set(mean["calibration"])
    assert summary["std"]["calibration"]["ece"] == 0.0  # one seed
    for name in ("severity", "effective", "reliability", "ood", "spurious"):
        assert os.path.getsize(os.path.join(workdir, f"robustness_{name}.png")) > 1000
    assert os.path.isfile(os.path.join(workdir, "seed_0", "evals", "corr0.9",
                                       "ood__unseen_shapes.json"))


def test_micro_numbers_agree_with_their_sources(micro_run):
    summary, workdir = micro_run
    seed = summary["per_seed"]["0"]
    models = seed["models"]
    # ER recomputed from the per-model accuracies with the metric's own fit.
    names = list(models)
    acc_id = [models[n]["id_acc1"] for n in names]
    acc_ood = [models[n]["corruption_mean_acc1"] for n in names]
    fit = er.logit_linear_fit(acc_id, acc_ood)
    np.testing.assert_allclose([seed["effective_robustness"][n] for n in names],
                               er.effective_robustness(acc_id, acc_ood, fit), atol=1e-12)
    # The per-seed table is read from the task results the run wrote.
    with open(os.path.join(workdir, "seed_0", "evals", "corr0.33", "corruption.json")) as f:
        corruption = json.load(f)
    assert seed["corruptions"] == corruption["accuracy"]
    with open(os.path.join(workdir, "seed_0", "evals", "corr0.9", "spurious.json")) as f:
        assert seed["spurious"]["0.90"]["hard"] == json.load(f)["metrics"]["hard/acc1"]
    assert models["corr0.9"]["train"] == {"correlation": 0.9, "steps": 20}


def _word_models(tmp_path, words):
    """Two HF-format folders with a word tokenizer: the small CLIP fixture and a copy with
    perturbed weights (one architecture, so the encoders compile once)."""
    import jax

    import jclip

    first = tmp_path / "hf_clip"
    shutil.copytree("tests/fixtures/models/hf_clip_quickgelu", first)
    model, params = jclip.load(str(first))
    leaves, tree = jax.tree.flatten(params)
    rng = np.random.default_rng(0)
    noisy = [x + 0.3 * np.std(x) * rng.normal(size=x.shape).astype(x.dtype) if x.ndim > 1 else x
             for x in map(np.asarray, leaves)]
    second = tmp_path / "hf_clip_noisy"
    jclip.save(model, jax.tree.unflatten(tree, noisy), str(second), format="hf")
    for folder in (first, second):  # the word tokenizer beside the HF files takes precedence
        jclip.pretrained.write_tokenizer(folder, jclip.tokenizer.WordTokenizer(sorted(words), 16))
    return [dict(name=folder.name, source=str(folder)) for folder in (first, second)]


def test_real_cifar_config_runs_offline_on_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    from jclip.data import registry
    from jclip.heads import prompts
    from jclip.tokenizer import WordTokenizer

    splitter = WordTokenizer(["a"])
    words = set()
    for name in ("cifar10", "cifar100", "svhn_cropped"):
        for template in prompts.dataset_templates(name):
            for c in registry.classnames(name):
                words |= set(splitter.split(template.format(c)))
    config = real.get_config("cifar")
    config.models = _word_models(tmp_path, words)
    config.reference_model = "hf_clip"
    tasks = config.tasks.to_dict()
    tasks["corruption"].update(dataset="cifar10", corruptions=["gaussian_noise"],
                               severities=[1])
    tasks["calibration"]["validation_split"] = "train"
    config.tasks = tasks
    with tfds.testing.mock_data(num_examples=8):
        summary = study.run(config, [0], str(tmp_path / "run"))
    seed = summary["per_seed"]["0"]
    assert set(seed["effective_robustness"]) == {"hf_clip", "hf_clip_noisy"}
    assert set(seed["models"]["hf_clip_noisy"]["ood"]) == {"cifar100", "svhn"}
    assert "cifar10_1" in seed["calibration"]["shifts"]


def test_real_imagenet_shifts_run_offline_on_mock_data(tmp_path):
    """ImageNet-V2 / -Sketch through the real config's tasks, one template to keep the 1000-class
    classifier small. (-A / -R are left out: tfds' mock data draws their labels from all 1000
    classes, which the 200-class subset rightly refuses.)"""
    import tensorflow_datasets as tfds

    from jclip.tokenizer import WordTokenizer

    # 1000 two-word class names over 40 words, so the vocabulary fits the 500-token fixture.
    alphabet = [f"w{i}" for i in range(40)]
    names = [f"{alphabet[i // 40]} {alphabet[i % 40]}" for i in range(1000)]
    words = set(WordTokenizer(["a"]).split("a photo of a .")) | set(alphabet)
    config = real.get_config("imagenet")
    config.models = _word_models(tmp_path, words)
    config.reference_model = "hf_clip"
    one = dict(templates=["a photo of a {}."], classnames=names)
    tasks = config.tasks.to_dict()
    config.tasks = {"id": {**tasks["id"], **one},
                    "shifts": {k: {**t, **one} for k, t in tasks["shifts"].items()
                               if k in ("imagenet_v2", "imagenet_sketch")}}
    config.er_shifts = ("imagenet_v2", "imagenet_sketch")
    config.er_primary = "imagenet_v2"
    with tfds.testing.mock_data(num_examples=6):
        summary = study.run(config, [0], str(tmp_path / "run"))
    seed = summary["per_seed"]["0"]
    assert set(seed["models"]["hf_clip_noisy"]["shifts"]) == {"imagenet_v2", "imagenet_sketch"}
    with open(tmp_path / "run" / "seed_0" / "evals" / "hf_clip_noisy" / "shifts__imagenet_v2.json"
              ) as f:
        result = json.load(f)
    assert result["num_examples"] == 6 and not np.isnan(result["metrics"]["acc5"])
    assert set(seed["effective_robustness"]) == {"hf_clip", "hf_clip_noisy"}
