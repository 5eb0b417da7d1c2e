"""Evaluation pipeline: padding/masking, label mappings (mock tfds), per-process coverage."""

import collections
import hashlib

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jclip.data import pipeline, shapes_tfds


def _resize(images, size=8):
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size)), np.float32) / 255
                     for im in images])


def _raw(name, split, n):
    """The examples the mock serves for ``name``, in order."""
    return list(tfds.builder(name).as_dataset(split=split, shuffle_files=False)
                .take(n).as_numpy_iterator())


def test_last_batch_is_padded_and_masked_never_dropped():
    with tfds.testing.mock_data(num_examples=7):
        raw = _raw("cifar10", "test", 7)
        batches = list(pipeline.eval_dataset("cifar10", preprocess=None, batch_size=3,
                                             process_index=0, process_count=1))
    assert [b["mask"].tolist() for b in batches] == [[True] * 3, [True] * 3, [True, False, False]]
    images = np.concatenate([b["image"] for b in batches])
    labels = np.concatenate([b["label"] for b in batches])
    np.testing.assert_array_equal(images[:7], np.stack([ex["image"] for ex in raw]))
    np.testing.assert_array_equal(labels[:7], [ex["label"] for ex in raw])
    assert (images[7:] == 0).all() and (labels[7:] == 0).all()
    assert images.dtype == np.uint8 and labels.dtype == np.int64


def test_preprocess_is_applied_and_variable_sizes_need_it():
    with tfds.testing.mock_data(num_examples=5):
        batch = next(pipeline.eval_dataset("imagenet_r", preprocess=_resize, batch_size=4,
                                           process_index=0, process_count=1))
        assert batch["image"].shape == (4, 8, 8, 3) and batch["image"].dtype == np.float32
        with pytest.raises(ValueError, match="preprocess"):
            list(pipeline.eval_dataset("imagenet_r", preprocess=None, batch_size=4,
                                       process_index=0, process_count=1))


def _labels(name, n=6, **mock):
    with tfds.testing.mock_data(num_examples=n, **mock):
        info = pipeline.registry.get_dataset_info(name)
        raw = _raw(info.tfds_name, info.split, n)
        batches = list(pipeline.eval_dataset(name, preprocess=_resize, batch_size=n,
                                             process_index=0, process_count=1))
    assert len(batches) == 1 and batches[0]["mask"].all()
    return raw, batches[0]


def test_clevr_vtab_label_mappings():
    raw, batch = _labels("clevr_count_all", num_sub_examples=4)
    np.testing.assert_array_equal(batch["label"], [len(ex["objects"]["size"]) - 3 for ex in raw])
    raw, batch = _labels("clevr_closest_object_distance", num_sub_examples=4)
    thresholds = np.array([0.0, 8.0, 8.5, 9.0, 9.5, 10.0, 100.0])
    expected = [np.flatnonzero(thresholds < ex["objects"]["pixel_coords"][:, 2].min()).max()
                for ex in raw]
    np.testing.assert_array_equal(batch["label"], expected)


def test_multilabel_grayscale_and_retrieval_mappings():
    raw, batch = _labels("imagenet2012_real", num_sub_examples=3)
    for row, ex in zip(batch["label"], raw):
        np.testing.assert_array_equal(np.flatnonzero(row), np.unique(ex["real_label"]))
    raw, batch = _labels("smallnorb_elevation")
    assert batch["image"].shape[-1] == 3
    np.testing.assert_array_equal(batch["label"], [ex["label_elevation"] for ex in raw])
    raw, batch = _labels("coco_captions", num_sub_examples=6)
    np.testing.assert_array_equal(batch["label"], [ex["image/id"] for ex in raw])
    assert batch["captions"].shape == (6, pipeline.NUM_CAPTIONS)
    assert batch["captions"][0].tolist() == [t.decode() for t in raw[0]["captions"]["text"][:5]]


