"""Image folders: classes and files in order, split folders, lazy PIL decoding, errors."""

import os

import numpy as np
import pytest
import skimage.data
from PIL import Image

from jclip.data import folder
from tests.helpers.files import fingerprint, photo_crops, write


@pytest.fixture
def dataset(tmp_path):
    """DIR/test with 3 classes (names with "_"), 8 PNG photos, non-image and hidden files."""
    ims = photo_crops()
    layout = {"red_fox": [0, 1, 2], "cat": [3, 4], "sea_lion": [5, 6, 7]}
    for cls, ids in layout.items():
        for j, i in enumerate(ids):
            ext = ".PNG" if i == 2 else ".png"  # extensions in any case
            write(str(tmp_path / "test" / cls / f"{j:02d}_img{ext}"), ims[i])
    (tmp_path / "test" / "cat" / "notes.txt").write_text("not an image")
    write(str(tmp_path / "test" / "cat" / ".hidden.png"), ims[0])
    # expected order: classes sorted by folder name, files sorted inside each
    order = [("cat", 3), ("cat", 4), ("red_fox", 0), ("red_fox", 1), ("red_fox", 2),
             ("sea_lion", 5), ("sea_lion", 6), ("sea_lion", 7)]
    labels = [["cat", "red_fox", "sea_lion"].index(c) for c, _ in order]
    return tmp_path, [ims[i] for _, i in order], labels


def test_scan_lists_sorted_classes_and_files(dataset):
    root, ims, labels = dataset
    data = folder.scan(str(root), "test")
    assert data.classes == ("cat", "red_fox", "sea_lion")
    assert data.classnames == ("cat", "red fox", "sea lion")
    assert [os.path.relpath(f, data.root) for f in data.files] == [
        "cat/00_img.png", "cat/01_img.png", "red_fox/00_img.png", "red_fox/01_img.png",
        "red_fox/02_img.PNG", "sea_lion/00_img.png", "sea_lion/01_img.png",
        "sea_lion/02_img.png"]
    assert data.labels.tolist() == labels and data.labels.dtype == np.int64
    for i, im in enumerate(ims):
        ex = data.load(i)
        assert ex["image"].dtype == np.uint8
        np.testing.assert_array_equal(ex["image"], im)


@pytest.mark.parametrize("process_count", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_every_image_once_in_order_across_processes(dataset, process_count, batch_size):
    root, ims, labels = dataset
    data = folder.scan(str(root), "test")
    rows, got_labels, counts = [], [], []
    for p in range(process_count):
        batches = list(folder.batches(data, preprocess=fingerprint, batch_size=batch_size,
                                      process_index=p, process_count=process_count,
                                      num_workers=p % 2))
        counts.append(len(batches))
        for b in batches:
            assert b["image"].shape[0] == batch_size == len(b["mask"])
            assert not b["image"][~b["mask"]].any()
            rows.append(b["image"][b["mask"]])
            got_labels += b["label"][b["mask"]].tolist()
    assert len(set(counts)) == 1  # processes stay in step
    np.testing.assert_array_equal(np.concatenate(rows), fingerprint(ims))
    assert got_labels == labels


def test_split_folders(tmp_path):
    ims = photo_crops()
    for split, ids in (("train", [0, 1, 2, 3]), ("test", [4, 5])):
        for i in ids:
            write(str(tmp_path / split / ("a" if i % 2 else "b") / f"{i}.png"), ims[i])
    train = folder.scan(str(tmp_path), "train")
    test = folder.scan(str(tmp_path), "test")
    assert len(train) == 4 and len(test) == 2 and train.classes == test.classes == ("a", "b")
    with pytest.raises(FileNotFoundError, match=r"split folders \['test', 'train'\].*'val'"):
        folder.scan(str(tmp_path), "val")
    # without split folders, the folder itself is the split, whatever its name
    flat = folder.scan(str(tmp_path / "train"), "test")
    assert len(flat) == 4
    # one class list for all splits, so labels agree: "c" exists only in train
    write(str(tmp_path / "train" / "c" / "c.png"), ims[6])
    train, test = folder.scan(str(tmp_path), "train"), folder.scan(str(tmp_path), "test")
    assert train.classes == test.classes == ("a", "b", "c")
    assert train.labels.tolist() == [0, 0, 1, 1, 2] and test.labels.tolist() == [0, 1]


def test_nested_jpeg_grey_and_alpha_images_decode_to_rgb(tmp_path):
    write(str(tmp_path / "x" / "deep" / "er" / "grey.jpg"), skimage.data.camera()[:40, :30],
          quality=95)
    write(str(tmp_path / "x" / "logo.webp"), skimage.data.logo()[:32, :32])  # RGBA
    write(str(tmp_path / "y" / "coins.TIFF"), skimage.data.coins()[:20, :20])
    write(str(tmp_path / "y" / "pic.bmp"), photo_crops()[0])
    write(str(tmp_path / "y" / "pic.gif"), photo_crops()[1])
    data = folder.scan(str(tmp_path))
    assert len(data) == 5 and data.labels.tolist() == [0, 0, 1, 1, 1]
    for i, path in enumerate(data.files):
        image = data.load(i)["image"]
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        with Image.open(path) as ref:
            np.testing.assert_array_equal(image, np.asarray(ref.convert("RGB")))
    grey = data.load(0)["image"]
    assert (grey[..., 0] == grey[..., 1]).all()


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        folder.scan(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class subfolders"):
        folder.scan(str(tmp_path / "empty"))
    write(str(tmp_path / "loose" / "a.png"), photo_crops()[0])
    with pytest.raises(ValueError, match="1 images directly inside"):
        folder.scan(str(tmp_path / "loose"))
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "a" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="no image files"):
        folder.scan(str(tmp_path / "noimg"))
    write(str(tmp_path / "one" / "only" / "a.png"), photo_crops()[0])
    with pytest.raises(ValueError, match="1 class folder.*'only'.*at least 2"):
        folder.scan(str(tmp_path / "one"))
    write(str(tmp_path / "gap" / "a" / "a.png"), photo_crops()[0])
    write(str(tmp_path / "gap" / "c" / "c.png"), photo_crops()[1])
    (tmp_path / "gap" / "b").mkdir()
    with pytest.raises(ValueError, match=r"have no images: \['b'\]"):
        folder.scan(str(tmp_path / "gap"))
    kept = folder.scan(str(tmp_path / "gap"), allow_empty_classes=True)
    assert kept.classes == ("a", "b", "c") and kept.labels.tolist() == [0, 2]
    (tmp_path / "gap" / "b" / "zero.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.*zero.jpg"):
        folder.scan(str(tmp_path / "gap"))


@pytest.mark.parametrize("content", [b"this is not a jpeg", "truncated"])
def test_corrupt_image_raises_naming_the_file_during_batches(tmp_path, content):
    write(str(tmp_path / "a" / "good.png"), photo_crops()[0])
    write(str(tmp_path / "b" / "good.png"), photo_crops()[1])
    bad = tmp_path / "b" / "bad.png"
    if content == "truncated":
        write(str(bad), photo_crops()[2])
        bad.write_bytes(bad.read_bytes()[:200])
    else:
        bad.write_bytes(content)
    data = folder.scan(str(tmp_path))  # only cheap checks up front
    batches = folder.batches(data, preprocess=fingerprint, batch_size=2, num_workers=0)
    with pytest.raises(ValueError, match=r"cannot decode image .*b/bad\.png"):
        list(batches)
