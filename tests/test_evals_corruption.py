"""The corruption eval task against a direct computation (corrupt, encode, classify), its seeding,
its bad keys (raised before any encoding) and the tfds ImageNet-C / CIFAR-10-C sets (mock)."""

import functools
import zlib

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

import jclip
from jclip import evals
from jclip.data import corruptions as C
from jclip.data import shapes
from jclip.evals import corruption
from jclip.evals.encode import EvalContext
from tests.helpers.models import SHAPES3, HashTokenizer, tiny_model

N = 24
DATA = {"num_examples": N, "seed": 2, "options": {"shapes": SHAPES3}}
TASK = {"type": "corruption", "dataset": "jclip_shapes/attributes", "data": DATA,
        "corruptions": ["contrast", "glass_blur"], "severities": [1, 4]}


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@functools.cache
def _encoders():
    model, params, tok = tiny_model()
    image = jax.jit(lambda x: model.apply({"params": params}, x, method="encode_image"))
    text = jax.jit(lambda t: model.apply({"params": params}, t, method="encode_text"))
    return lambda x: _unit(image(jclip.preprocess(x, model.config))), lambda s: _unit(text(tok(s)))


def _direct(images, name, severity, seed=0):
    """Corrupt each image with its (seed, crc32(name), severity, index) seed and encode it."""
    out = np.stack([C.corrupt(im, name, severity, seed=[seed, zlib.crc32(name.encode()),
                                                        severity, i])
                    for i, im in enumerate(images)])
    return _encoders()[0](out)


def _classifier(names, templates):
    text = _encoders()[1]
    return np.stack([_unit(text([t.format(n) for t in templates]).mean(0)) for n in names], 1)


@pytest.fixture(scope="module")
def scenes():
    return shapes.generate("attributes", N, (2, 1), shapes=SHAPES3)


def test_task_equals_corrupting_encoding_and_classifying_directly(scenes):
    model, params, tok = tiny_model()
    [result] = evals.evaluate(model, params, tok, TASK, progress=False, batch_size=N)
    names = list(shapes.classnames("attributes", "shape", shapes=SHAPES3))
    w = _classifier(names, shapes.templates("attributes", "shape"))
    labels = scenes["shape"]
    for name in TASK["corruptions"]:
        for severity in TASK["severities"]:
            pred = np.argmax(_direct(scenes["image"], name, severity) @ w, 1)
            expected = float(np.mean(pred == labels))
            assert result["accuracy"][name][str(severity)] == pytest.approx(expected, abs=1e-6)
            assert result["metrics"][f"{name}/{severity}/acc1"] == pytest.approx(expected,
                                                                                abs=1e-6)
    clean = np.argmax(_encoders()[0](scenes["image"]) @ w, 1)
    assert result["metrics"]["clean/acc1"] == pytest.approx(np.mean(clean == labels), abs=1e-6)
    cells = [a for per in result["accuracy"].values() for a in per.values()]
    assert result["metrics"]["mean/acc1"] == pytest.approx(np.mean(cells))
    assert result["num_examples"] == N and len(cells) == 4


@pytest.mark.parametrize("name", ["gaussian_noise", "glass_blur", "elastic_transform"])
def test_corrupted_features_equal_the_direct_ones_for_any_batch_size(scenes, name):
    model, params, tok = tiny_model()
    expected = _direct(scenes["image"], name, 3, seed=4)
    for batch_size in (5, 24):
        ctx = EvalContext(model, params, tok, batch_size=batch_size, progress=False)
        data = corruption.corrupted_data(ctx.dataset(TASK), name, 3, seed=4)
        feats = ctx.image_features(data).features
        np.testing.assert_allclose(feats, expected, atol=2e-5)
    other = corruption.corrupted_data(ctx.dataset(TASK), name, 3, seed=5)
    assert other.fingerprint != data.fingerprint
    assert not np.allclose(ctx.image_features(other).features, feats, atol=1e-4)


def test_crop_and_jpeg_quality_prepare_and_save_like_imagenet_c(scenes):
    model, params, tok = tiny_model()
    ctx = EvalContext(model, params, tok, batch_size=N, progress=False)
    data = corruption.corrupted_data(ctx.dataset(TASK), "contrast", 3, seed=1, crop=24,
                                     jpeg_quality=85)
    images = [C.corrupt(C.imagenet_crop(im, 24), "contrast", 3, jpeg_quality=85,
                        seed=[1, zlib.crc32(b"contrast"), 3, i])
              for i, im in enumerate(scenes["image"])]
    np.testing.assert_allclose(ctx.image_features(data).features,
                               _encoders()[0](np.stack(images)), atol=2e-5)
    [result] = evals.evaluate(model, params, tok, {**TASK, "corruptions": ["contrast"],
                                                   "severities": [3], "crop": 24}, context=ctx)
    crops = np.stack([C.imagenet_crop(im, 24) for im in scenes["image"]])
    names = list(shapes.classnames("attributes", "shape", shapes=SHAPES3))
    w = _classifier(names, shapes.templates("attributes", "shape"))
    clean = np.mean(np.argmax(_encoders()[0](crops) @ w, 1) == scenes["shape"])
    assert result["metrics"]["clean/acc1"] == pytest.approx(clean, abs=1e-6)


