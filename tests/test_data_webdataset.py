"""CLIP_benchmark's webdataset layout, read with tarfile: samples, metadata, order, errors."""

import io
import os
import tarfile

import numpy as np
import pytest

from jclip.data import webdataset
from tests.helpers.files import classification, cycled_photo_crops, encode, write_dataset, write_tar


def test_classification_split_reads_samples_in_order(tmp_path):
    ims, labels = classification(tmp_path)
    data = webdataset.open_split(str(tmp_path), "test")
    assert data.kind == "classification" and len(data) == 7 and len(data.shards) == 3
    assert data.classnames == ("cat", "dog", "red fox", "owl")
    assert data.templates_file == str(tmp_path / "zeroshot_classification_templates.txt")
    assert [s.key for s in data.samples] == [f"s{i:07d}" for i in range(7)]
    for i in range(7):
        ex = data.load(i)
        np.testing.assert_array_equal(ex["image"], ims[i])  # lossless webp
        assert ex["label"] == labels[i] and ex["image"].dtype == np.uint8


def test_retrieval_captions_are_the_lines_of_txt(tmp_path):
    caps = [["a cat on a mat", "a sleeping cat"], ["an astronaut"], ["coffee", "a cup", "tea?"]]
    samples = [{"__key__": f"s{i:07d}", "png": encode(im, "png"), "txt": "\n".join(c)}
               for i, (im, c) in enumerate(zip(cycled_photo_crops(3), caps))]
    write_dataset(str(tmp_path), "test", [samples], dataset_type=["retrieval"])
    data = webdataset.open_split(str(tmp_path))
    assert data.kind == "retrieval" and data.classnames is None and data.templates_file is None
    got = [data.load(i) for i in range(3)]
    assert [g["captions"] for g in got] == caps and [g["label"] for g in got] == [0, 1, 2]


def test_multilabel_npy_labels(tmp_path):
    multi = [np.array([1, 0, 1], np.uint8), np.array([0, 0, 1], np.uint8)]
    samples = []
    for i, (im, y) in enumerate(zip(cycled_photo_crops(2), multi)):
        buf = io.BytesIO()
        np.save(buf, y)
        samples.append({"__key__": f"k{i}", "jpg": encode(im, "jpg"), "npy": buf.getvalue()})
    write_dataset(str(tmp_path), "test", [samples], dataset_type=["multilabel"],
                  classnames=["a", "b", "c"])
    data = webdataset.open_split(str(tmp_path))
    assert data.kind == "multilabel"
    for i in range(2):
        np.testing.assert_array_equal(data.load(i)["label"], multi[i])


def test_field_rules_of_webdataset(tmp_path):
    """Key = name up to the first dot, fields lower-cased, image = first of webp/png/jpg/jpeg,
    meta files (__name__) and directories skipped; a per-split classnames.txt wins."""
    ims = cycled_photo_crops(2)
    path = tmp_path / "train" / "0.tar"
    os.makedirs(path.parent)
    with tarfile.open(path, "w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("__meta__", b"ignored")
        dir_info = tarfile.TarInfo("sub")
        dir_info.type = tarfile.DIRTYPE
        tar.addfile(dir_info)
        add("sub/a.JPG", encode(ims[1], "jpg"))  # upper-case extension
        add("sub/a.PNG", encode(ims[0], "png"))  # png comes before jpg
        add("sub/a.cls", b"1\n")
        add("sub/a.extra.json", b"{}")
        add("b.seg.png", encode(ims[1], "png"))  # field "seg.png" is no image field
        add("b.jpeg", encode(ims[1], "jpg"))
        add("b.cls", b"0")
    (tmp_path / "classnames.txt").write_text("root a\nroot b\n")
    (tmp_path / "train" / "classnames.txt").write_text("x\ny\n")
    data = webdataset.open_split(str(tmp_path), "train")
    assert [s.key for s in data.samples] == ["sub/a", "b"]
    assert sorted(data.samples[0].fields) == ["cls", "extra.json", "jpg", "png"]
    assert data.classnames == ("x", "y")
    np.testing.assert_array_equal(data.load(0)["image"], ims[0])
    assert data.load(0)["label"] == 1 and data.load(1)["label"] == 0


def test_shards_without_nshards_txt_are_counted(tmp_path):
    classification(tmp_path)
    os.remove(tmp_path / "test" / "nshards.txt")
    assert len(webdataset.open_split(str(tmp_path))) == 7
    os.remove(tmp_path / "test" / "1.tar")
    with pytest.raises(FileNotFoundError, match=r"not numbered 0..1: \[0, 2\]"):
        webdataset.open_split(str(tmp_path))


def test_errors_name_the_file_and_sample(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        webdataset.open_split(str(tmp_path / "nope"))
    classification(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no split folder 'train' \(it has \['test'\]\)"):
        webdataset.open_split(str(tmp_path), "train")
    (tmp_path / "test" / "nshards.txt").write_text("4\n")
    with pytest.raises(FileNotFoundError, match="says 4 shards but 1 are missing.*3.tar"):
        webdataset.open_split(str(tmp_path))
    (tmp_path / "test" / "nshards.txt").write_text("3\n")
    (tmp_path / "dataset_type.txt").write_text("detection\n")
    with pytest.raises(ValueError, match="'detection'; known dataset types"):
        webdataset.open_split(str(tmp_path))
    os.remove(tmp_path / "dataset_type.txt")

    im = encode(cycled_photo_crops(1)[0])
    cases = {
        "no_label": ([{"__key__": "k0", "webp": im}], r"sample 'k0' has no 'cls' field"),
        "no_image": ([{"__key__": "k0", "txt": "x", "cls": 0}], r"'k0' has no image \(webp"),
        "empty_image": ([{"__key__": "k0", "png": b"", "cls": 0}], r"'k0' has an empty"),
        "twice": ([{"__key__": "k0", "webp": im, "cls": 0}, {"__key__": "k0", "cls": 1}],
                  r"'k0' has the field 'cls' twice"),
    }
    for samples, message in cases.values():
        write_tar(str(tmp_path / "test" / "2.tar"), samples)
        with pytest.raises(ValueError, match=message):
            webdataset.open_split(str(tmp_path))
    write_tar(str(tmp_path / "test" / "2.tar"), [{"__key__": "k0", "webp": im, "cls": 0}],
              gzip=True)
    with pytest.raises(ValueError, match=r"2.tar is not an uncompressed tar"):
        webdataset.open_split(str(tmp_path))


@pytest.mark.parametrize("sample, message", [
    ({"webp": b"not a webp", "cls": 0}, r"cannot decode image .*2\.tar, sample 'bad' \(webp\)"),
    ({"cls": "three"}, r"2\.tar, sample 'bad': cls label b'three' is not an integer"),
    ({"cls": 9}, r"sample 'bad': label 9 is outside the 4 classes"),
])
def test_bad_sample_content_raises_when_loaded(tmp_path, sample, message):
    classification(tmp_path)
    good = {"__key__": "bad", "webp": encode(cycled_photo_crops(1)[0]), "cls": 0}
    write_tar(str(tmp_path / "test" / "2.tar"), [{**good, **sample}])
    data = webdataset.open_split(str(tmp_path))  # indexing reads headers only
    with pytest.raises(ValueError, match=message):
        data.load(len(data) - 1)
