"""The counting task: argmax over one caption per count, checked against an independent numpy /
sklearn computation from the same features; equal to zero-shot classification's accuracy on the
scenes; CLEVR count_all under tfds's mock; CountBench's caption protocol on a fake local copy
with missing images reported; the plot."""

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from jclip.data import counterfactual as cf_lib
from jclip.evals import encode, runner
from tests.helpers.files import write_countbench
from tests.helpers.models import HashTokenizer, tiny_model

SCENES = dict(num_examples=48, seed=3, options=dict(image_size=32, min_count=2, max_count=6))


@pytest.fixture(scope="module")
def ctx():
    model, params, tok = tiny_model()
    return encode.EvalContext(model, params, tok, progress=False, batch_size=32)


def test_counting_on_scenes_matches_an_independent_computation(ctx, tmp_path):
    task = dict(type="counting", dataset="jclip_shapes/counting", data=dict(SCENES),
                plot=str(tmp_path / "c.png"))
    (res,) = runner.evaluate(None, None, None, [task], context=ctx)
    # Independent: numpy similarities of the same features with the prompt-ensembled words.
    data = ctx.dataset(runner.check_task(task))
    feats = ctx.image_features(data)
    y = feats.labels  # class id = count for the scenes
    words = [cf_lib.number_word(c) for c in range(2, 7)]
    templates = list(data.templates)
    z = np.stack([ctx.text_features([t.format(w) for t in templates]) for w in words])
    w = z.mean(1) / np.linalg.norm(z.mean(1), axis=1, keepdims=True)  # [5, D]
    pred = np.arange(2, 7)[np.argmax(np.float64(feats.features) @ np.float64(w).T, 1)]
    assert res["counts"] == [2, 3, 4, 5, 6] and res["num_examples"] == 48
    assert res["metrics"]["accuracy"] == pytest.approx(np.mean(pred == y))
    assert res["metrics"]["mae"] == pytest.approx(np.mean(np.abs(pred - y)))
    cm = confusion_matrix(y, pred, labels=[2, 3, 4, 5, 6])
    assert res["confusion_matrix"] == cm.tolist()
    for k, c in enumerate(range(2, 7)):
        if cm[k].sum():
            assert res["per_count_accuracy"][str(c)] == pytest.approx(cm[k, k] / cm[k].sum())
    assert (tmp_path / "c.png").stat().st_size > 1000
    # The same number as zero-shot classification over the count classes.
    zs = dict(type="zeroshot_classification", dataset="jclip_shapes/counting",
              data=dict(SCENES, label="count"))
    (zres,) = runner.evaluate(None, None, None, [zs], context=ctx)
    assert res["metrics"]["accuracy"] == pytest.approx(zres["metrics"]["acc1"])


def test_a_count_subset_leaves_the_other_images_out_and_counts_them(ctx):
    task = dict(type="counting", dataset="jclip_shapes/counting", data=dict(SCENES),
                counts=[2, 3], number_words={2: "two", 3: "three"})
    (res,) = runner.evaluate(None, None, None, [task], context=ctx)
    feats = ctx.image_features(ctx.dataset(runner.check_task(task)))
    inside = np.isin(feats.labels, [2, 3])
    assert res["num_examples"] == inside.sum() and res["num_outside_counts"] == (~inside).sum()
    assert np.sum(res["confusion_matrix"]) == inside.sum()


def test_clevr_count_all_under_mock_data(ctx):
    """VTAB's count_all: label = number of objects - 3, counts three..ten; a scene of 12
    objects is outside the classes and counted, not scored."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from jclip.data import shapes

    objects = [3, 5, 5, 10, 12]
    images = shapes.generate("counting", len(objects), 0, image_size=32, max_count=4)["image"]

    def as_dataset(self, split=None, **kwargs):
        def gen():
            for image, n in zip(images, objects):
                yield {"image": image, "objects": {"size": np.zeros(n, np.int64)}}

        return tf.data.Dataset.from_generator(gen, output_signature={
            "image": tf.TensorSpec((32, 32, 3), tf.uint8),
            "objects": {"size": tf.TensorSpec((None,), tf.int64)}})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        (res,) = runner.evaluate(None, None, None,
                                 [dict(type="counting", dataset="clevr_count_all")],
                                 context=ctx)
    assert res["counts"] == list(range(3, 11)) and res["split"] == "validation"
    assert res["num_examples"] == 4 and res["num_outside_counts"] == 1
    matrix = np.array(res["confusion_matrix"])
    assert matrix.sum(1).tolist() == [1, 0, 2, 0, 0, 0, 0, 1]  # true counts 3, 5, 5, 10


def test_countbench_caption_protocol_and_missing_images(tmp_path):
    model, params, tok = tiny_model()
    hashed = HashTokenizer(tok)
    ctx = encode.EvalContext(model, params, hashed, progress=False)
    root = write_countbench(tmp_path, missing=(2,))
    task = dict(type="counting", dataset=f"countbench:{root}", prompts="caption")
    (res,) = runner.evaluate(None, None, None, [task], context=ctx)
    assert res["data_report"]["missing_images"] == 2 - 1 and res["num_examples"] == 7
    assert res["counts"] == list(range(2, 11)) and res["caption_without_number"] == 0
    # Independent: each image against its caption with every number word, numpy argmax.
    data = ctx.dataset(runner.check_task(task))
    feats = ctx.image_features(data)
    pred = []
    for f, caps, count in zip(feats.features, feats.captions, feats.labels):
        word = cf_lib.number_word(int(count))
        texts = [caps[0].replace(word, cf_lib.number_word(c)) for c in range(2, 11)]
        z = ctx.text_features(texts)
        pred.append(2 + int(np.argmax(np.float64(z) @ np.float64(f))))
    assert res["metrics"]["accuracy"] == pytest.approx(np.mean(np.array(pred) == feats.labels))
    # The bare name reads the copy from data_dir; templates mode works on it too.
    ctx2 = encode.EvalContext(model, params, hashed, progress=False, data_dir=root)
    (res2,) = runner.evaluate(None, None, None, [dict(type="counting", dataset="countbench")],
                              context=ctx2)
    assert res2["num_examples"] == 7 and res2["data_report"]["missing_images"] == 1
