"""jclip.evals metrics against CLIP_benchmark's own metric code, on the same weights and photos.

The reference: ``clip_benchmark.metrics.zeroshot_classification.evaluate`` and
``clip_benchmark.metrics.zeroshot_retrieval.evaluate`` (CLIP_benchmark 1.6) run on transformers'
PyTorch ``CLIPModel``: a small CLIP, initialised at random with a fixed seed and then given a few
contrastive steps on the test images (so that it is far from chance), saved with
``save_pretrained``. jclip loads the same folder with ``jclip.load`` and evaluates through
``jclip.evals.evaluate`` on ``folder:DIR`` and ``pairs:DIR`` datasets of the same image files.
Images: photographs of scikit-image and scikit-learn (crops and mirror images of them; some
grey-scale), written as PNG files; jclip decodes and preprocesses them with its own pipeline,
CLIP_benchmark gets a torch DataLoader that decodes them with PIL and runs transformers'
``CLIPImageProcessorPil``. Both sides use the same word tokenizer and the same templates
(written with CLIP_benchmark's ``{c}`` slot). The CLIP_benchmark side (model adapter, numpy-2
``accuracy``, datasets) is that of experiments/clip_benchmark_reference.py, which
experiments/bench_eval.py times.

Agreement is "within one example": two float32 implementations may rank a near-tie differently,
so each metric may differ by what one example changes (1/N for accuracies and recalls, the
smallest class's 1/(C n_c) for the mean per-class recall), and at most one image may be
classified differently. The features and the classifier behind the metrics are compared too.

The last test needs no torch: the classification and retrieval metrics of jclip.evals equal
numpy / scikit-learn computed from jclip's own features.
"""

import json
import os

import numpy as np
import pytest

import jclip
from jclip.tokenizer import WordTokenizer

# Class folder -> (photograph, number of views). Unequal class sizes, so that the mean
# per-class recall differs from the accuracy; "_" in a folder name reads as a space.
CLASSES = {
    "astronaut": ("astronaut", 4),
    "coffee_cup": ("coffee", 3),
    "cat": ("chelsea", 5),
    "rocket": ("rocket", 3),
    "temple": ("china", 4),
    "flower": ("flower", 4),
    "coins": ("coins", 3),  # grey-scale
    "galaxy": ("hubble_deep_field", 3),
    "eye": ("retina", 2),
    "man_with_camera": ("camera", 4),  # grey-scale
}
TEMPLATES = ["a photo of a {c}.", "a blurry photo of the {c}.", "a close-up photo of a {c}.",
             "art of the {c}.", "a bright photo of a small {c}."]
CAPTIONS = {  # photograph -> its captions (several per image)
    "astronaut": ["a woman in a white space suit.", "an astronaut smiling in front of a flag.",
                  "a portrait of an astronaut."],
    "chelsea": ["a ginger cat looking to the side.", "a cat with green eyes."],
    "coffee": ["a cup of coffee on a saucer.", "a red cup with a spoon.",
               "coffee seen from above."],
    "rocket": ["a rocket on the launch pad.", "a space rocket before launch."],
    "china": ["a temple on a hill.", "an old building among green trees."],
    "flower": ["a pink flower in close-up.", "a flower with yellow pollen.",
               "petals of a small flower."],
    "coins": ["old coins on a grey table.", "many small coins."],
    "hubble_deep_field": ["a field of distant galaxies.", "stars and galaxies in deep space."],
    "immunohistochemistry": ["a stained tissue sample.", "cells under a microscope."],
    "retina": ["a photo of a human retina.", "blood vessels of an eye."],
    "colorwheel": ["a wheel of colours.", "a circle of bright colours."],
    "camera": ["a man with a camera.", "a photographer on a field.", "a grey photo of a man."],
    "page": ["a page of printed text.", "a scanned old page."],
    "grass": ["grass in close-up.", "a texture of grey grass."],
}
CONTEXT = 20
RECALL_K = (1, 5, 10)


def _photo(name):
    from skimage import data
    from sklearn.datasets import load_sample_image

    if name in ("china", "flower"):
        return load_sample_image(f"{name}.jpg")
    return getattr(data, name)()


