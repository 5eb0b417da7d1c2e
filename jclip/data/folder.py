"""Local image folders for evaluation: one subfolder per class, read with PIL.

Layout (the torchvision ``ImageFolder`` one, with optional split folders)::

    DIR/[<split>/]<class>/**/<image>.{jpg,jpeg,png,bmp,gif,webp,tif,tiff}

Classes are the subfolders sorted by name (label id = position), class names the folder names
with ``_`` read as a space. Images are the files with an image extension (any case) anywhere
under a class folder, sorted by their path; other files, and names starting with ".", are
ignored. If ``DIR/<split>`` exists it is the split, otherwise ``DIR`` itself is (when it has no
split folders at all); with split folders, the class list is the union over the splits. Images
are decoded when their batch is made, as uint8 RGB (palette, grey and alpha images converted by
PIL's ``convert("RGB")``, the first frame of an animation, EXIF orientation not applied, as
torchvision's loader does).
"""

from __future__ import annotations

import dataclasses
import io
import os

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLIT_NAMES = ("train", "val", "valid", "validation", "test")


def is_image_file(name: str) -> bool:
    """Whether ``name`` has an image extension (any case) and is not hidden."""
    base = os.path.basename(name)
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def decode_image(data: bytes | str, name: str | None = None) -> np.ndarray:
    """An image file's bytes (or path) -> uint8 [H, W, 3] RGB.

    Raises:
      ValueError naming ``name`` (or the path) when PIL cannot decode it (corrupt, truncated,
      not an image).
    """
    from PIL import Image

    name = name or (data if isinstance(data, str) else "<bytes>")
    try:
        source = data if isinstance(data, str) else io.BytesIO(data)
        with Image.open(source) as image:
            image.load()
            rgb = image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot decode image {name}: {type(e).__name__}: {e}") from None
    return np.asarray(rgb, dtype=np.uint8)


@dataclasses.dataclass(frozen=True)
class ImageFolder:
    """One split of a class-per-folder image dataset.

    root: the folder read (``DIR`` or ``DIR/<split>``).
    classes: class folder names, sorted (label id = index); classnames: the same with "_" -> " ".
    files: absolute image paths in dataset order (class by class, sorted within a class).
    labels: int64 [N], the class id of each file.
    sizes: [N] file sizes in bytes; mtimes: [N] modification times (ns), for fingerprints.
    """

    root: str
    classes: tuple[str, ...]
    classnames: tuple[str, ...]
    files: tuple[str, ...]
    labels: np.ndarray
    sizes: tuple[int, ...]
    mtimes: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> dict:
        """Example ``index`` -> {"image": uint8 [H, W, 3], "label": int64}."""
        return {"image": decode_image(self.files[index]), "label": self.labels[index]}


def _subdirs(path: str) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def split_root(directory: str, split: str) -> str:
    """``directory/split`` if it exists, else ``directory`` when it has no split folders.

    Raises:
      FileNotFoundError if ``directory`` does not exist or it has split folders but not
      ``split`` (naming the ones it has).
    """
    directory = os.path.expanduser(os.fspath(directory))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"image folder {directory} does not exist (or is not a folder)")
    candidate = os.path.join(directory, split)
    if split and os.path.isdir(candidate):
        return candidate
    present = [d for d in _subdirs(directory) if d.lower() in SPLIT_NAMES]
    if present:
        raise FileNotFoundError(f"{directory} has split folders {present} but no {split!r}; "
                                f"pass split= one of them")
    return directory


def scan(directory: str, split: str = "test", *, allow_empty_classes: bool = False,
         min_classes: int = 2) -> ImageFolder:
    """Lists the classes and images of one split of an image folder (no image is decoded).

    With split folders, the classes are those of all split folders together, so that label ids
    agree between splits; a class missing from one split has no images there.

    Args:
      directory: the dataset folder (``~`` expanded).
      split: split folder to read when ``directory`` has split folders.
      allow_empty_classes: keep class folders without images (their label ids stay reserved);
        an error otherwise.
      min_classes: fewest classes accepted (a single class cannot be classified).
    Raises:
      FileNotFoundError for a missing folder; ValueError for no images, too few classes, empty
      class folders, or empty (0-byte) image files, naming them.
    """
    root = split_root(directory, split)
    classes = tuple(_subdirs(root))
    if root != os.path.expanduser(os.fspath(directory)):  # split folders: one class list
        parent = os.path.dirname(root)
        splits = [d for d in _subdirs(parent) if d.lower() in SPLIT_NAMES or d == split]
        classes = tuple(sorted({c for s in splits for c in _subdirs(os.path.join(parent, s))}))
    if not classes:
        loose = [n for n in os.listdir(root) if is_image_file(n)]
        hint = (f" (it has {len(loose)} images directly inside: put each class in its own "
                "subfolder)" if loose else "")
        raise ValueError(f"{root} has no class subfolders{hint}")
    files, labels = [], []
    present = set(_subdirs(root))
    for label, name in enumerate(classes):
        found = []
        for base, dirs, names in os.walk(os.path.join(root, name), followlinks=True):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [os.path.join(base, n) for n in names if is_image_file(n)]
        files += sorted(found)
        labels += [label] * len(found)
    if not files:
        raise ValueError(f"{root} has {len(classes)} class folders but no image files "
                         f"(extensions: {', '.join(IMAGE_EXTENSIONS)})")
    counts = np.bincount(labels, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts) if n == 0 and c in present]
    if empty and not allow_empty_classes:
        raise ValueError(f"{root}: {len(empty)} class folder(s) have no images: {empty[:5]}; "
                         "remove them or pass allow_empty_classes=True to keep their label ids")
    if len(classes) < min_classes:
        raise ValueError(f"{root} has {len(classes)} class folder ({classes[0]!r}); zero-shot "
                         f"classification needs at least {min_classes} classes")
    stats = [os.stat(f) for f in files]
    zero = [f for f, st in zip(files, stats) if st.st_size == 0]
    if zero:
        raise ValueError(f"{len(zero)} image file(s) are empty (0 bytes), e.g. {zero[:3]}")
    return ImageFolder(
        root=os.path.abspath(root), classes=classes,
        classnames=tuple(c.replace("_", " ") for c in classes),
        files=tuple(os.path.abspath(f) for f in files), labels=np.asarray(labels, np.int64),
        sizes=tuple(st.st_size for st in stats), mtimes=tuple(st.st_mtime_ns for st in stats))


def batches(folder: ImageFolder, *, preprocess, batch_size: int, process_index: int = 0,
            process_count: int = 1, num_workers: int = 2):
    """Padded, masked batches of ``folder`` (``jclip.data.pipeline.list_batches``).

    Yields:
      {"image": [batch_size, ...] (uint8 [B, H, W, 3] when ``preprocess`` is None and the
      images share a size), "label": int64 [batch_size], "mask": bool [batch_size]}; each
      process its contiguous part, all processes the same number of batches.
    Raises (while iterating):
      ValueError naming an image file that cannot be decoded.
    """
    from jclip.data import pipeline

    return pipeline.list_batches(list(range(len(folder))), folder.load, preprocess=preprocess,
                                 batch_size=batch_size, process_index=process_index,
                                 process_count=process_count, num_workers=num_workers)