def test_manual_download_error_says_where_to_put_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="ILSVRC2012_img_val.tar.*downloads/manual"):
        next(pipeline.eval_dataset("imagenet2012", preprocess=_resize, batch_size=2,
                                   data_dir=str(tmp_path), process_index=0, process_count=1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dataset"):
        next(pipeline.eval_dataset("mnist_xyz", preprocess=None, batch_size=2))
    with pytest.raises(ValueError, match="batch_size"):
        next(pipeline.eval_dataset("cifar10", preprocess=None, batch_size=0))
    with pytest.raises(ValueError, match="process_index"):
        pipeline.process_split("test", 3, 3)


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    """A real, tiny jclip_shapes dataset on disk: tfds slicing is exercised for real."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    config = shapes_tfds.ShapesConfig(name="tiny_attributes", generator="attributes",
                                      options={"image_size": 32}, num_train=23, num_test=11)
    builder = shapes_tfds.JclipShapes(config=config, data_dir=data_dir)
    builder.download_and_prepare()
    return builder


def _key(image, label):
    return hashlib.sha1(image.tobytes()).hexdigest() + str(label)


@pytest.mark.parametrize("split", ["train", "train[3:20]", "test"])
@pytest.mark.parametrize("process_count", [1, 2, 3])
def test_processes_cover_every_example_exactly_once(shapes_dir, split, process_count,
                                                    monkeypatch):
    monkeypatch.setattr(pipeline, "load_builder", lambda info, data_dir, download: shapes_dir)
    expected = collections.Counter(
        _key(ex["image"], ex["shape"]) for ex in shapes_dir.as_dataset(split=split)
        .as_numpy_iterator())
    assert len(expected) == shapes_dir.info.splits[split].num_examples  # distinct scenes
    seen, num_batches = collections.Counter(), set()
    for p in range(process_count):
        batches = list(pipeline.eval_dataset("jclip_shapes/attributes", split, preprocess=None,
                                             batch_size=4, process_index=p,
                                             process_count=process_count))
        num_batches.add(len(batches))
        for b in batches:
            seen.update(_key(im, lb) for im, lb, m in zip(b["image"], b["label"], b["mask"]) if m)
            assert not b["image"][~b["mask"]].any()
    assert seen == expected
    assert len(num_batches) == 1  # every process yields the same number of batches


def test_corruption_is_applied_per_image_independent_of_batching(shapes_dir, monkeypatch):
    from jclip.data import corruptions

    monkeypatch.setattr(pipeline, "load_builder", lambda info, data_dir, download: shapes_dir)
    run = lambda batch_size, corruption: np.concatenate([
        b["image"][b["mask"]] for b in pipeline.eval_dataset(
            "jclip_shapes/attributes", "test", preprocess=None, batch_size=batch_size,
            process_index=0, process_count=1, corruption=corruption)])
    clean, noisy = run(4, None), run(4, ("gaussian_noise", 3))
    np.testing.assert_array_equal(noisy, run(5, ("gaussian_noise", 3)))
    assert not np.array_equal(clean, noisy)
    expected = corruptions.corrupt(clean, "contrast", 2)
    np.testing.assert_array_equal(run(3, ("contrast", 2)), expected)
    with pytest.raises(ValueError, match="unknown corruption"):
        next(pipeline.eval_dataset("cifar10", preprocess=None, batch_size=2, process_index=0,
                                   process_count=1, corruption=("smog", 1)))


@pytest.mark.parametrize("model", ["ViT-B-32", "siglip-base-patch16-224"])
def test_tf_preprocess_is_close_to_the_reference_preprocess(model):
    import tensorflow as tf

    import jclip

    fn = pipeline.tf_clip_preprocess(model)
    rng = np.random.default_rng(0)
    for h, w in ((224, 224), (97, 180), (300, 250)):
        blocks = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        image = np.repeat(np.repeat(blocks, 8, 0), 8, 1)[:h, :w]  # edges and flat areas
        ref = jclip.preprocess(image, model)[0]
        ours = fn(tf.constant(image)).numpy()
        assert ours.shape == ref.shape == (224, 224, 3) and ours.dtype == np.float32
        if (h, w) == (224, 224):
            np.testing.assert_array_equal(ours, ref)
        else:  # TF's and PIL's antialiased bicubic kernels differ slightly
            assert np.abs(ours - ref).mean() < 0.02


def test_eval_dataset_with_tf_preprocess():
    with tfds.testing.mock_data(num_examples=5):
        batches = list(pipeline.eval_dataset(
            "imagenet_a", preprocess=None, batch_size=4, process_index=0, process_count=1,
            tf_preprocess=pipeline.tf_clip_preprocess("ViT-B-32")))
    assert [b["image"].shape for b in batches] == [(4, 224, 224, 3)] * 2
    assert batches[1]["mask"].tolist() == [True, False, False, False]
