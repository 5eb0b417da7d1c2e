"""Writers of test data on disk: image folders, CLIP_benchmark webdataset shards, pairs folders
(captions.jsonl / .csv beside the images), the trainer's pairs / wds / classification sources,
a fake CountBench copy, and the real photos they are made of."""

import csv
import io
import json
import os
import tarfile

import numpy as np
import skimage.data
from PIL import Image
from sklearn.datasets import load_sample_images

from jclip.data import shapes
from jclip.data.counterfactual import number_word

# --- image folders (jclip.data.folder) -------------------------------------------------------


def photo_crops():
    """Real photos, cropped small (different sizes), uint8 RGB."""
    china, flower = load_sample_images().images
    return [skimage.data.astronaut()[100:140, 180:236], skimage.data.chelsea()[60:108, 120:160],
            skimage.data.coffee()[100:132, 200:260], skimage.data.rocket()[50:100, 300:330],
            china[150:190, 250:300], flower[100:136, 200:236],
            skimage.data.immunohistochemistry()[:24, :40], skimage.data.colorwheel()[150:190, :44]]


def fingerprint(images):
    """A per-image signature used as the 'preprocess' output: [n, 3] (h, w, pixel sum)."""
    return np.stack([np.array([im.shape[0], im.shape[1], int(im.astype(np.int64).sum())])
                     for im in images])


def write(path, array, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **kw)


# --- CLIP_benchmark's webdataset layout (jclip.data.webdataset) ------------------------------

FORMATS = {"webp": dict(format="webp", lossless=True), "png": dict(format="png"),
           "jpg": dict(format="jpeg", quality=95)}


def encode(array, ext="webp"):
    out = io.BytesIO()
    Image.fromarray(array).save(out, **FORMATS[ext])
    return out.getvalue()


def cycled_photo_crops(n):
    """n small crops of real photos (astronaut, chelsea, coffee), different sizes."""
    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    return [sources[i % 3][10 * i:10 * i + 20 + i, 5 * i:5 * i + 24] for i in range(n)]


def write_tar(path, samples, gzip=False):
    """samples: list of {"__key__": str, field: bytes | str | int}."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tarfile.open(path, "w:gz" if gzip else "w") as tar:
        for sample in samples:
            for field, value in sample.items():
                if field == "__key__":
                    continue
                data = value if isinstance(value, bytes) else str(value).encode()
                info = tarfile.TarInfo(f"{sample['__key__']}.{field}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def write_dataset(root, split, shards, *, nshards=True, **meta):
    """CLIP_benchmark's layout: root/split/{i}.tar, nshards.txt, metadata files at root."""
    for i, samples in enumerate(shards):
        write_tar(os.path.join(root, split, f"{i}.tar"), samples)
    if nshards:
        with open(os.path.join(root, split, "nshards.txt"), "w") as f:
            print(len(shards), end="\n", file=f)
    for name, lines in meta.items():
        with open(os.path.join(root, f"{name}.txt"), "w") as f:
            print(*lines, sep="\n", end="\n", file=f)


def classification(root, n=7, per_shard=3, ext="webp"):
    """A classification split root/test of n photos in shards of per_shard, 4 class names and 2
    templates; returns (images, labels)."""
    ims, labels = cycled_photo_crops(n), [(3 * i + 1) % 4 for i in range(n)]
    samples = [{"__key__": f"s{i:07d}", ext: encode(im, ext), "cls": label}
               for i, (im, label) in enumerate(zip(ims, labels))]
    shards = [samples[i:i + per_shard] for i in range(0, n, per_shard)]
    write_dataset(str(root), "test", shards, classnames=["cat", "dog", "red fox", "owl"],
                  zeroshot_classification_templates=["a photo of a {c}.", "a {c} in the wild."])
    return ims, labels


# --- pairs: folders of images with a captions file ------------------------------------------


def write_eval_pairs(root, fmt="jsonl", name=None):
    """4 PNG photo crops and 7 captions (jsonl or csv), an image named twice ("./" prefix);
    returns (captions path, [(image, its captions)] in first-appearance order)."""
    ims = photo_crops()[:4]
    files = [f"images/{i}.png" for i in range(4)]
    for f, im in zip(files, ims):
        write(str(root / f), im)
    rows = [(files[2], "a mug of coffee"), (files[0], "an astronaut"), ("./" + files[2], "coffee"),
            (files[1], "a cat"), (files[3], "a rocket"), (files[0], "a woman in a space suit"),
            (files[2], "a hot drink")]
    path = root / (name or f"captions.{fmt}")
    if fmt == "jsonl":
        path.write_text("".join(json.dumps({"image": f, "caption": c}) + "\n" for f, c in rows))
    else:
        with open(path, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["caption", "image"])
            writer.writerows([(c, f) for f, c in rows])
    # images in first-appearance order, captions grouped in file order
    expected = [(ims[2], ["a mug of coffee", "coffee", "a hot drink"]),
                (ims[0], ["an astronaut", "a woman in a space suit"]), (ims[1], ["a cat"]),
                (ims[3], ["a rocket"])]
    return path, expected


