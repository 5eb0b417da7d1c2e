"""Catalog of the evaluation datasets of CLIP papers, by name, over tensorflow-datasets.

Each entry says where the data lives in tfds (name, evaluation split, label feature), what kind of
task it is, and how to name its classes. Names with a tfds config pass it through, e.g.
``"imagenet2012_corrupted/contrast_5"``, ``"cifar10_corrupted/pixelate_3"``,
``"imagenet_v2/threshold-0.7"``. Importing this module does not import TensorFlow.

Kinds: "classification" (one int label), "multilabel" (a multi-hot label row), "retrieval"
(images with several captions), "ordinal" (ordered int labels), "counting" (label = count class).
"""

from __future__ import annotations

import dataclasses

from jclip.data.imagenet_subsets import IMAGENET_A_CLASS_IDS, IMAGENET_R_CLASS_IDS

KINDS = ("classification", "multilabel", "retrieval", "ordinal", "counting")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """One evaluation dataset.

    name: catalog name (also the tfds name unless ``tfds_name`` differs).
    tfds_name: tfds name[/config] to load.
    split: evaluation split; ``train_split``: split for few-shot / linear-probe training.
    kind: one of KINDS.
    label_key: feature holding the label (ignored when ``label_fn`` is set).
    label_fn: name of a label transform in ``jclip.data.pipeline`` (e.g. VTAB's CLEVR tasks).
    classnames: tuple of class names, or "imagenet" (the 1000 CLIP ImageNet names), or "tfds"
      (the tfds ClassLabel names, cleaned), or () (retrieval).
    class_subset: ImageNet-1k ids the dataset covers (ImageNet-R / -A); zero-shot logits are
      restricted to them.
    manual: where the user must put files that tfds cannot download, or None.
    """

    name: str
    tfds_name: str
    split: str
    kind: str
    label_key: str | None = "label"
    label_fn: str | None = None
    classnames: tuple | str = "tfds"
    class_subset: tuple | None = None
    train_split: str | None = None
    manual: str | None = None
    grayscale: bool = False  # single-channel images, tiled to RGB by the pipeline


_IMAGENET_MANUAL = (
    "ImageNet needs a manual download: register at https://image-net.org/download-images and put "
    "ILSVRC2012_img_val.tar (and ILSVRC2012_img_train.tar for the train split) in the tfds manual "
    "directory, <data_dir>/downloads/manual/ (data_dir defaults to ~/tensorflow_datasets)"
)
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100 = (
    "apple", "aquarium fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar",
    "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile",
    "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster",
    "house", "kangaroo", "keyboard", "lamp", "lawn mower", "leopard", "lion", "lizard", "lobster",
    "man", "maple tree", "motorcycle", "mountain", "mouse", "mushroom", "oak tree", "orange",
    "orchid", "otter", "palm tree", "pear", "pickup truck", "pine tree", "plain", "plate", "poppy",
    "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal",
    "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar",
    "sunflower", "sweet pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow tree", "wolf", "woman",
    "worm",
)
STL10 = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
SVHN = tuple(str(d) for d in range(10))
EUROSAT = ("annual crop land", "forest", "brushland or shrubland", "highway or road",
           "industrial buildings", "pasture land", "permanent crop land", "residential buildings",
           "river", "lake or sea")
PCAM = ("lymph node", "lymph node containing metastatic tumor tissue")
# VTAB tasks: CLEVR count_all (counts 3..10 -> 8 classes), closest_object_distance (6 bins of
# the smallest pixel depth), smallNORB elevation (30..70 deg, 5 deg steps) and azimuth (0..340).
CLEVR_COUNT = ("three", "four", "five", "six", "seven", "eight", "nine", "ten")
CLEVR_DISTANCE = ("very close", "close", "near", "medium distance", "far", "very far")
NORB_ELEVATION = tuple(f"{d} degrees" for d in range(30, 71, 5))
NORB_AZIMUTH = tuple(f"{d} degrees" for d in range(0, 341, 20))
MNIST = tuple(str(d) for d in range(10))
# VTAB DMLab and diabetic retinopathy: CLIP_benchmark's class names.
DMLAB = ("nearby apple/melon", "far apple/melon", "very far apple/melon", "nearby lemon",
         "far lemon", "very far lemon")
RETINOPATHY = tuple(f"{grade} diabetic retinopathy"
                    for grade in ("no", "mild", "moderate", "severe", "proliferative"))
_RETINOPATHY_MANUAL = (
    "diabetic_retinopathy_detection needs a manual download: accept the Kaggle competition "
    "'diabetic-retinopathy-detection' rules, download and extract its files into the tfds manual "
    "directory, <data_dir>/downloads/manual/"
)


def _imagenet(name, tfds_name, split, **kw):
    return DatasetInfo(name, tfds_name, split, "classification", classnames="imagenet", **kw)


