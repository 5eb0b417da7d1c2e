"""Dataset specs: folder:, pairs:, wds: sources through get_eval_data, CLIP_benchmark aliases,
collections, the new catalog entries (mock tfds), and the errors of bad specs."""

import json
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jclip.data import registry
from jclip.evals import datasets
from jclip.heads import prompts
from tests.helpers.files import (
    classification,
    encode,
    fingerprint,
    photo_crops,
    write,
    write_dataset,
    write_eval_pairs,
)


def read_all(data, process_count, batch_size=2, preprocess=fingerprint):
    """Masked rows of every process, concatenated in process order."""
    rows, labels, captions, counts = [], [], [], []
    for p in range(process_count):
        batches = list(data.batches(preprocess, batch_size, process_index=p,
                                    process_count=process_count, num_workers=1))
        counts.append(len(batches))
        for b in batches:
            m = b["mask"]
            rows.append(b["image"][m])
            labels += b["label"][m].tolist()
            if "captions" in b:
                captions += list(b["captions"][m])
                assert all(c == [] for c in b["captions"][~m])
    assert len(set(counts)) == 1
    return np.concatenate(rows), labels, captions


@pytest.mark.parametrize("process_count", [1, 2, 3])
def test_folder_spec(tmp_path, process_count):
    ims = photo_crops()[:5]
    for i, im in enumerate(ims):
        write(str(tmp_path / "test" / ("snow_leopard" if i < 2 else "lynx") / f"{i}.png"), im)
    write(str(tmp_path / "train" / "lynx" / "t.png"), ims[0])
    data = datasets.get_eval_data(f"folder:{tmp_path}")
    assert (data.kind, data.split, data.train_split) == ("classification", "test", "train")
    assert data.classnames == ("lynx", "snow leopard")
    assert data.templates == prompts.IMAGENET_TEMPLATES and data.expected_examples() == 5
    rows, labels, _ = read_all(data, process_count)
    np.testing.assert_array_equal(rows, fingerprint(ims[2:] + ims[:2]))
    assert labels == [0, 0, 0, 1, 1]
    # options, class-name override, fingerprints
    custom = datasets.get_eval_data(f"folder:{tmp_path}", templates=["itap of a {c}"],
                                    classnames=["a lynx", "a snow leopard"])
    assert custom.templates == ("itap of a {}",)
    assert custom.classnames == ("a lynx", "a snow leopard")
    assert datasets.get_eval_data(f"folder:{tmp_path}", templates="gtsrb").templates[0] == (
        'a zoomed in photo of a "{}" traffic sign.')
    again = datasets.get_eval_data(f"folder:{tmp_path}")
    train = datasets.get_eval_data(f"folder:{tmp_path}", "train")
    assert train.classnames == data.classnames and train.expected_examples() == 1
    assert again.fingerprint == data.fingerprint != train.fingerprint
    assert custom.fingerprint != data.fingerprint
    with pytest.raises(TypeError, match="unexpected keyword argument 'label'"):
        datasets.get_eval_data(f"folder:{tmp_path}", label="x")
    with pytest.raises(ValueError, match="3 class names given, the dataset has 2"):
        datasets.get_eval_data(f"folder:{tmp_path}", classnames=["a", "b", "c"])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("process_count", [1, 2, 3])
def test_pairs_spec_groups_captions_by_image(tmp_path, fmt, process_count):
    _, expected = write_eval_pairs(tmp_path, fmt)
    data = datasets.get_eval_data(f"pairs:{tmp_path}")
    assert data.kind == "retrieval" and data.classnames is None and data.templates is None
    assert data.expected_examples() == 4
    rows, labels, captions = read_all(data, process_count, batch_size=1)
    np.testing.assert_array_equal(rows, fingerprint([im for im, _ in expected]))
    assert labels == [0, 1, 2, 3] and captions == [c for _, c in expected]


def test_pairs_file_spec_and_errors(tmp_path):
    path, expected = write_eval_pairs(tmp_path, name="val.jsonl")
    data = datasets.get_eval_data(f"pairs:{path}")
    assert read_all(data, 1)[2] == [c for _, c in expected]
    with pytest.raises(FileNotFoundError, match="has none of .*captions.jsonl"):
        datasets.get_eval_data(f"pairs:{tmp_path}")
    with pytest.raises(FileNotFoundError, match="neither a captions file nor a folder"):
        datasets.get_eval_data(f"pairs:{tmp_path / 'nope'}")
    os.remove(tmp_path / "images" / "3.png")
    os.remove(tmp_path / "images" / "1.png")
    with pytest.raises(FileNotFoundError, match=r"2 image file\(s\) listed in .* missing.*1.png"):
        datasets.get_eval_data(f"pairs:{path}")
    (tmp_path / "captions.jsonl").write_text(json.dumps({"image": "images/0.png",
                                                         "caption": " "}) + "\n")
    with pytest.raises(ValueError, match="row 0: empty image name or caption"):
        datasets.get_eval_data(f"pairs:{tmp_path}")


