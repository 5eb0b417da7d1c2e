"""Data: tfds evaluation pipelines, image-text training pairs, and the synthetic scenes benchmark.

``jclip.data.shapes`` and ``render`` are pure numpy, ``corruptions`` numpy, scipy and PIL; the
tfds/tf.data modules (``registry``, ``pipeline``, ``pairs``, ``shapes_tfds``) import TensorFlow,
so they are loaded only when one of their names is first used.
"""

import importlib

_LAZY_ATTRS = {
    "eval_dataset": ("jclip.data.pipeline", "eval_dataset"),
    "get_dataset_info": ("jclip.data.registry", "get_dataset_info"),
    "DATASETS": ("jclip.data.registry", "DATASETS"),
    "tfds_pairs": ("jclip.data.pairs", "tfds_pairs"),
    "folder_pairs": ("jclip.data.pairs", "folder_pairs"),
    "corrupt": ("jclip.data.corruptions", "corrupt"),
}
_LAZY_MODULES = ("shapes", "render", "corruptions", "registry", "pipeline", "pairs",
                 "shapes_tfds", "imagenet_subsets")


def __getattr__(name):
    if name in _LAZY_ATTRS:
        module, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(module), attr)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"jclip.data.{name}")
    raise AttributeError(f"module 'jclip.data' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY_ATTRS) + list(_LAZY_MODULES))
