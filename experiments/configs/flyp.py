"""FLYP: fine-tune like you pretrain (Goyal et al., 2022).

A pretrained CLIP is fine-tuned on a classification set with its own contrastive loss, the
captions being class prompts: each image gets one template, drawn per example and step, filled
with its class name (OpenAI's 80 ImageNet templates by default; ``jclip.heads.prompts``). The
paper fine-tunes on ImageNet with lr 1e-5, weight decay 0.1, batch 512 and 10 epochs.

  python -m experiments.train --config experiments/configs/flyp.py --workdir DIR \
      [--config.data.tfds_name=imagenet2012 | --config.data.path=folder:~/data/pets] \
      --config.init_from=openai/clip-vit-base-patch32

``get_config("micro")``: 6 steps of batch 8 for smoke tests (give a ``folder:`` set and a tiny
checkpoint).
"""

import ml_collections

from experiments.configs import shapes_tiny


def get_config(arg=None):
    c = shapes_tiny.get_config()
    c.total_steps = 25_000  # 10 epochs of ImageNet at batch 512
    c.batch_size = 512
    c.log_every = 50
    c.eval_every = 0
    c.checkpoint_every = 1000
    c.init_from = "openai/clip-vit-base-patch32"
    c.tokenizer = c.get_ref("init_from")
    c.model.context_length = 77
    c.model.overrides = {}  # the architecture is the checkpoint's

    c.data = ml_collections.ConfigDict()
    c.data.type = "classification"
    c.data.tfds_name = "imagenet2012"  # a tfds classification set, used when path is empty
    c.data.path = ""  # or a class-per-folder set: "folder:DIR"
    c.data.split = "train"
    c.data.templates = "imagenet"  # a jclip.heads.prompts name / file / tuple with {} slots
    c.data.on_error = "error"
    c.data.augment = True
    c.data.augment_scale = (0.9, 1.0)
    c.data.num_workers = 8

    c.loss.name = "clip"
    c.optim.lr = 1e-5
    c.optim.warmup_steps = 500
    c.optim.weight_decay = 0.1
    c.evals = ml_collections.ConfigDict()  # e.g. zero-shot accuracy on the target's test split
    if arg == "micro":
        c.total_steps = 6
        c.batch_size = 8
        c.log_every = 1
        c.checkpoint_every = 3
        c.optim.warmup_steps = 1
        c.model.context_length = 16
        c.data.tfds_name = ""
        with c.data.ignore_type():
            c.data.templates = ("a photo of a {}.", "a picture of a {}.")
        c.data.num_workers = 2
    return c
