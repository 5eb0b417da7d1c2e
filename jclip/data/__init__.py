"""Data: tfds evaluation pipelines, image-text training pairs, and the synthetic scenes benchmark.

``jclip.data.shapes`` and ``render`` are pure numpy, ``corruptions`` numpy, scipy and PIL; the
tfds/tf.data modules (``registry``, ``pipeline``, ``pairs``, ``shapes_tfds``) import TensorFlow,
so they are loaded only when one of their names is first used.
"""

from jclip._lazy import package_face

_LAZY_ATTRS = {
    "eval_dataset": ("jclip.data.pipeline", "eval_dataset"),
    "get_dataset_info": ("jclip.data.registry", "get_dataset_info"),
    "DATASETS": ("jclip.data.registry", "DATASETS"),
    "tfds_pairs": ("jclip.data.pairs", "tfds_pairs"),
    "folder_pairs": ("jclip.data.pairs", "folder_pairs"),
    "corrupt": ("jclip.data.corruptions", "corrupt"),
}


__getattr__, __dir__ = package_face(__name__, __path__, _LAZY_ATTRS)