UNREADABLE_PAIRS_CAPTIONS = (
    "a photo of a red circle", "a photo of a blue square", "a photo of two red squares",
    "a photo of three blue circles", "a photo of one blue circle")


def write_pairs_one_unreadable(directory, n=20):
    """n captioned 32x40 JPEGs of scikit-image's sample photos; image 3 is unreadable."""
    (directory / "images").mkdir(parents=True)
    names = ("astronaut", "coffee", "chelsea", "rocket", "camera", "horse", "cat")
    with open(directory / "captions.jsonl", "w") as f:
        for i in range(n):
            image = np.asarray(getattr(skimage.data, names[i % len(names)])())
            image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
            path = directory / "images" / f"{i}.jpg"
            Image.fromarray(image.astype(np.uint8)).resize((40 + i, 32)).save(path)
            f.write(json.dumps({"image": f"images/{i}.jpg",
                                "caption": UNREADABLE_PAIRS_CAPTIONS[i % 5]}) + "\n")
    (directory / "images" / "3.jpg").write_bytes(b"truncated")
    return directory


# --- the trainer's file sources (jclip.train.sources): pairs, wds, classification -------------

PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "horse", "cat", "moon")
TRAIN_CAPTIONS = ("a photo of a red circle", "a photo of a blue square",
                  "a photo of two red squares", "a photo of three blue circles")


def resized_photos(size=(40, 32)):
    """uint8 [32, 40, 3] versions of scikit-image's sample photos."""
    out = []
    for name in PHOTO_NAMES:
        image = np.asarray(getattr(skimage.data, name)())
        image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
        out.append(np.asarray(Image.fromarray(image.astype(np.uint8)).resize(size)))
    return out


def jpeg(image) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG")
    return buf.getvalue()


def write_train_pairs(directory, n=8):
    """A pairs folder of n real photos with captions in the shapes vocabulary."""
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    images = resized_photos()
    with open(os.path.join(directory, "captions.jsonl"), "w") as f:
        for i in range(n):
            with open(os.path.join(directory, "images", f"{i}.jpg"), "wb") as g:
                g.write(jpeg(images[i % len(images)]))
            f.write(json.dumps({"image": f"images/{i}.jpg",
                                "caption": TRAIN_CAPTIONS[i % 4]}) + "\n")
    return str(directory)


def write_shards(directory, n_shards=2, per_shard=4):
    images = resized_photos()
    os.makedirs(directory, exist_ok=True)
    for s in range(n_shards):
        with tarfile.open(os.path.join(directory, f"{s:05d}.tar"), "w") as tar:
            for i in range(per_shard):
                k = s * per_shard + i
                text = (TRAIN_CAPTIONS[k % 4].encode() if k % 2 else
                        json.dumps({"caption": TRAIN_CAPTIONS[k % 4]}).encode())
                for name, data in ((f"{k:06d}.jpg", jpeg(images[k % len(images)])),
                                   (f"{k:06d}.{'txt' if k % 2 else 'json'}", text)):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return os.path.join(str(directory), f"{{00000..{n_shards - 1:05d}}}.tar")


def write_classes(directory):
    images = resized_photos()
    for i, image in enumerate(images):
        folder = os.path.join(directory, "train", ("circle", "square")[i % 2])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i}.jpg"), "wb") as f:
            f.write(jpeg(image))
    return "folder:" + str(directory)


# --- CountBench (jclip.data.countbench) ------------------------------------------------------

COUNTBENCH_TEXTS = ("a photo of {} red circles on a table", "{} green squares in a row",
                    "there are {} blue triangles")


def counting_scene_png(count: int, seed: int = 0) -> bytes:
    """A 32 px scene with ``count`` objects, as PNG bytes."""
    scene = shapes.generate("counting", 1, (seed, count), image_size=32, min_count=count,
                            max_count=count)
    buf = io.BytesIO()
    Image.fromarray(scene["image"][0]).save(buf, format="PNG")
    return buf.getvalue()


def write_countbench(root, counts=(2, 3, 4, 5), per_count=2, missing=(), bad_rows=(),
                     name="CountBench.json"):
    """A fake CountBench copy: rows image_url / text / number, images/{i:04d}.png, the rows in
    ``missing`` without their image and ``bad_rows`` {index: row} replacing rows."""
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    rows = []
    for i, count in enumerate(c for c in counts for _ in range(per_count)):
        rows.append({"image_url": f"https://example.invalid/img/{i}.png?size=large",
                     "text": COUNTBENCH_TEXTS[i % len(COUNTBENCH_TEXTS)].format(number_word(count)),
                     "number": count})
        if i not in missing:
            with open(os.path.join(root, "images", f"{i:04d}.png"), "wb") as f:
                f.write(counting_scene_png(count, i))
    for i, row in dict(bad_rows).items():
        rows[i] = row
    with open(os.path.join(root, name), "w") as f:
        json.dump(rows, f)
    return str(root)