def _view(photo, v):
    """View v of a photograph: the whole, mirrored, crops of different shapes (some mirrored)."""
    h, w = photo.shape[:2]
    boxes = [(0, h, 0, w), (0, h, 0, w), (h // 5, h - h // 5, w // 5, w - w // 5),
             (0, 2 * h // 3, 0, 3 * w // 4), (h // 3, h, w // 2, w), (0, h, w // 4, w // 2)]
    top, bottom, left, right = boxes[v % len(boxes)]
    view = photo[top:bottom, left:right]
    return np.ascontiguousarray(view[:, ::-1] if v % 2 else view)


def _save_png(array, path):
    from PIL import Image

    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def photo_data(tmp_path_factory):
    """Writes the class folders and the captioned images -> their paths and ground truth."""
    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")
    root = tmp_path_factory.mktemp("photos")
    classes_dir, pairs_dir = root / "classes", root / "pairs"
    files, labels = [], []
    for label, folder in enumerate(sorted(CLASSES)):
        photo_name, views = CLASSES[folder]
        os.makedirs(classes_dir / folder)
        photo = _photo(photo_name)
        for v in range(views):
            path = str(classes_dir / folder / f"view{v}.png")
            _save_png(_view(photo, v), path)
            files.append(path)
            labels.append(label)
    os.makedirs(pairs_dir / "images")
    rows = []
    for i, (photo_name, captions) in enumerate(CAPTIONS.items()):
        name = f"images/{i:02d}_{photo_name}.png"
        _save_png(_view(_photo(photo_name), i), str(pairs_dir / name))
        rows += [{"image": name, "caption": c} for c in captions]
    rows = rows[1::2] + rows[::2]  # the captions of an image need not be adjacent
    with open(pairs_dir / "captions.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    order = list(dict.fromkeys(r["image"] for r in rows))  # images by first appearance
    return {"classes_dir": str(classes_dir), "pairs_dir": str(pairs_dir), "files": files,
            "labels": np.asarray(labels),
            "classnames": [c.replace("_", " ") for c in sorted(CLASSES)],
            "pair_files": [str(pairs_dir / name) for name in order],
            "captions": [[r["caption"] for r in rows if r["image"] == name] for name in order]}


def _tokenizer(classnames):
    texts = [t.format(c=c) for c in classnames for t in TEMPLATES]
    texts += [c for caps in CAPTIONS.values() for c in caps]
    splitter = WordTokenizer(list(WordTokenizer.PUNCTUATION))
    words = dict.fromkeys(w for text in texts for w in splitter.split(text))
    return WordTokenizer(list(words), context_length=CONTEXT)


def _tasks(data, templates=TEMPLATES, **classification):
    return [
        {"type": "zeroshot_classification", "dataset": f"folder:{data['classes_dir']}",
         "templates": list(templates), **classification},
        {"type": "zeroshot_retrieval", "dataset": f"pairs:{data['pairs_dir']}",
         "recall_k": list(RECALL_K)},
    ]


# ---------------------------------------------------------------------------------------------
# Against CLIP_benchmark on transformers' PyTorch CLIP


def _fit_briefly(hf, tok, data, steps=20):
    """A few Adam steps of CLIP's contrastive loss on the test's own images (class prompts for
    the class views, first captions for the captioned images), so that the model is far from
    chance and predicts many classes: a random-init model predicts one or two classes for
    every image, which would make the comparison weak. Deterministic (fixed seed, one thread)."""
    import torch

    from experiments import clip_benchmark_reference as bench_eval

    processor = bench_eval.clip_image_processor(hf.config.vision_config.image_size)
    pixels = lambda files: torch.from_numpy(processor(
        [bench_eval.read_rgb(f) for f in files], return_tensors="np")["pixel_values"])
    class_pixels, pair_pixels = pixels(data["files"]), pixels(data["pair_files"])
    labels = torch.as_tensor(data["labels"])
    first_captions = tok([caps[0] for caps in data["captions"]])
    ids = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.long)
    unit = lambda z: z / z.norm(dim=-1, keepdim=True)
    optimizer = torch.optim.Adam(hf.parameters(), lr=1e-3)
    hf.train()
    for step in range(steps):
        template = TEMPLATES[step % len(TEMPLATES)]
        prompts = tok([template.format(c=c) for c in data["classnames"]])
        scale = hf.logit_scale.exp()
        zimg = unit(hf.get_image_features(pixel_values=class_pixels).pooler_output)
        ztxt = unit(hf.get_text_features(input_ids=ids(prompts)).pooler_output)
        loss = torch.nn.functional.cross_entropy(scale * zimg @ ztxt.T, labels)
        zimg = unit(hf.get_image_features(pixel_values=pair_pixels).pooler_output)
        ztxt = unit(hf.get_text_features(input_ids=ids(first_captions)).pooler_output)
        logits, pairs = scale * zimg @ ztxt.T, torch.arange(len(zimg))
        loss = loss + (torch.nn.functional.cross_entropy(logits, pairs) +
                       torch.nn.functional.cross_entropy(logits.T, pairs)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return hf.eval()


@pytest.fixture(scope="module")
def torch_model(photo_data, tmp_path_factory):
    """(transformers CLIPModel, its save_pretrained folder, the shared tokenizer)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: one thread is fastest, and immune to a busy CPU
    tok = _tokenizer(photo_data["classnames"])
    config = transformers.CLIPConfig(
        text_config=dict(vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=256,
                         num_hidden_layers=2, num_attention_heads=4,
                         max_position_embeddings=CONTEXT, bos_token_id=tok.sot_id,
                         eos_token_id=tok.eos_id, pad_token_id=tok.pad_id),
        vision_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                           num_attention_heads=4, image_size=64, patch_size=16),
        projection_dim=32)
    torch.manual_seed(0)
    hf = _fit_briefly(transformers.CLIPModel(config), tok, photo_data)
    folder = str(tmp_path_factory.mktemp("hf_clip"))
    hf.save_pretrained(folder)
    yield hf, folder, tok
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clip_benchmark_results(photo_data, torch_model):
    """CLIP_benchmark's classification and retrieval metrics on the PyTorch model, and what
    they are computed from (unit image and caption features, its classifier, its predictions)."""
    pytest.importorskip("clip_benchmark")
    import torch
    from clip_benchmark.metrics import zeroshot_classification, zeroshot_retrieval

    from experiments import clip_benchmark_reference as bench_eval

    hf, _, tok = torch_model
    processor = bench_eval.clip_image_processor(hf.config.vision_config.image_size)
    adapter, tokenize = bench_eval.TorchCLIP(hf), bench_eval.torch_tokenizer(tok)
    images = bench_eval.ImageFiles(photo_data["files"], photo_data["labels"],
                                   photo_data["classnames"], processor)
    loader = torch.utils.data.DataLoader(images, batch_size=8, num_workers=0)
    with bench_eval.numpy2_accuracy():
        classification = zeroshot_classification.evaluate(
            adapter, loader, tokenize, photo_data["classnames"], TEMPLATES, device="cpu",
            amp=False)
    pairs = bench_eval.CaptionedImageFiles(photo_data["pair_files"], photo_data["captions"],
                                           processor)
    pair_loader = torch.utils.data.DataLoader(pairs, batch_size=4, num_workers=0,
                                              collate_fn=bench_eval.collate_captioned)
    retrieval = zeroshot_retrieval.evaluate(adapter, pair_loader, tokenize, device="cpu",
                                            amp=False, recall_k_list=list(RECALL_K))
    # what those metrics were computed from: CLIP_benchmark's classifier, the image and
    # caption features
    classifier = zeroshot_classification.zero_shot_classifier(
        adapter, tokenize, photo_data["classnames"], TEMPLATES, "cpu", amp=False).numpy()
    unit = lambda z: z / np.linalg.norm(z, axis=1, keepdims=True)
    with torch.no_grad():
        pixels = torch.stack([images[i][0] for i in range(len(images))])
        features = unit(adapter.encode_image(pixels).numpy())
        texts = [c for caps in photo_data["captions"] for c in caps]
        text_features = unit(adapter.encode_text(tokenize(texts)).numpy())
    logits, _ = zeroshot_classification.run_classification(
        adapter, torch.from_numpy(classifier), loader, "cpu", amp=False)
    return classification, retrieval, {"image": features, "classifier": classifier,
                                       "text": text_features,
                                       "predictions": logits.argmax(1).numpy()}


def _tolerances(photo_data):
    """What one example changes in each metric (see the module docstring)."""
    n, counts = len(photo_data["labels"]), np.bincount(photo_data["labels"])
    num_images, num_texts = len(photo_data["pair_files"]), sum(map(len, photo_data["captions"]))
    out = {"acc1": 1 / n, "acc5": 1 / n, "mean_per_class_recall": 1 / (len(counts) * counts.min())}
    for k in RECALL_K:
        out[f"image_retrieval_recall@{k}"] = 1 / num_texts  # one score per caption
        out[f"text_retrieval_recall@{k}"] = 1 / num_images  # one score per image
    return out


def test_numpy2_accuracy_matches_a_count():
    torch = pytest.importorskip("torch")
    from experiments.clip_benchmark_reference import topk_accuracy

    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]])
    target = torch.tensor([1, 2, 1, 0])
    assert topk_accuracy(scores, target, topk=(1, 2, 3)) == [2 / 4, 3 / 4, 4 / 4]


def test_metrics_match_clip_benchmark(photo_data, torch_model, clip_benchmark_results):
    _, folder, tok = torch_model
    cb_classification, cb_retrieval, cb_features = clip_benchmark_results
    # the reference run is not degenerate: spread-out features, far from chance and from 1
    unit = cb_features["image"]
    assert np.mean((unit @ unit.T)[~np.eye(len(unit), dtype=bool)]) < 0.5
    assert 0.3 < cb_classification["acc1"] < 1.0 and cb_retrieval["text_retrieval_recall@1"] > 0

    model, params = jclip.load(folder)
    results = jclip.evals.evaluate(model, params, tok, _tasks(photo_data, confusion_matrix=True),
                                   batch_size=8, progress=False)
    classification, retrieval = results
    assert classification["num_examples"] == len(photo_data["files"])
    assert retrieval["num_examples"] == len(photo_data["pair_files"])
    assert retrieval["num_texts"] == sum(map(len, photo_data["captions"]))
    tolerance = _tolerances(photo_data)
    for ours, theirs in ((classification, cb_classification), (retrieval, cb_retrieval)):
        assert set(theirs) <= set(ours["metrics"]), (sorted(theirs), sorted(ours["metrics"]))
        for key, want in theirs.items():
            got = ours["metrics"][key]
            assert abs(got - want) <= tolerance[key] + 1e-9, (key, got, want)
    # per image: the confusion matrices differ by at most one moved example
    from sklearn.metrics import confusion_matrix

    labels, num_classes = photo_data["labels"], len(photo_data["classnames"])
    reference = confusion_matrix(labels, cb_features["predictions"], labels=range(num_classes))
    moved = np.abs(np.asarray(classification["confusion_matrix"]) - reference).sum() // 2
    assert moved <= 1, f"{moved} images are classified differently from CLIP_benchmark"


def test_features_and_classifier_match_clip_benchmark(photo_data, torch_model,
                                                      clip_benchmark_results):
    """What the metrics are computed from agrees too: image features, CLIP_benchmark's
    ``zero_shot_classifier`` and the caption features (same images, weights, prompts)."""
    _, folder, tok = torch_model
    want = clip_benchmark_results[2]
    model, params = jclip.load(folder)
    ctx = jclip.evals.EvalContext(model, params, tok, batch_size=8, progress=False)
    task = jclip.evals.check_task(_tasks(photo_data)[0])
    feats = ctx.image_features(ctx.dataset(task))
    np.testing.assert_array_equal(feats.labels, photo_data["labels"])
    np.testing.assert_allclose(feats.features, want["image"], atol=2e-5, rtol=0)
    templates = list(jclip.prompts.check_templates(TEMPLATES))  # "{c}" -> "{}", as tasks do
    classifier = ctx.classifier(photo_data["classnames"], templates)
    np.testing.assert_allclose(classifier, want["classifier"], atol=2e-5, rtol=0)
    texts = [c for caps in photo_data["captions"] for c in caps]
    np.testing.assert_allclose(ctx.text_features(texts), want["text"], atol=2e-5, rtol=0)


@pytest.mark.parametrize("inputs", ["tensors", "files"])
def test_bench_eval_quick(tmp_path, inputs):
    """The benchmark's smoke run writes its report, and both sides agree on the metrics."""
    pytest.importorskip("torch")
    pytest.importorskip("clip_benchmark")
    from experiments import bench_eval

    out = tmp_path / "bench_eval.json"
    report = bench_eval.main(["--quick", "--inputs", inputs, "--workers", "0",
                              "--output", str(out)])
    saved = json.loads(out.read_text())
    assert saved["setup"]["inputs"] == inputs and saved["setup"]["precision"] == "fp32"
    for key in ("jclip_task1_s", "jclip_task2_s", "cb_task1_s", "cb_task2_s"):
        assert saved["median_s"][key] > 0
    assert set(saved["speedups"]) >= {"task1_speedup", "task2_speedup"}
    assert saved["meta"]["cpu_model"]
    assert report["metrics"]["max_abs_diff"] <= 1 / saved["setup"]["images"] + 1e-9
    from jclip.evals import datasets

    assert bench_eval.TENSOR_SOURCE not in datasets.SOURCES  # the run cleans up after itself


# ---------------------------------------------------------------------------------------------
# Without torch: against numpy / scikit-learn on jclip's own features


@pytest.fixture(scope="module")
def jclip_tiny(photo_data):
    """A small random-init jclip CLIP over the test vocabulary (no torch involved)."""
    import jax

    tok = _tokenizer(photo_data["classnames"])
    config = jclip.get_config("tiny-clip", image_size=64, patch_size=16,
                              vocab_size=tok.vocab_size, context_length=CONTEXT,
                              eos_token_id=tok.eos_id)
    model = jclip.create_model(config)
    params = jax.jit(model.init)(jax.random.key(1), np.zeros((1, 64, 64, 3), np.float32),
                                 np.zeros((1, CONTEXT), np.int32))["params"]
    return model, params, tok


def test_classification_metrics_match_numpy_and_sklearn(photo_data, jclip_tiny):
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix

    model, params, tok = jclip_tiny
    ctx = jclip.evals.EvalContext(model, params, tok, batch_size=8, progress=False)
    tasks = _tasks(photo_data, confusion_matrix=True)
    classification, retrieval = jclip.evals.evaluate(model, params, tok, tasks, context=ctx)

    # the same features, from the context's cache; labels as the folders were written
    feats = ctx.image_features(ctx.dataset(jclip.evals.check_task(tasks[0])))
    labels = photo_data["labels"]
    np.testing.assert_array_equal(feats.labels, labels)
    # the classifier, re-built from the prompts' text features: mean over templates, unit norm
    names = photo_data["classnames"]
    prompts = [t.format(c=c) for c in names for t in TEMPLATES]
    z = ctx.text_features(prompts).astype(np.float64).reshape(len(names), len(TEMPLATES), -1)
    classifier = z.mean(1)
    classifier /= np.linalg.norm(classifier, axis=1, keepdims=True)
    logits = 100.0 * feats.features.astype(np.float64) @ classifier.T
    top = np.argsort(-logits, axis=1, kind="stable")
    want = {"acc1": np.mean(top[:, 0] == labels),
            "acc5": np.mean(np.any(top[:, :5] == labels[:, None], axis=1)),
            "mean_per_class_recall": balanced_accuracy_score(labels, top[:, 0])}
    # no near-ties that float32 could order differently
    gap = np.sort(logits, 1)[:, -6:]
    assert np.min(np.diff(gap, axis=1)) > 1e-3
    for key, value in want.items():
        assert classification["metrics"][key] == pytest.approx(value, abs=1e-6), key
    np.testing.assert_array_equal(classification["confusion_matrix"],
                                  confusion_matrix(labels, top[:, 0], labels=range(len(names))))
    assert classification["class_names"] == names

    # retrieval: recall@k from the full similarity matrix
    images = ctx.image_features(ctx.dataset(jclip.evals.check_task(tasks[1])))
    assert images.captions == photo_data["captions"]
    texts = [c for caps in images.captions for c in caps]
    owner = np.repeat(np.arange(len(images.captions)), [len(c) for c in images.captions])
    sim = ctx.text_features(texts).astype(np.float64) @ images.features.astype(np.float64).T
    for k in RECALL_K:
        image_hit = np.any(np.argsort(-sim, 1)[:, :k] == owner[:, None], axis=1)
        text_ranked = owner[np.argsort(-sim.T, 1)[:, :k]]
        text_hit = np.any(text_ranked == np.arange(len(images.captions))[:, None], axis=1)
        assert retrieval["metrics"][f"image_retrieval_recall@{k}"] == pytest.approx(
            image_hit.mean(), abs=1e-6)
        assert retrieval["metrics"][f"text_retrieval_recall@{k}"] == pytest.approx(
            text_hit.mean(), abs=1e-6)


def test_mean_average_precision_equals_clip_benchmark():
    torch = pytest.importorskip("torch")
    zsc = pytest.importorskip("clip_benchmark.metrics.zeroshot_classification")
    from jclip.evals.zeroshot_classification import mean_average_precision

    rng = np.random.default_rng(1)
    scores = rng.normal(size=(300, 11)).astype(np.float32)
    targets = (rng.random((300, 11)) < 0.15).astype(np.int64)
    targets[:, 0] = 0
    theirs = zsc.average_precision_per_class(torch.from_numpy(scores), torch.from_numpy(targets))
    assert mean_average_precision(scores, targets) == pytest.approx(float(theirs.mean()),
                                                                    abs=1e-6)
