"""CountBench (Paiss et al., 2023) from a local copy: its JSON and a folder of the images.

CountBench is a list of rows ``{"image_url", "text", "number"}`` (540 images of 2..10 objects,
60 per count). Its images are only URLs, and URLs rot, so users download the images once
(``download``, or any tool) into a folder next to the JSON:

  DIR/CountBench.json        (or countbench.json / countbench.jsonl: a JSON list or JSON lines)
  DIR/images/0000.jpg ...    row i's image

Row ``i``'s image file is, in this order: the row's own column (``file_key``, default the first
of "image_path", "file_name", "file", "image" present in the row), relative to the images folder;
else ``images/{i:04d}.<jpg|jpeg|png|webp>`` (``download``'s names); else the URL's base name.

``scan`` reads the JSON and checks every row before any image is decoded: a row without a
usable number (an int in ``counts``), text or URL is a *bad row* (an error by default,
``on_bad_row="skip"`` counts and reports it); a row whose image file is missing or empty is a
*missing image* (counted and reported by default, ``on_missing="error"`` raises). ``report()``
gives these counts with the first few indices, so a partial copy is never silently smaller.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import urllib.parse

import numpy as np

JSON_NAMES = ("CountBench.json", "countbench.json", "countbench.jsonl")
FILE_KEYS = ("image_path", "file_name", "file", "image")
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
COUNTS = tuple(range(2, 11))  # CountBench's counts: two..ten


@dataclasses.dataclass(frozen=True)
class CountBench:
    """The readable part of a local CountBench copy.

    indices: row index in the JSON of each kept example; files, texts, numbers: per example.
    missing: row indices whose image file is missing or empty; bad_rows: [(index, reason)].
    """

    root: str
    json_path: str
    total_rows: int
    indices: tuple[int, ...]
    files: tuple[str, ...]
    texts: tuple[str, ...]
    numbers: tuple[int, ...]
    missing: tuple[int, ...]
    bad_rows: tuple[tuple[int, str], ...]

    def __len__(self) -> int:
        return len(self.files)

    def report(self) -> dict:
        """Counts of what was read, left out and why (for result JSONs and logs)."""
        per_count = {str(c): int(sum(n == c for n in self.numbers))
                     for c in sorted(set(self.numbers))}
        return {"rows": self.total_rows, "images_found": len(self.files),
                "missing_images": len(self.missing), "missing_first": list(self.missing[:10]),
                "bad_rows": len(self.bad_rows),
                "bad_rows_first": [list(b) for b in self.bad_rows[:10]],
                "per_count": per_count}

    def load(self, i: int) -> dict:
        """Example ``i``: {"image": uint8 [H, W, 3], "label": count, "captions": [text]}."""
        from jclip.data.folder import decode_image

        return {"image": decode_image(self.files[i]), "label": np.int64(self.numbers[i]),
                "captions": [self.texts[i]]}


def find_json(root: str) -> str:
    """The CountBench JSON of ``root`` (a folder holding one of ``JSON_NAMES``, or the file)."""
    path = os.path.expanduser(root)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"CountBench: {root!r} is neither a folder nor a JSON file "
                                f"(see experiments/counting/README.md for the layout)")
    for name in JSON_NAMES:
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name)
    raise FileNotFoundError(f"CountBench: {root!r} has none of {JSON_NAMES}")


def read_rows(json_path: str) -> list:
    """The rows of a CountBench JSON (a list, ``{"data": [...]}``, or JSON lines)."""
    with open(json_path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise ValueError(f"CountBench: {json_path} is neither JSON nor JSON lines ({e})"
                             ) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise ValueError(f"CountBench: {json_path} must hold a list of rows with image_url, "
                         f"text and number, got a {type(data).__name__}")
    if not data:
        raise ValueError(f"CountBench: {json_path} has no rows")
    return data


def check_row(row, counts=COUNTS) -> str | None:
    """Why ``row`` cannot be used (a short reason), or None when it is fine."""
    if not isinstance(row, dict):
        return f"not an object ({type(row).__name__})"
    number = row.get("number")
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
        return f"number is {row.get('number')!r}, not an int"
    if int(number) not in counts:
        return f"number {int(number)} outside {min(counts)}..{max(counts)}"
    if not isinstance(row.get("text"), str) or not row["text"].strip():
        return "empty or missing text"
    if not isinstance(row.get("image_url"), str) or not row["image_url"].strip():
        if not any(isinstance(row.get(k), str) and row[k] for k in FILE_KEYS):
            return "no image_url"
    return None


def url_file_name(url: str) -> str:
    """A safe file name from a URL's path ("https://x/a/b.jpg?w=3" -> "b.jpg")."""
    name = os.path.basename(urllib.parse.urlparse(url).path)
    return re.sub(r"[^\w.-]+", "_", urllib.parse.unquote(name)) or "image"


