"""Trainer config: fine-tune the scenes CLIP with NumCLIP's coarse-stage loss (loss.name="numclip").

  python -m experiments.train --config experiments/ordinal/configs/finetune.py --workdir DIR

Both towers train on the ordinal size scenes (labels = levels 0..4, mapped to the bins small /
medium / large), from the shared base model (results/base/model, ``experiments.common``); the
FCRC-weighted CE + KL is ``jclip.train.objectives_ordinal``. The fine stage and the adapter stay
with ``jclip.heads.numclip.fit`` on the fine-tuned model's frozen features.
"""

from experiments.configs import shapes_tiny
from jclip.data import shapes
from jclip.tokenizer import WordTokenizer

BINS = ("small", "medium", "large")


def get_config(arg=None):
    c = shapes_tiny.get_config()
    c.init_from = "results/base/model"
    c.total_steps = 200
    c.batch_size = 64
    c.eval_every = 0
    c.optim.lr = 1e-4
    c.optim.warmup_steps = 20
    c.data.sources = ("ordinal",)
    c.data.label = "level"  # int labels in every batch
    c.data.source_options = dict(ordinal=dict(task="size"))
    tokenizer = WordTokenizer(shapes.vocabulary(), c.model.context_length)  # the trainer's
    c.loss.name = "numclip"
    c.loss.numclip_bin_tokens = tokenizer([f"a photo of a {b} object" for b in BINS]).tolist()
    c.loss.numclip_label_bins = (0, 0, 1, 2, 2)  # levels {0, 1}, {2}, {3, 4}
    c.evals = {}
    return c