_ENTRIES = [
    _imagenet("imagenet2012", "imagenet2012", "validation", train_split="train",
              manual=_IMAGENET_MANUAL),
    _imagenet("imagenet_v2", "imagenet_v2", "test"),
    _imagenet("imagenet_r", "imagenet_r", "test", class_subset=IMAGENET_R_CLASS_IDS),
    _imagenet("imagenet_a", "imagenet_a", "test", class_subset=IMAGENET_A_CLASS_IDS),
    _imagenet("imagenet_sketch", "imagenet_sketch", "test"),
    DatasetInfo("imagenet2012_real", "imagenet2012_real", "validation", "multilabel",
                label_key="real_label", label_fn="multi_hot_1000", classnames="imagenet",
                manual=_IMAGENET_MANUAL),
    _imagenet("imagenet2012_corrupted", "imagenet2012_corrupted", "validation",
              manual=_IMAGENET_MANUAL),
    DatasetInfo("cifar10", "cifar10", "test", "classification", classnames=CIFAR10,
                train_split="train"),
    DatasetInfo("cifar10_1", "cifar10_1", "test", "classification", classnames=CIFAR10),
    DatasetInfo("cifar10_corrupted", "cifar10_corrupted", "test", "classification",
                classnames=CIFAR10),
    DatasetInfo("cifar100", "cifar100", "test", "classification", classnames=CIFAR100,
                train_split="train"),
    DatasetInfo("stl10", "stl10", "test", "classification", classnames=STL10, train_split="train"),
    DatasetInfo("caltech101", "caltech101", "test", "classification", train_split="train"),
    DatasetInfo("oxford_iiit_pet", "oxford_iiit_pet", "test", "classification",
                train_split="train"),
    DatasetInfo("oxford_flowers102", "oxford_flowers102", "test", "classification",
                train_split="train"),
    DatasetInfo("dtd", "dtd", "test", "classification", train_split="train"),
    DatasetInfo("eurosat", "eurosat/rgb", "train[21600:]", "classification", classnames=EUROSAT,
                train_split="train[:16200]"),
    DatasetInfo("food101", "food101", "validation", "classification", train_split="train"),
    DatasetInfo("sun397", "sun397/tfds", "test", "classification", train_split="train"),
    DatasetInfo("svhn_cropped", "svhn_cropped", "test", "classification", classnames=SVHN,
                train_split="train"),
    DatasetInfo("resisc45", "resisc45", "train[25200:]", "classification",
                train_split="train[:18900]"),
    DatasetInfo("patch_camelyon", "patch_camelyon", "test", "classification", classnames=PCAM,
                train_split="train"),
    DatasetInfo("geirhos_conflict_stimuli", "geirhos_conflict_stimuli", "test", "classification",
                label_key="shape_label"),
    DatasetInfo("cars196", "cars196", "test", "classification", train_split="train"),
    DatasetInfo("clevr_count_all", "clevr", "validation", "counting", label_fn="clevr_count_all",
                classnames=CLEVR_COUNT, train_split="train"),
    DatasetInfo("clevr_closest_object_distance", "clevr", "validation", "ordinal",
                label_fn="clevr_closest_object_distance", classnames=CLEVR_DISTANCE,
                train_split="train"),
    DatasetInfo("smallnorb_elevation", "smallnorb", "test", "ordinal",
                label_key="label_elevation", classnames=NORB_ELEVATION, train_split="train",
                grayscale=True),
    DatasetInfo("smallnorb_azimuth", "smallnorb", "test", "ordinal", label_key="label_azimuth",
                classnames=NORB_AZIMUTH, train_split="train", grayscale=True),
    DatasetInfo("coco_captions", "coco_captions", "test", "retrieval", label_key="image/id",
                classnames=(), train_split="train"),
    DatasetInfo("mnist", "mnist", "test", "classification", classnames=MNIST,
                train_split="train", grayscale=True),
    DatasetInfo("dmlab", "dmlab", "test", "classification", classnames=DMLAB,
                train_split="train"),
    DatasetInfo("diabetic_retinopathy", "diabetic_retinopathy_detection/btgraham-300", "test",
                "classification", classnames=RETINOPATHY, train_split="train",
                manual=_RETINOPATHY_MANUAL),
]
_ENTRIES += [
    DatasetInfo(f"jclip_shapes/{config}", f"jclip_shapes/{config}", split, kind,
                label_key=label, classnames="tfds", train_split="train")
    for config, label, kind, split in (
        ("attributes", "shape", "classification", "test"),
        ("counting", "count", "counting", "test"),
        ("ordinal_size", "level", "ordinal", "test"),
        ("ordinal_brightness", "level", "ordinal", "test"),
        ("spurious_texture", "shape", "classification", "counter"),
        ("spurious_color", "shape", "classification", "counter"),
    )
]
DATASETS = {info.name: info for info in _ENTRIES}


def get_dataset_info(name: str) -> DatasetInfo:
    """The catalog entry of ``name``; ``base/config`` selects a tfds config of a base entry."""
    if name in DATASETS:
        return DATASETS[name]
    base, _, config = name.partition("/")
    if config and base in DATASETS and "/" not in DATASETS[base].tfds_name:
        return dataclasses.replace(DATASETS[base], name=name, tfds_name=name)
    raise ValueError(f"unknown dataset {name!r}; known datasets: {sorted(DATASETS)} (a tfds "
                     "config can follow a name, e.g. 'imagenet2012_corrupted/contrast_5')")


def _clean(name: str) -> str:
    # sun397 names look like "/b/bakery/shop"; others use underscores or CamelCase-free words.
    if name.startswith("/"):
        name = " ".join(name.split("/")[2:])
    return name.replace("_", " ").lower()


def classnames(name: str) -> list[str]:
    """Class names of dataset ``name`` (index = label id); imports tfds for "tfds" names."""
    info = get_dataset_info(name)
    if info.classnames == "imagenet":
        from jclip.heads.prompts import imagenet_classnames

        return list(imagenet_classnames())
    if info.classnames == "tfds":
        import tensorflow_datasets as tfds

        if info.tfds_name.startswith("jclip_shapes"):
            from jclip.data import shapes_tfds  # noqa: F401  (registers the builder)
        feature = tfds.builder(info.tfds_name).info.features[info.label_key]
        return [_clean(n) for n in feature.names]
    return list(info.classnames)


def subset_classnames(name: str) -> list[str]:
    """Class names restricted to the dataset's class subset (all names when it has none)."""
    names, info = classnames(name), get_dataset_info(name)
    return names if info.class_subset is None else [names[i] for i in info.class_subset]
