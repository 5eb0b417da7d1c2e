"""Evaluation data from local files: the ``folder:``, ``pairs:`` and ``wds:`` dataset specs.

- ``folder:DIR``: one subfolder per class (``jclip.data.folder``), optional split folders
  (``DIR/train``, ``DIR/test``, ...). Options: ``templates`` (a name or file for
  ``jclip.heads.prompts.load_templates``, or a list; default the 80 ImageNet templates),
  ``allow_empty_classes``.
- ``pairs:DIR`` or ``pairs:FILE``: images with captions, for retrieval, in the captions
  JSONL/CSV format of ``jclip.data.pairs`` (``DIR/[<split>/]captions.jsonl``, else
  ``captions.csv``); rows naming the same image are that image's captions, images in order of
  first appearance, label = image index. Options: ``image_key``, ``caption_key``.
- ``wds:DIR``: CLIP_benchmark's webdataset layout (``jclip.data.webdataset``); classification,
  multilabel or retrieval as its ``dataset_type.txt`` says. Option: ``templates`` (default the
  dataset's ``zeroshot_classification_templates.txt``, else the 80 ImageNet templates).

All three check their files before any image is decoded (missing or empty files, no classes,
a single class), decode images with PIL as uint8 RGB while batches are made (raising a
ValueError naming an undecodable file), and batch with ``jclip.data.pipeline.list_batches``:
each process its contiguous part, padded masked batches. The split name defaults to "test".
``data_dir`` (a tfds setting) is accepted and ignored.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from jclip.data import folder as image_folder
from jclip.data import pairs
from jclip.data import webdataset as wds_format
from jclip.evals.eval_data import EvalData, fingerprint, list_batches
from jclip.heads import prompts

CAPTION_FILES = ("captions.jsonl", "captions.csv")


def _templates(option, default) -> tuple[str, ...]:
    return prompts.load_templates(option if option is not None else default)


def folder_source(rest: str, split: str | None, *, data_dir=None, templates=None,
                  allow_empty_classes: bool = False):
    """``folder:DIR`` -> ``EvalData`` (classification); see the module docstring."""
    if not rest:
        raise ValueError("'folder:' needs a folder, e.g. 'folder:~/data/pets'")
    split = split or "test"
    data = image_folder.scan(rest, split, allow_empty_classes=allow_empty_classes)
    directory = os.path.abspath(os.path.expanduser(rest))
    has_train = split != "train" and os.path.isdir(os.path.join(directory, "train"))
    n = len(data)
    return EvalData(
        name=f"folder:{rest}", split=split, kind="classification", classnames=data.classnames,
        templates=_templates(templates, "imagenet"),
        make_batches=list_batches(list(range(n)), data.load),
        fingerprint=fingerprint("folder", data.root, data.classes,
                                [os.path.relpath(f, data.root) for f in data.files],
                                data.labels.tolist(), data.sizes, data.mtimes),
        expected_examples=lambda: n, train_split="train" if has_train else None,
        files=tuple(data.files))


def _captions_file(rest: str, split: str | None) -> str:
    path = os.path.expanduser(rest)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"pairs: {path} is neither a captions file nor a folder")
    if split and os.path.isdir(os.path.join(path, split)):
        path = os.path.join(path, split)
    for name in CAPTION_FILES:
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name)
    raise FileNotFoundError(f"pairs: {path} has none of {CAPTION_FILES}; name the file "
                            "instead, e.g. 'pairs:DIR/test.jsonl'")


def group_captions(rows: list[tuple[str, str]], base: str, source: str = "captions"):
    """(image, caption) rows -> (image paths in first-appearance order, captions per image).

    Paths are joined to ``base`` and normalised, so "a.jpg" and "./a.jpg" are one image.

    Raises:
      ValueError naming the first row with an empty caption or image name.
    """
    groups: dict[str, list[str]] = {}
    for i, (image, caption) in enumerate(rows):
        if not image.strip() or not caption.strip():
            raise ValueError(f"{source}, row {i}: empty image name or caption "
                             f"({image!r}, {caption!r})")
        path = os.path.normpath(os.path.join(base, image))
        groups.setdefault(path, []).append(caption)
    return list(groups), list(groups.values())


def pairs_source(rest: str, split: str | None, *, data_dir=None, image_key: str = "image",
                 caption_key: str = "caption"):
    """``pairs:DIR`` or ``pairs:FILE`` -> ``EvalData`` (retrieval); see the module docstring."""
    if not rest:
        raise ValueError("'pairs:' needs a folder or captions file, e.g. 'pairs:~/data/coco'")
    path = _captions_file(rest, split)
    rows = pairs.read_captions(path, image_key=image_key, caption_key=caption_key)
    images, captions = group_captions(rows, os.path.dirname(os.path.abspath(path)), path)
    missing = [p for p in images if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image file(s) listed in {path} are missing, "
                                f"e.g. {missing[:3]}")
    stats = [os.stat(p) for p in images]
    empty = [p for p, st in zip(images, stats) if st.st_size == 0]
    if empty:
        raise ValueError(f"{len(empty)} image file(s) listed in {path} are empty (0 bytes), "
                         f"e.g. {empty[:3]}")

    def load(i):
        return {"image": image_folder.decode_image(images[i]), "label": np.int64(i),
                "captions": list(captions[i])}

    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    n = len(images)
    return EvalData(
        name=f"pairs:{rest}", split=split or "test", kind="retrieval", classnames=None,
        templates=None, make_batches=list_batches(list(range(n)), load),
        fingerprint=fingerprint("pairs", os.path.abspath(path), digest, image_key, caption_key,
                                [(st.st_size, st.st_mtime_ns) for st in stats]),
        expected_examples=lambda: n, files=(os.path.abspath(path), *images))


def wds_source(rest: str, split: str | None, *, data_dir=None, templates=None):
    """``wds:DIR`` -> ``EvalData``; see the module docstring and ``jclip.data.webdataset``."""
    if not rest:
        raise ValueError("'wds:' needs a folder in CLIP_benchmark's webdataset layout, e.g. "
                         "'wds:~/data/wds_cifar10'")
    split = split or "test"
    data = wds_format.open_split(rest, split)
    if data.kind == "retrieval":
        names = chosen = None
    else:
        names = data.classnames
        chosen = _templates(templates, data.templates_file or "imagenet")
    has_train = split != "train" and os.path.isdir(os.path.join(data.root, "train"))
    stats = [os.stat(p) for p in data.shards]
    n = len(data)
    return EvalData(
        name=f"wds:{rest}", split=split, kind=data.kind, classnames=names, templates=chosen,
        make_batches=list_batches(list(range(n)), data.load),
        fingerprint=fingerprint("wds", data.root, split, data.kind,
                                [(os.path.relpath(p, data.root), st.st_size, st.st_mtime_ns)
                                 for p, st in zip(data.shards, stats)]),
        expected_examples=lambda: n, train_split="train" if has_train else None,
        files=tuple(data.shards))


SOURCES = {"folder": folder_source, "pairs": pairs_source, "wds": wds_source}
