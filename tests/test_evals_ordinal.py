"""The ``ordinal`` task: metrics against scipy / numpy, rank orders (ordered class folders), and
the task on the scenes, on smallNORB and CLEVR (tfds mock data) and on a folder dataset."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image
from scipy import stats

from jclip.data import shapes
from jclip.evals import ordinal, registry, runner
from jclip.metrics.ordinal import per_rank_mae
from tests.helpers.models import tiny_model


def test_registered():
    assert registry.TASKS["ordinal"] is ordinal


def test_metrics_match_scipy_and_numpy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 200)
    argmax = np.clip(labels + rng.integers(-1, 2, 200), 0, 4)
    values = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    expected = values[argmax] + rng.normal(scale=0.5, size=200)
    m = ordinal.metrics_of(labels, argmax, expected, num_ranks=5, values=values)
    truth = values[labels]
    assert m["mae"] == pytest.approx(np.mean(np.abs(expected - truth)))
    assert m["mae_argmax"] == pytest.approx(np.mean(np.abs(values[argmax] - truth)))
    assert m["accuracy"] == pytest.approx(np.mean(argmax == labels))
    assert m["spearman"] == pytest.approx(stats.spearmanr(expected, truth).statistic, abs=1e-5)
    assert m["kendall_tau"] == pytest.approx(stats.kendalltau(expected, truth).statistic,
                                             abs=1e-6)
    loop = [np.mean(np.abs(expected - truth)[labels == r]) for r in range(5)]
    np.testing.assert_allclose(m["per_rank_mae"], loop, rtol=1e-9)
    matrix = np.array(m["confusion_matrix"])
    assert matrix.sum() == 200 and np.trace(matrix) == np.sum(argmax == labels)
    # a regression (no argmax): the nearest rank value counts for accuracy
    reg = ordinal.metrics_of(labels, None, truth + 0.4, num_ranks=5, values=values)
    assert reg["accuracy"] == 1.0 and reg["mae"] == pytest.approx(0.4)


def test_per_rank_mae_matches_a_loop_and_marks_empty_ranks():
    pred, target = np.array([0.5, 1.0, 3.0, 2.0]), np.array([0, 1, 3, 3])
    np.testing.assert_allclose(per_rank_mae(pred, target, 4), [0.5, 0.0, np.nan, 0.5])
    np.testing.assert_allclose(per_rank_mae(pred, target, 4, [1, 2, 4, 8]),
                               [0.5, 1.0, np.nan, 5.5])


def test_rank_orders():
    names = ["age_10", "age_2", "age_5"]  # folder ids follow the lexicographic order
    np.testing.assert_array_equal(ordinal.rank_order(names, "natural"), [2, 0, 1])
    np.testing.assert_array_equal(ordinal.rank_order(names, None), [0, 1, 2])
    np.testing.assert_array_equal(ordinal.rank_order(names, ["age_5", "age_10"]), [1, -1, 0])
    assert sorted(["10", "9", "100", "1"], key=ordinal.natural_key) == ["1", "9", "10", "100"]


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


def _task(dataset, **kw):
    return {"type": "ordinal", "dataset": dataset, **kw}


def test_task_on_the_scenes(tiny):
    model, params, tok = tiny
    [res] = runner.evaluate(model, params, tok, _task(
        "jclip_shapes/ordinal_size", data={"num_examples": 40, "options": {"image_size": 32}}),
        progress=False)
    m = res["metrics"]
    assert res["num_examples"] == 40 and len(res["per_rank_mae"]) == 5
    assert all(isinstance(v, float) for v in m.values())
    assert res["rank_names"] == ["tiny", "small", "medium", "large", "huge"]
    assert 0 <= m["accuracy"] <= 1 and m["mae"] >= 0 and np.sum(res["confusion_matrix"]) == 40


@pytest.mark.parametrize("spec, ranks", [("smallnorb_elevation", 9), ("smallnorb_azimuth", 18),
                                         ("vtab/clevr_closest_object_distance", 6)])
def test_task_on_tfds_ordinal_datasets_with_mock_data(tiny, spec, ranks):
    model, params, tok = tiny
    names = shapes.vocabulary()[:ranks]  # any distinct words the tiny model can read
    with tfds.testing.mock_data(num_examples=6):
        [res] = runner.evaluate(model, params, tok, _task(
            spec, rank_names=names, templates=["a photo of a {}"]), progress=False)
    assert res["num_examples"] == 6 and len(res["per_rank_mae"]) == ranks
    assert np.sum(res["confusion_matrix"]) == 6


def test_task_on_ordered_class_folders(tiny, tmp_path):
    model, params, tok = tiny
    rng = np.random.default_rng(0)
    for name, n in (("2", 2), ("10", 3), ("5", 1)):
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
                tmp_path / name / f"{i}.png")
    ctx_task = _task(f"folder:{tmp_path}", order="natural", rank_values=[2, 5, 10],
                     rank_names=["two", "five", "ten"], templates=["a photo of {} objects"])
    [res] = runner.evaluate(model, params, tok, ctx_task, progress=False)
    # folder ids: "10" -> 0, "2" -> 1, "5" -> 2; ranks: "2" -> 0, "5" -> 1, "10" -> 2
    assert np.array(res["confusion_matrix"]).sum(1).tolist() == [2, 1, 3]
    assert res["rank_names"] == ["two", "five", "ten"]