@pytest.mark.parametrize("process_count", [1, 2, 3])
def test_wds_spec(tmp_path, process_count):
    ims, labels = classification(tmp_path, n=8)
    data = datasets.get_eval_data(f"wds:{tmp_path}")
    assert data.kind == "classification" and data.classnames == ("cat", "dog", "red fox", "owl")
    assert data.templates == ("a photo of a {}.", "a {} in the wild.")
    assert data.train_split is None and data.expected_examples() == 8
    rows, got, _ = read_all(data, process_count, batch_size=3)
    np.testing.assert_array_equal(rows, fingerprint(ims))
    assert got == labels
    assert datasets.get_eval_data(f"wds:{tmp_path}", templates="imagenet_simple").templates == (
        prompts.SIMPLE_IMAGENET_TEMPLATES)


def test_wds_retrieval_spec_and_defaults(tmp_path):
    caps = [["one", "two"], ["three"], ["four", "five", "six"]]
    samples = [{"__key__": f"s{i}", "webp": encode(im), "txt": "\n".join(c)}
               for i, (im, c) in enumerate(zip(photo_crops()[:3], caps))]
    write_dataset(str(tmp_path / "r"), "test", [samples[:2], samples[2:]],
                  dataset_type=["retrieval"])
    data = datasets.get_eval_data(f"wds:{tmp_path / 'r'}")
    assert data.kind == "retrieval" and data.templates is None
    assert read_all(data, 2, batch_size=1)[2] == caps
    # no classnames.txt / templates file: names None, ImageNet templates
    samples = [{"__key__": f"s{i}", "png": encode(im, "png"), "cls": i % 2}
               for i, im in enumerate(photo_crops()[:2])]
    write_dataset(str(tmp_path / "c"), "test", [samples])
    data = datasets.get_eval_data(f"wds:{tmp_path / 'c'}", classnames=["x", "y"])
    assert data.classnames == ("x", "y") and data.templates == prompts.IMAGENET_TEMPLATES


def test_aliases_resolve_to_the_catalog():
    for alias, spec in datasets.ALIASES.items():
        assert spec in registry.DATASETS, alias
    assert datasets.ALIASES["imagenet1k"] == "imagenet2012"
    assert datasets.ALIASES["vtab/pets"] == datasets.ALIASES["pets"] == "oxford_iiit_pet"
    for alias in datasets.ALIAS_SPLITS:
        assert alias in datasets.ALIASES
    for spec in datasets.NOT_IN_CATALOG:
        assert spec not in datasets.ALIASES and spec not in registry.DATASETS
    data = datasets.get_eval_data("vtab/smallnorb_label_elevation")
    assert (data.name, data.split) == ("smallnorb_elevation", "test[50%:]")
    assert datasets.get_eval_data("vtab/smallnorb_label_elevation", "test").split == "test"
    assert datasets.get_eval_data("cars").templates == prompts.DATASET_TEMPLATES["cars196"]


def test_collections_expand_to_resolvable_specs():
    assert datasets.expand("imagenet_robustness") == ["imagenet_v2", "imagenet_sketch",
                                                      "imagenet_a", "imagenet_r"]
    assert datasets.expand(["retrieval", "coco_captions", "cifar10"]) == ["coco_captions",
                                                                          "cifar10"]
    vtab = datasets.expand("vtab")
    assert len(vtab) == 16 and "vtab/clevr_count_all" in vtab
    for name in datasets.COLLECTIONS:
        for spec in datasets.expand(name):
            info = registry.get_dataset_info(datasets.ALIASES.get(spec, spec))
            assert (info.kind == "retrieval") == (name == "retrieval")
    with pytest.raises(ValueError, match="is a collection of 16 datasets: expand it"):
        datasets.get_eval_data("vtab")


@pytest.mark.parametrize("spec, channels_in", [("mnist", 1), ("vtab/dmlab", 3),
                                               ("vtab/diabetic_retinopathy", 3)])
def test_new_catalog_entries_read_with_mock_data(spec, channels_in):
    info = registry.get_dataset_info(datasets.ALIASES.get(spec, spec))
    feature = tfds.builder(info.tfds_name).info.features
    assert feature["label"].num_classes == len(registry.classnames(info.name))
    assert feature["image"].shape[-1] == channels_in
    with tfds.testing.mock_data(num_examples=5):
        data = datasets.get_eval_data(spec)
        small = lambda ims: np.stack([np.asarray(Image.fromarray(im).resize((4, 4)))
                                      for im in ims])
        batches = list(data.batches(small, 3, num_workers=0))
    assert data.templates == prompts.DATASET_TEMPLATES[info.name]
    assert [b["mask"].sum() for b in batches] == [3, 2]
    assert batches[0]["image"].shape == (3, 4, 4, 3)


def test_unknown_specs_list_what_is_known():
    with pytest.raises(ValueError, match="unknown dataset 'cifar11'.*cifar10.*aliases: .*pets"
                                         ".*collections: .*vtab.*'folder:...'"):
        datasets.get_eval_data("cifar11")
    with pytest.raises(ValueError, match="'gtsrb' is a CLIP_benchmark dataset .*'wds:DIR'"):
        datasets.get_eval_data("gtsrb")
    with pytest.raises(ValueError, match="'wds/<name>' is 'wds:<its folder>'"):
        datasets.get_eval_data("wds/cifar10")
    with pytest.raises(ValueError, match="No source 'foldr:'; sources: folder:, pairs:, wds:"):
        datasets.get_eval_data("foldr:/data")
    for prefix in ("folder", "pairs", "wds"):
        with pytest.raises(ValueError, match=f"'{prefix}:' needs a"):
            datasets.get_eval_data(f"{prefix}:")
