"""jclip.evals tasks against independent float64 numpy / sklearn computations of the protocols."""

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from jclip import evals
from jclip.data import shapes
from jclip.evals import fewshot, linear_probe
from tests.helpers.features import image_features, reference_classifier, text_features
from tests.helpers.models import SHAPES3, tiny_model

N = 96
OPTS = {"shapes": SHAPES3, "max_count": 4}


def _scenes(generator, seed, split_id=1, n=N, **opts):
    return shapes.generate(generator, n, (seed, split_id), **opts)


def _topk(logits, labels, k):
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return float(np.mean([labels[i] in top[i] for i in range(len(labels))]))


@pytest.mark.parametrize("generator, config_name, label", [
    ("attributes", "attributes", "color"),  # 6 classes: acc5 reported
    ("counting", "counting", "count"),  # counts 1..4: the class subset, acc5 = nan
])
def test_zeroshot_classification_equals_the_reference(generator, config_name, label):
    model, params, tok = tiny_model()
    seed = 3
    opts = dict(OPTS) if generator == "counting" else {"shapes": SHAPES3}
    [result] = evals.evaluate(model, params, tok, {
        "type": "zeroshot_classification", "dataset": f"jclip_shapes/{config_name}",
        "data": {"label": label, "num_examples": N, "seed": seed, "options": opts}})
    scenes = _scenes(generator, seed, **opts)
    names = shapes.classnames(generator, label, **opts)
    labels = np.asarray(scenes[label])
    if label == "count":
        names, labels = names[1:], labels - 1  # count ids 1..4 -> subset positions 0..3
    classifier = reference_classifier(names, shapes.templates(generator, label))
    logits = 100 * image_features(scenes["image"]) @ classifier
    m = result["metrics"]
    assert result["num_examples"] == N and result["dataset"] == f"jclip_shapes/{config_name}"
    assert abs(m["acc1"] - float(np.mean(logits.argmax(1) == labels))) <= 1 / N
    assert abs(m["mean_per_class_recall"]
               - balanced_accuracy_score(labels, logits.argmax(1))) <= 1 / N
    if len(names) >= 5:
        assert abs(m["acc5"] - _topk(logits, labels, 5)) <= 1 / N
    else:
        assert np.isnan(m["acc5"])  # as CLIP_benchmark: no top-5 with fewer than 5 classes


def _recall_reference(zimg, ztxt, owner, k):
    """CLIP_benchmark's recall definitions on the full similarity matrix."""
    scores = ztxt @ zimg.T  # [T, I]
    top_img = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    image_recall = np.mean([owner[t] in top_img[t] for t in range(len(owner))])
    top_txt = np.argsort(-scores.T, axis=1, kind="stable")[:, :k]
    text_recall = np.mean([np.any(owner[top_txt[i]] == i) for i in range(len(zimg))])
    return image_recall, text_recall


def test_zeroshot_retrieval_equals_the_reference():
    model, params, tok = tiny_model()
    [result] = evals.evaluate(model, params, tok, {
        "type": "zeroshot_retrieval", "dataset": "jclip_shapes/counting", "recall_k": [1, 5],
        "data": {"num_examples": N, "seed": 5, "options": OPTS, "distinct_captions": True}})
    scenes = _scenes("counting", 5, **OPTS)
    rows = np.sort(np.unique(scenes["caption"], return_index=True)[1])
    zimg = image_features(scenes["image"][rows])
    captions = [str(c) for c in scenes["caption"][rows]]
    ztxt = text_features(captions)
    assert result["num_examples"] == len(rows) == result["num_texts"]
    for k in (1, 5):
        image_recall, text_recall = _recall_reference(zimg, ztxt, np.arange(len(rows)), k)
        m = result["metrics"]
        assert abs(m[f"image_retrieval_recall@{k}"] - image_recall) <= 1 / len(rows)
        assert abs(m[f"text_retrieval_recall@{k}"] - text_recall) <= 1 / len(rows)


def test_linear_probe_uses_disjoint_splits_and_scores_like_sklearn():
    model, params, tok = tiny_model()
    task = {"type": "linear_probe", "dataset": "jclip_shapes/attributes",
            "data": {"label": "shape", "num_examples": N, "seed": 1,
                     "options": {"shapes": SHAPES3}}}
    [result] = evals.evaluate(model, params, tok, task)
    assert result["split"] == "test" and result["train_split"] == "train"
    assert result["num_examples"] == result["num_train"] == N
    # Independent: sklearn's multinomial logistic regression at the chosen strength on the
    # same train features (C = 1 / (l2 * N), see adapt.fit_logistic_regression).
    train = _scenes("attributes", 1, split_id=0, shapes=SHAPES3)
    test = _scenes("attributes", 1, split_id=1, shapes=SHAPES3)
    x, xt = image_features(train["image"]), image_features(test["image"])
    clf = LogisticRegression(C=1.0 / (result["l2"] * N), max_iter=5000, tol=1e-10)
    clf.fit(x, train["shape"])
    pred = clf.predict(xt)
    assert abs(result["metrics"]["lp_acc1"] - np.mean(pred == test["shape"])) <= 2 / N


def test_validation_split_and_shots_are_disjoint_and_per_class():
    labels = np.repeat(np.arange(4), [10, 3, 2, 7])
    fit, val = linear_probe.split_validation(labels, 0.2, seed=0)
    assert not set(fit) & set(val) and len(fit) + len(val) == len(labels)
    assert set(labels[val]) == {0, 1, 2, 3}  # every class validated
    fit, val = fewshot.sample_shots(labels, range(4), k=4, seed=0)
    assert not set(fit) & set(val)
    assert np.bincount(labels[fit]).tolist() == [4, 2, 1, 4]  # k, or all but one image
    assert np.bincount(labels[val], minlength=4).tolist() == [4, 1, 1, 3]
    with pytest.raises(ValueError, match=r"classes \[1\] have fewer than 2"):
        fewshot.sample_shots(np.array([0, 0, 1]), range(2), k=2, seed=0)


def test_fewshot_reports_gda_probe_and_zero_shot():
    model, params, tok = tiny_model()
    [result] = evals.evaluate(model, params, tok, {
        "type": "fewshot", "dataset": "jclip_shapes/attributes", "fewshot_k": 4,
        "data": {"label": "color", "num_examples": N, "options": {"shapes": SHAPES3}}})
    m = result["metrics"]
    for prefix in ("gda_", "lp_", "zeroshot_"):
        assert 0 <= m[prefix + "acc1"] <= m[prefix + "acc5"] <= 1
    assert result["num_fit"] == len(shapes.COLORS) * 4 and result["fewshot_k"] == 4
    assert result["gda_alpha"] > 0


def test_classification_metrics_of_multilabel_rows():
    from jclip.evals.zeroshot_classification import classification_metrics

    logits = jnp.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 2.0]])
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]])  # the last row has no label
    out = classification_metrics(logits, labels)
    assert out["acc1"] == 0.5


def test_mean_average_precision_equals_sklearn_per_class():
    from sklearn.metrics import average_precision_score

    from jclip.evals.zeroshot_classification import mean_average_precision

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 7))
    targets = (rng.random((200, 7)) < 0.2).astype(int)
    targets[:, 3] = 0  # a class without positives counts as AP 0 (CLIP_benchmark's mean)
    expected = [average_precision_score(targets[:, c], scores[:, c]) if targets[:, c].any()
                else 0.0 for c in range(7)]
    assert mean_average_precision(scores, targets) == pytest.approx(np.mean(expected), abs=1e-12)