def test_baseline_gives_mce_and_relative_mce(scenes):
    model, params, tok = tiny_model()
    task = {**TASK, "corruptions": ["contrast", "pixelate"], "severities": [2, 5]}
    [first] = evals.evaluate(model, params, tok, task, progress=False)
    base = {"metrics": {"clean/acc1": 0.9},
            "accuracy": {"contrast": {"2": 0.5, "5": 0.2}, "pixelate": {"2": 0.7, "5": 0.4}}}
    [result] = evals.evaluate(model, params, tok, {**task, "baseline": base}, progress=False)
    err = {c: [1 - first["accuracy"][c][s] for s in ("2", "5")] for c in ("contrast", "pixelate")}
    base_err = {"contrast": [0.5, 0.8], "pixelate": [0.3, 0.6]}
    clean = 1 - first["metrics"]["clean/acc1"]
    ce = [sum(err[c]) / sum(base_err[c]) for c in err]
    rel = [sum(e - clean for e in err[c]) / sum(b - 0.1 for b in base_err[c]) for c in err]
    assert result["metrics"]["mce"] == pytest.approx(np.mean(ce))
    assert result["metrics"]["relative_mce"] == pytest.approx(np.mean(rel))
    assert result["ce"]["pixelate"] == pytest.approx(ce[1])


def test_all_runs_every_corruption_but_frost_without_its_images():
    names, skipped = corruption.resolve_corruptions("all")
    assert skipped == ["frost"] and len(names) == 18 and "frost" not in names
    assert len(corruption.resolve_corruptions("benchmark")[0]) == 15
    assert corruption.resolve_corruptions("extra")[0] == list(C.EXTRA)


@pytest.mark.parametrize("bad, match", [
    ({"severities": [0]}, "severity must be an int in 1..5, got 0"),
    ({"severities": [1, 6]}, "severity must be an int in 1..5, got 6"),
    ({"severities": []}, "severities must be a non-empty list"),
    ({"corruptions": ["fogg"]}, "unknown corruption.*fogg"),
    ({"corruptions": ["frost"]}, "frost images.*frost_dir"),
    ({"table": "tiny"}, "table must be None, 'imagenet' or 'cifar'"),
])
def test_bad_keys_fail_before_encoding(monkeypatch, bad, match):
    model, params, tok = tiny_model()
    calls = []
    monkeypatch.setattr(EvalContext, "_encode_split", lambda self, data: calls.append(data))
    with pytest.raises(ValueError, match=match):
        evals.evaluate(model, params, tok, {**TASK, **bad}, progress=False)
    assert calls == []


def test_tfds_corrupted_sets_read_one_config_per_cell():
    model, params, tok = tiny_model()
    tok = HashTokenizer(tok)
    task = {"type": "corruption", "dataset": "cifar10_corrupted",
            "corruptions": ["glass_blur", "elastic_transform"], "severities": [3]}
    with tfds.testing.mock_data(num_examples=6):
        ctx = EvalContext(model, params, tok, progress=False, batch_size=4)
        [result] = evals.evaluate(model, params, tok, task, context=ctx)
        for name, config in (("glass_blur", "frosted_glass_blur"),
                             ("elastic_transform", "elastic")):
            [direct] = evals.evaluate(model, params, tok, {
                "type": "zeroshot_classification", "dataset": f"cifar10_corrupted/{config}_3"},
                context=ctx)
            assert result["accuracy"][name]["3"] == pytest.approx(direct["metrics"]["acc1"])
        [clean] = evals.evaluate(model, params, tok, {"type": "zeroshot_classification",
                                                      "dataset": "cifar10"},
                                 context=ctx)
    assert result["metrics"]["clean/acc1"] == pytest.approx(clean["metrics"]["acc1"])
    assert result["num_examples"] == 6 and len(result["accuracy"]) == 2
    with pytest.raises(ValueError, match="precomputed corruptions"):
        evals.evaluate(model, params, tok, {**task, "table": "cifar"}, progress=False)


def test_cli_corruption_and_severity_flags(tmp_path, capsys):
    from jclip.evals import cli
    from tests.helpers.models import save_workdir

    workdir = save_workdir(tmp_path)
    base = ["--model", workdir, "--dataset", "jclip_shapes/attributes", "--quiet"]
    [(_, _, task, _)] = cli.plan(cli.build_parser().parse_args(
        base + ["--corruption", "contrast", "fog", "--severity", "2", "5"]))
    assert task["type"] == "corruption" and task["corruptions"] == ["contrast", "fog"]
    assert task["severities"] == [2, 5]
    [(_, _, task, _)] = cli.plan(cli.build_parser().parse_args(
        base + ["--task", "corruption", "--corruption", "extra"]))
    assert task["corruptions"] == "extra" and task["severities"] == [1, 2, 3, 4, 5]
    assert cli.main(base + ["--corruption", "contrast", "--severity", "6"]) == 2
    assert "severity must be an int in 1..5, got 6" in capsys.readouterr().err
    assert cli.main(base + ["--task", "linear_probe", "--corruption", "contrast"]) == 2
    assert "apply to --task corruption" in capsys.readouterr().err


@pytest.mark.parametrize("spec", sorted(corruption.TFDS_SETS))
def test_every_corruption_and_severity_names_a_tfds_config(spec):
    configs = set(tfds.builder_cls(spec).builder_configs)
    for name in C.CORRUPTIONS:
        config = corruption._TFDS_NAMES.get(spec, {}).get(name, name)
        assert {f"{config}_{s}" for s in range(1, 6)} <= configs, (spec, name)
