"""Tables of one process's shard of a training set read from files: ``load(i)`` -> example.

- ``PairsFolder``: a JSONL/CSV captions file and its images (the ``jclip.data.pairs`` format).
- ``WdsShards``: webdataset tar shards of image + txt/json caption (LAION, DataComp, CC3M).
- ``ClassFolder``: a class-per-folder image set (``jclip.data.folder``), for class-prompt
  captions (FLYP, TeCoA).

Process p of P holds a shard disjoint from the other processes' shards; the shards together
cover the data. ``load`` raises ``ValueError`` naming the file for an unreadable image or an
empty caption (``local_batches`` applies the skip / error policy).
"""

from __future__ import annotations

import json
import os
import re

from jclip.data import folder as folder_lib
from jclip.data import pairs as pairs_lib
from jclip.data import webdataset as wds_lib


def check_caption(caption, where: str) -> str:
    """Returns ``caption`` stripped; ValueError naming ``where`` if it is empty."""
    text = str(caption if caption is not None else "").strip()
    if not text:
        raise ValueError(f"empty caption for {where}")
    return text


class PairsFolder:
    """Rows ``process_index::process_count`` of a JSONL/CSV captions file (``jclip.data.pairs``
    format): ``load(i)`` -> {"image": uint8 [H, W, 3], "caption": str}."""

    def __init__(self, directory: str, captions_file: str = "captions.jsonl", *,
                 process_index: int = 0, process_count: int = 1, image_key: str = "image",
                 caption_key: str = "caption"):
        directory = os.path.expanduser(os.fspath(directory))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"pairs folder data.path={directory!r} does not exist")
        rows = pairs_lib.read_captions(os.path.join(directory, captions_file),
                                       image_key=image_key, caption_key=caption_key)
        self.rows = [(os.path.join(directory, image), caption)
                     for image, caption in rows[process_index::process_count]]

    def __len__(self) -> int:
        return len(self.rows)

    def load(self, i: int) -> dict:
        path, caption = self.rows[i]
        if not os.path.isfile(path):
            raise ValueError(f"image file {path} does not exist")
        return {"image": folder_lib.decode_image(path), "caption": check_caption(caption, path)}


def expand_braces(pattern: str) -> list[str]:
    """Shard pattern -> paths: ``{00000..00009}`` (numeric range, zero padding kept) and
    ``{a,b}`` (alternatives) are expanded, several groups as their product, in order."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    body, head, tail = match.group(1), pattern[:match.start()], pattern[match.end():]
    numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if numeric:
        lo, hi = numeric.groups()
        if int(hi) < int(lo):
            raise ValueError(f"shard range {{{body}}} in {pattern!r} is empty")
        width = len(lo) if lo.startswith("0") else 0
        parts = [str(i).zfill(width) for i in range(int(lo), int(hi) + 1)]
    else:
        parts = body.split(",")
    return [p for part in parts for p in expand_braces(head + part + tail)]


class WdsShards:
    """Samples of webdataset tar shards (image + ``txt`` or ``json`` caption), the LAION /
    DataComp / CC3M layout. Process p takes the tars p, p + P, ... (or, with fewer tars than
    processes, every P-th sample). ``load(i)`` -> {"image": uint8 [H, W, 3], "caption": str};
    a json caption is its ``caption_key`` field."""

    def __init__(self, pattern: str, *, process_index: int = 0, process_count: int = 1,
                 caption_key: str = "caption"):
        paths = expand_braces(os.path.expanduser(os.fspath(pattern)))
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"{len(missing)} of the {len(paths)} shards of data.path="
                                    f"{pattern!r} do not exist, e.g. {missing[:3]}")
        by_tars = len(paths) >= process_count
        self.shards = paths[process_index::process_count] if by_tars else paths
        samples = [s for i, p in enumerate(self.shards) for s in wds_lib.index_shard(p, i)]
        self.samples = samples if by_tars else samples[process_index::process_count]
        self.caption_key = caption_key
        for s in self.samples:
            if (not any(f in s.fields for f in wds_lib.IMAGE_FIELDS)
                    or not ("txt" in s.fields or "json" in s.fields)):
                raise ValueError(f"{self.shards[s.shard]}: sample {s.key!r} needs an image "
                                 f"({'/'.join(wds_lib.IMAGE_FIELDS)}) and a txt or json field, "
                                 f"has {sorted(s.fields)}")

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, i: int) -> dict:
        sample = self.samples[i]
        where = f"{self.shards[sample.shard]}, sample {sample.key!r}"
        image_field = next(f for f in wds_lib.IMAGE_FIELDS if f in sample.fields)
        text_field = "txt" if "txt" in sample.fields else "json"
        data = {}
        with open(self.shards[sample.shard], "rb") as f:
            for field in (image_field, text_field):
                offset, size = sample.fields[field]
                f.seek(offset)
                data[field] = f.read(size)
        text = data[text_field].decode("utf-8", errors="replace")
        if text_field == "json":
            try:
                text = json.loads(text).get(self.caption_key, "")
            except (ValueError, AttributeError):
                raise ValueError(f"{where}: json field is not an object") from None
        image = folder_lib.decode_image(data[image_field], f"{where} ({image_field})")
        return {"image": image, "caption": check_caption(text, where)}


class ClassFolder:
    """Images ``process_index::process_count`` of a class-per-folder set (``jclip.data.folder``,
    split ``split``); ``load(i)`` -> {"image": uint8 [H, W, 3], "label": int}. ``classnames``
    are the folder names with "_" read as a space."""

    def __init__(self, directory: str, split: str = "train", *, process_index: int = 0,
                 process_count: int = 1):
        scanned = folder_lib.scan(directory, split)
        self.classnames = scanned.classnames
        self.files = scanned.files[process_index::process_count]
        self.labels = scanned.labels[process_index::process_count]

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> dict:
        return {"image": folder_lib.decode_image(self.files[i]), "label": int(self.labels[i])}
