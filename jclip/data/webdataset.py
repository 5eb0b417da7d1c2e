"""Evaluation sets in CLIP_benchmark's webdataset layout, read with the standard library.

The layout ``clip_benchmark.webdataset_builder`` writes (and its ``wds/`` datasets read)::

    DIR/
      <split>/0.tar, 1.tar, ...         shards, in order
      <split>/nshards.txt               number of shards
      classnames.txt                    one class name per line (classification)
      zeroshot_classification_templates.txt   one template per line, slot "{c}"
      dataset_type.txt                  "retrieval", "multilabel", or absent = classification

The three metadata files are looked up in ``DIR/<split>/`` first, then in ``DIR/``. Inside a
tar, files are grouped into samples as webdataset does: consecutive members with the same
key (the path up to the first "." of the file name), the rest of the name (lower-cased) being
the field. A sample's image is its first field among webp, png, jpg, jpeg; its label the
``cls`` field (an integer as text), for multilabel the ``npy`` field (a multi-hot array); a
retrieval sample's captions are the ``txt`` field split into lines (``str.splitlines``, as
CLIP_benchmark reads them; its writer stores newlines inside a caption as a literal ``\\n``).

The shards are indexed once, reading only the tar headers; a sample's bytes are read (by file
offset, so the tars must be uncompressed, as webdataset shards are) when its batch is made.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import tarfile

import numpy as np

from jclip.data.folder import decode_image

IMAGE_FIELDS = ("webp", "png", "jpg", "jpeg")
DATASET_TYPES = ("classification", "multilabel", "retrieval")
_LABEL_FIELD = {"classification": "cls", "multilabel": "npy", "retrieval": "txt"}


@dataclasses.dataclass(frozen=True)
class Sample:
    """One sample of a shard: its key and, per field, (byte offset, size) in the tar file."""

    shard: int
    key: str
    fields: dict


@dataclasses.dataclass(frozen=True)
class WebDatasetSplit:
    """One split of a webdataset-format evaluation set.

    root: the dataset folder; split: the split read; kind: "classification", "multilabel" or
    "retrieval" (from dataset_type.txt).
    classnames: tuple of str from classnames.txt, or None (no file, or retrieval).
    templates_file: path of zeroshot_classification_templates.txt, or None.
    shards: the tar paths, in order; samples: all samples, in order (shard by shard).
    """

    root: str
    split: str
    kind: str
    classnames: tuple[str, ...] | None
    templates_file: str | None
    shards: tuple[str, ...]
    samples: tuple[Sample, ...]

    def __len__(self) -> int:
        return len(self.samples)

    def _read(self, sample: Sample, *fields: str) -> list[bytes]:
        out = []
        with open(self.shards[sample.shard], "rb") as f:
            for field in fields:
                offset, size = sample.fields[field]
                f.seek(offset)
                out.append(f.read(size))
        return out

    def load(self, index: int) -> dict:
        """Sample ``index`` -> {"image": uint8 [H, W, 3], "label": int64 (uint8/float [C] for
        multilabel, the sample index for retrieval)} (+ "captions": list[str] for retrieval).

        Raises:
          ValueError naming the shard and key of an undecodable image or a bad label.
        """
        sample = self.samples[index]
        where = f"{self.shards[sample.shard]}, sample {sample.key!r}"
        field = next(f for f in IMAGE_FIELDS if f in sample.fields)
        image, data = self._read(sample, field, _LABEL_FIELD[self.kind])
        out = {"image": decode_image(image, f"{where} ({field})")}
        if self.kind == "retrieval":
            out["label"] = np.int64(index)
            out["captions"] = data.decode("utf-8").splitlines()
        elif self.kind == "multilabel":
            try:
                out["label"] = np.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, OSError) as e:
                raise ValueError(f"{where}: the npy label cannot be read: {e}") from None
        else:
            try:
                label = int(data.strip())
            except ValueError:
                raise ValueError(f"{where}: cls label {data[:20]!r} is not an integer") from None
            if label < 0 or (self.classnames is not None and label >= len(self.classnames)):
                raise ValueError(f"{where}: label {label} is outside the "
                                 f"{len(self.classnames or ())} classes of classnames.txt")
            out["label"] = np.int64(label)
        return out


_KEY = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")  # webdataset's base_plus_ext


def index_shard(path: str, shard: int = 0) -> list[Sample]:
    """The samples of one uncompressed tar, in order, without reading their data.

    Raises:
      ValueError for a file that is not an uncompressed tar, or a field repeated in a sample.
    """
    try:
        tar = tarfile.open(path, mode="r:")
    except tarfile.ReadError as e:
        raise ValueError(f"{path} is not an uncompressed tar file ({e}); webdataset shards are "
                         "plain .tar") from None
    samples, key, fields = [], None, {}
    with tar:
        for member in tar:
            name = member.name
            if not member.isreg() or ("/" not in name and name.startswith("__")
                                      and name.endswith("__")):
                continue
            match = _KEY.match(name)
            if match is None:
                continue
            prefix, suffix = match.group(1), match.group(2).lower()
            if prefix != key:
                if fields:
                    samples.append(Sample(shard, key, fields))
                key, fields = prefix, {}
            if suffix in fields:
                raise ValueError(f"{path}: sample {key!r} has the field {suffix!r} twice")
            fields[suffix] = (member.offset_data, member.size)
    if fields:
        samples.append(Sample(shard, key, fields))
    return samples


def _find(root: str, split: str, name: str) -> str | None:
    for path in (os.path.join(root, split, name), os.path.join(root, name)):
        if os.path.isfile(path):
            return path
    return None


def _shards(root: str, split: str) -> list[str]:
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        have = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        raise FileNotFoundError(f"{root} has no split folder {split!r} (it has {have}); pass "
                                "split= one of them")
    count_file = os.path.join(folder, "nshards.txt")
    if os.path.isfile(count_file):
        with open(count_file) as f:
            text = f.read().strip()
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{count_file} should hold a positive shard count, got {text!r}")
        paths = [os.path.join(folder, f"{i}.tar") for i in range(int(text))]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"{count_file} says {text} shards but {len(missing)} are "
                                    f"missing, e.g. {missing[:3]}")
        return paths
    numbers = sorted(int(n[:-4]) for n in os.listdir(folder)
                     if n.endswith(".tar") and n[:-4].isdigit())
    if not numbers:
        raise FileNotFoundError(f"{folder} has no shards (0.tar, 1.tar, ...) and no nshards.txt")
    if numbers != list(range(len(numbers))):
        raise FileNotFoundError(f"{folder} has no nshards.txt and its shards are not numbered "
                                f"0..{len(numbers) - 1}: {numbers[:10]}")
    return [os.path.join(folder, f"{i}.tar") for i in numbers]


def open_split(directory: str, split: str = "test") -> WebDatasetSplit:
    """Indexes one split of a webdataset-format dataset (see the module docstring).

    Raises:
      FileNotFoundError for a missing folder, split or shard; ValueError for an unknown
      dataset type, an empty split, or a sample without an image or label field (naming the
      shard and the sample key).
    """
    from jclip.heads.prompts import load_classnames

    root = os.path.abspath(os.path.expanduser(os.fspath(directory)))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"webdataset folder {root} does not exist")
    shards = _shards(root, split)
    type_file = _find(root, split, "dataset_type.txt")
    kind = "classification"
    if type_file is not None:
        with open(type_file) as f:
            kind = f.read().strip().lower() or kind
        if kind not in DATASET_TYPES:
            raise ValueError(f"{type_file} says {kind!r}; known dataset types: {DATASET_TYPES}")
    samples = [s for i, path in enumerate(shards) for s in index_shard(path, i)]
    if not samples:
        raise ValueError(f"the shards of {root}/{split} hold no samples")
    label_field = _LABEL_FIELD[kind]
    for s in samples:
        image = next((f for f in IMAGE_FIELDS if f in s.fields), None)
        if image is None or label_field not in s.fields:
            lacks = f"image ({'/'.join(IMAGE_FIELDS)})" if image is None else repr(label_field)
            raise ValueError(f"{shards[s.shard]}: sample {s.key!r} has no {lacks} field (its "
                             f"fields: {sorted(s.fields)}; dataset type {kind})")
        if s.fields[image][1] == 0:
            raise ValueError(f"{shards[s.shard]}: sample {s.key!r} has an empty (0-byte) "
                             f"{image!r} image")
    names_file = _find(root, split, "classnames.txt")
    classnames = (load_classnames(names_file) if names_file and kind != "retrieval" else None)
    templates_file = _find(root, split, "zeroshot_classification_templates.txt")
    return WebDatasetSplit(root=root, split=split, kind=kind, classnames=classnames,
                           templates_file=None if kind == "retrieval" else templates_file,
                           shards=tuple(shards), samples=tuple(samples))
