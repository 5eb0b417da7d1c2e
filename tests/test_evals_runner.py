"""jclip.evals.evaluate: task checking, result files, the feature cache, clear errors."""

import json
import os

import numpy as np
import pytest

from jclip import evals
from jclip.evals import datasets as datasets_lib
from jclip.evals.encode import EvalContext
from tests.helpers.models import SHAPES3, tiny_model

SCENES = {"num_examples": 40, "options": {"shapes": SHAPES3, "max_count": 3}}


def _task(**kw):
    return {"type": "zeroshot_classification", "dataset": "jclip_shapes/counting",
            "data": dict(SCENES), **kw}


def test_results_carry_clip_benchmark_keys_and_are_written(tmp_path):
    model, params, tok = tiny_model()
    results = evals.evaluate(model, params, tok, [_task(name="count"), {
        "type": "zeroshot_retrieval", "dataset": "jclip_shapes/counting", "recall_k": [1, 2],
        "data": dict(SCENES)}], workdir=str(tmp_path), model_name="tiny")
    count, retrieval = results
    assert set(count["metrics"]) == {"acc1", "acc5", "mean_per_class_recall"}
    assert set(retrieval["metrics"]) == {"image_retrieval_recall@1", "text_retrieval_recall@1",
                                         "image_retrieval_recall@2", "text_retrieval_recall@2"}
    for r in results:
        assert r["model"] == "tiny" and r["num_examples"] == 40 and r["jclip_version"]
        assert r["timings"]["total_s"] > 0
    written = json.loads((tmp_path / "count.json").read_text())
    assert written["metrics"]["acc1"] == count["metrics"]["acc1"]
    assert (tmp_path / "zeroshot_retrieval__jclip_shapes_counting.json").is_file()


def test_a_second_task_on_the_same_data_does_not_re_encode(tmp_path, monkeypatch):
    model, params, tok = tiny_model()
    ctx = EvalContext(model, params, tok, cache_dir=str(tmp_path))
    calls = []
    encode = EvalContext._encode_split
    monkeypatch.setattr(EvalContext, "_encode_split",
                        lambda self, data: calls.append(data.name) or encode(self, data))
    first, second = evals.evaluate(model, params, tok, [
        _task(), {"type": "zeroshot_retrieval", "dataset": "jclip_shapes/counting",
                  "data": dict(SCENES), "recall_k": [1]}], context=ctx)
    assert calls == ["jclip_shapes/counting"]
    assert "image_encode_s" in first["timings"] and "image_encode_s" not in second["timings"]
    # A new context (another process, a later run) reads the features from cache_dir.
    fresh = EvalContext(model, params, tok, cache_dir=str(tmp_path))
    [again] = evals.evaluate(model, params, tok, [_task()], context=fresh)
    assert calls == ["jclip_shapes/counting"] and "cache_read_s" in again["timings"]
    for key in ("acc1", "mean_per_class_recall"):
        assert again["metrics"][key] == first["metrics"][key]
    # Other params: another fingerprint, so no stale features.
    other = dict(params, logit_scale=params["logit_scale"] + 1.0)
    assert EvalContext(model, other, tok).fingerprint != ctx.fingerprint


def test_bf16_precision_gives_close_features():
    model, params, tok = tiny_model()
    data = datasets_lib.get_eval_data("jclip_shapes/counting", **SCENES)
    f32 = EvalContext(model, params, tok).image_features(data).features
    bf16 = EvalContext(model, params, tok, precision="bf16").image_features(data).features
    assert f32.dtype == bf16.dtype == np.float32
    np.testing.assert_allclose(bf16, f32, atol=5e-2)


@pytest.mark.parametrize("task, error, match", [
    ({"type": "zero_shot", "dataset": "cifar10"}, ValueError, "known tasks: .*fewshot"),
    ({"type": "zeroshot_classification"}, ValueError, "needs a 'dataset'"),
    ({"type": "linear_probe", "dataset": "cifar10", "recall_k": [1]}, TypeError,
     r"unknown key\(s\) \['recall_k'\]"),
    ({"type": "zeroshot_classification", "dataset": "cifar11"}, ValueError,
     "unknown dataset 'cifar11'. Known: catalog datasets: .*cifar10"),
    ({"type": "zeroshot_classification", "dataset": "jclip_shapes/counts"}, ValueError,
     "unknown jclip_shapes config 'counts'"),
    ({"type": "zeroshot_classification", "dataset": "jclip_shapes/counting",
      "data": {"label": "size"}}, ValueError, "has labels"),
    ({"type": "zeroshot_classification", "dataset": "cifar10", "data": {"label": "x"}},
     TypeError, "takes no options"),
])
def test_bad_tasks_fail_before_any_encoding(task, error, match, monkeypatch):
    model, params, tok = tiny_model()
    monkeypatch.setattr(EvalContext, "_encode_split", lambda *a: pytest.fail("encoded"))
    with pytest.raises(error, match=match):
        evals.evaluate(model, params, tok, [_task(), task])


