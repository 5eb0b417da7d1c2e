"""Config-driven CLIP / SigLIP training on a device mesh (``python -m experiments.train``).

Modules: ``config`` (config files and command-line overrides), ``sharding`` (mesh, fsdp rules),
``optim`` (AdamW + warmup-cosine), ``state`` (sharded train state), ``step`` (loss and train step),
``input_pipeline`` (deterministic synthetic batches), ``checkpointing`` (orbax), ``evaluators``
(zero-shot and retrieval), ``metric_writer`` (metrics.jsonl, TensorBoard) and ``loop``.
"""

from jclip._lazy import package_face

_LAZY_ATTRS = {
    "train": ("jclip.train.loop", "train"),
    "Trainer": ("jclip.train.loop", "Trainer"),
    "NonFiniteLossError": ("jclip.train.loop", "NonFiniteLossError"),
    "load_config": ("jclip.train.config", "load_config"),
    "parse_args": ("jclip.train.config", "parse_args"),
    "make_mesh": ("jclip.train.sharding", "make_mesh"),
    "read_metrics": ("jclip.train.metric_writer", "read_metrics"),
}


__getattr__, __dir__ = package_face(__name__, __path__, _LAZY_ATTRS)