def image_file(row: dict, index: int, images_dir: str, file_key: str | None = None) -> str:
    """The path row ``index``'s image should be at (see the module docstring for the order)."""
    keys = (file_key,) if file_key else FILE_KEYS
    for key in keys:
        value = row.get(key)
        if isinstance(value, str) and value and not value.startswith(("http://", "https://")):
            return os.path.join(images_dir, value)
    for ext in EXTENSIONS:
        path = os.path.join(images_dir, f"{index:04d}{ext}")
        if os.path.isfile(path):
            return path
    return os.path.join(images_dir, url_file_name(str(row.get("image_url", ""))))


def scan(root: str, *, images_dir: str = "images", file_key: str | None = None,
         on_missing: str = "skip", on_bad_row: str = "error", counts=COUNTS) -> CountBench:
    """Reads and checks a local CountBench copy (see the module docstring).

    Raises:
      FileNotFoundError: no JSON; or a missing image with ``on_missing="error"``.
      ValueError: a bad row with ``on_bad_row="error"`` (naming the row and why); no image at
        all; an unknown policy.
    """
    for name, value in (("on_missing", on_missing), ("on_bad_row", on_bad_row)):
        if value not in ("skip", "error"):
            raise ValueError(f"CountBench: {name} must be 'skip' or 'error', got {value!r}")
    json_path = find_json(root)
    base = os.path.dirname(os.path.abspath(json_path))
    folder = images_dir if os.path.isabs(images_dir) else os.path.join(base, images_dir)
    rows = read_rows(json_path)
    keep, missing, bad = [], [], []
    for i, row in enumerate(rows):
        reason = check_row(row, counts)
        if reason is not None:
            if on_bad_row == "error":
                raise ValueError(f"CountBench: row {i} of {json_path}: {reason} (pass "
                                 f"on_bad_row='skip' to count and skip such rows)")
            bad.append((i, reason))
            continue
        path = image_file(row, i, folder, file_key)
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            if on_missing == "error":
                raise FileNotFoundError(f"CountBench: row {i}'s image {path} is missing or "
                                        f"empty (on_missing='skip' counts and skips them)")
            missing.append(i)
            continue
        keep.append((i, path, row["text"].strip(), int(row["number"])))
    if not keep:
        raise ValueError(f"CountBench: none of the {len(rows)} rows of {json_path} has its "
                         f"image in {folder} ({len(missing)} missing, {len(bad)} bad rows); "
                         f"download them first (jclip.data.countbench.download)")
    idx, files, texts, numbers = zip(*keep)
    return CountBench(base, json_path, len(rows), idx, files, texts, numbers, tuple(missing),
                      tuple(bad))


def download(root: str, *, images_dir: str = "images", timeout: float = 20.0,
             overwrite: bool = False, fetch=None) -> dict:
    """Downloads every row's image_url to ``images/{i:04d}<ext>``; returns
    {"downloaded", "present", "failed": [(index, error)]}. ``fetch(url, timeout) -> bytes``
    replaces the HTTP GET (urllib) for tests or proxies."""
    import urllib.request

    from jclip.data.folder import decode_image

    def http_get(url, timeout):
        request = urllib.request.Request(url, headers={"User-Agent": "jclip-countbench"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    fetch = fetch or http_get
    json_path = find_json(root)
    folder = os.path.join(os.path.dirname(os.path.abspath(json_path)), images_dir)
    os.makedirs(folder, exist_ok=True)
    out = {"downloaded": 0, "present": 0, "failed": []}
    for i, row in enumerate(read_rows(json_path)):
        url = row.get("image_url") if isinstance(row, dict) else None
        if not isinstance(url, str) or not url:
            out["failed"].append((i, "no image_url"))
            continue
        ext = os.path.splitext(url_file_name(url))[1].lower()
        path = os.path.join(folder, f"{i:04d}{ext if ext in EXTENSIONS else '.jpg'}")
        if os.path.isfile(path) and os.path.getsize(path) and not overwrite:
            out["present"] += 1
            continue
        try:
            data = fetch(url, timeout)
        except Exception as e:  # a dead URL is expected: counted, the rest continue
            out["failed"].append((i, f"{type(e).__name__}: {e}"))
            continue
        try:  # an error page instead of an image is a failure too
            decode_image(data, url)
        except ValueError as e:
            out["failed"].append((i, str(e)))
            continue
        with open(path, "wb") as f:
            f.write(data)
        out["downloaded"] += 1
    return out