def test_bad_settings_are_refused():
    model, params, tok = tiny_model()
    with pytest.raises(ValueError, match="precision must be one of"):
        EvalContext(model, params, tok, precision="fp16")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        EvalContext(model, params, tok, batch_size=0)
    with pytest.raises(ValueError, match="no tasks"):
        evals.evaluate(model, params, tok, [])


def test_a_split_that_loses_examples_is_an_error():
    import dataclasses

    model, params, tok = tiny_model()
    data = datasets_lib.get_eval_data("jclip_shapes/counting", **SCENES)
    short = dataclasses.replace(data, expected_examples=lambda: 41)
    with pytest.raises(ValueError, match="read 40 examples, the split has 41"):
        EvalContext(model, params, tok).image_features(short)


def test_collections_expand_in_order_once():
    datasets_lib.COLLECTIONS["_test"] = ("a", "b")
    try:
        assert datasets_lib.expand(["b", "_test", "c"]) == ["b", "a", "c"]
    finally:
        del datasets_lib.COLLECTIONS["_test"]


def test_batches_split_over_the_local_devices_give_the_same_features():
    import jax

    model, params, tok = tiny_model()
    data = datasets_lib.get_eval_data("jclip_shapes/counting", **SCENES)
    one = EvalContext(model, params, tok, batch_size=16, shard=False).image_features(data)
    n = len(jax.local_devices())
    assert n == 8  # tests/conftest.py: 8 CPU devices
    split = EvalContext(model, params, tok, batch_size=16, shard=True).image_features(data)
    np.testing.assert_allclose(split.features, one.features, atol=1e-5)
    np.testing.assert_array_equal(split.labels, one.labels)
    with pytest.raises(ValueError, match="divisible by the 8 local devices"):
        EvalContext(model, params, tok, batch_size=12, shard=True).image_features(data)


def test_catalog_datasets_run_through_the_tasks_with_mock_data():
    import tensorflow_datasets as tfds

    from tests.helpers.models import HashTokenizer

    model, params, tok = tiny_model()
    with tfds.testing.mock_data(num_examples=12):
        results = evals.evaluate(model, params, HashTokenizer(tok), [
            {"type": "zeroshot_classification", "dataset": "cifar10"},
            {"type": "zeroshot_classification", "dataset": "imagenetv2",  # CLIP_benchmark name
             "templates": ["a photo of a {}."]},
            {"type": "zeroshot_retrieval", "dataset": "mscoco_captions", "recall_k": [1, 5]},
        ], batch_size=8)
    cifar, imagenet_v2, coco = results
    assert [r["num_examples"] for r in results] == [12, 12, 12]
    assert cifar["task_config"]["dataset"] == "cifar10" and 0 <= cifar["metrics"]["acc1"] <= 1
    assert imagenet_v2["dataset"] == "imagenetv2" and imagenet_v2["split"] == "test"
    assert coco["num_texts"] >= 12 and 0 <= coco["metrics"]["text_retrieval_recall@5"] <= 1


def test_the_disk_cache_is_keyed_by_file_content(tmp_path, monkeypatch, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "test"
    paths = []
    for i, name in enumerate(["circle", "circle", "square", "square"]):
        path = folder / name / f"{i}.bmp"  # uncompressed: a new image has the same size
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    model, params, tok = tiny_model()
    calls = []
    encode = EvalContext._encode_split
    monkeypatch.setattr(EvalContext, "_encode_split",
                        lambda self, data: calls.append(data.name) or encode(self, data))
    spec = f"folder:{tmp_path / 'data'}"

    def features():
        ctx = EvalContext(model, params, tok, cache_dir=str(tmp_path / "cache"))
        return ctx.image_features(datasets_lib.get_eval_data(spec)).features

    first = features()
    np.testing.assert_array_equal(features(), first)
    assert len(calls) == 1  # the second context read the cache
    # Replace one image by another of the same size, keeping its modification time (cp -p).
    stat = paths[0].stat()
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(paths[0])
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert paths[0].stat().st_size == stat.st_size
    assert datasets_lib.get_eval_data(spec).fingerprint == datasets_lib.get_eval_data(
        spec).fingerprint
    changed = features()
    assert len(calls) == 2  # encoded again: the content changed
    assert not np.allclose(changed[0], first[0]) and np.allclose(changed[1:], first[1:])
    # An unreadable cache entry (a truncated file) is a miss, said so, and rewritten.
    [entry] = [p for p in (tmp_path / "cache").iterdir() if os.path.getmtime(p) == max(
        os.path.getmtime(q) for q in (tmp_path / "cache").iterdir())]
    entry.write_bytes(entry.read_bytes()[:50])
    np.testing.assert_array_equal(features(), changed)
    assert len(calls) == 3 and "feature cache" in capsys.readouterr().err
    np.testing.assert_array_equal(features(), changed)
    assert len(calls) == 3
