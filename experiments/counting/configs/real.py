"""The counting study on a real CLIP: OpenAI ViT-B/32 fine-tuned on a local folder of captioned
photos (``data.type="pairs"``; e.g. the counting subset of a LAION / CC sample whose captions
state 2..10 objects), evaluated on CountBench (a local copy, see README.md) with the paper's
caption protocol, CLEVR counts (VTAB count_all) and CIFAR-10 zero-shot as the retention check.

  python -m experiments.counting --config experiments/counting/configs/real.py \\
      --workdir results/counting_real
  (edit TRAIN_PAIRS / EVAL_DATA_DIR below, or make a copy of this file)

``EVAL_DATA_DIR`` is the tfds data_dir (clevr, cifar10 prepared there) holding the CountBench copy
in ``countbench/`` (or the CountBench folder itself when only CountBench is evaluated).
Captions without a number stay in the contrastive loss and are masked out of the counting term
(``data.counterfactual.missing="mask"``); ``counting_rows`` in the training metrics counts those
used. ``get_config("test")`` shrinks it to the offline test (a tiny HF checkpoint, 2 steps).
"""

import ml_collections

from experiments.configs import pairs_finetune

TRAIN_PAIRS = "~/data/counting_pairs"  # captions.jsonl + images
EVAL_DATA_DIR = "~/tensorflow_datasets"  # tfds data_dir with countbench/ inside


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.init_from = "openai/clip-vit-base-patch32"
    c.base_config = ""
    c.base_steps = -1
    c.base_cache = ""
    c.counting_weight = 1.0  # the paper's lambda
    c.sweep = ()  # each lambda is a full fine-tune; add e.g. (0.5, 2.0) where compute allows
    c.eval_seed_offset = 0
    c.eval_data_dir = EVAL_DATA_DIR

    t = pairs_finetune.get_config()
    t.tokenizer = "from_init"  # the checkpoint's tokenizer (set by the study)
    t.total_steps = 2000
    t.data.path = TRAIN_PAIRS
    t.data.counterfactual = dict(counts=tuple(range(2, 11)), missing="mask")
    t.loss.counting_weight = 0.0  # set per arm by the study
    c.train = t

    c.evals = {
        "count": dict(type="counting", dataset="countbench", prompts="caption"),
        "count_templates": dict(type="counting", dataset="countbench"),
        "clevr": dict(type="counting", dataset="clevr_count_all"),
        "cifar10": dict(type="zeroshot_classification", dataset="cifar10"),
    }
    c.summary = dict(count_accuracy=("count", "accuracy"), count_mae=("count", "mae"),
                     count_templates_accuracy=("count_templates", "accuracy"),
                     clevr_count_accuracy=("clevr", "accuracy"),
                     zeroshot_accuracy=("cifar10", "acc1"))
    c.confusion_eval = "count"
    if arg == "test":  # offline: the caller sets init_from, data.path and eval_data_dir
        t.total_steps, t.batch_size, t.log_every, t.checkpoint_every = 2, 8, 1, 0
        t.optim.warmup_steps = 1
        t.data.num_workers = 1
        t.model.context_length = 16
        t.data.augment = False
        t.tensorboard = False
        c.evals = {k: c.evals[k] for k in ("count", "count_templates")}
        c.summary = {k: c.summary[k] for k in ("count_accuracy", "count_mae",
                                               "count_templates_accuracy")}
    return c
