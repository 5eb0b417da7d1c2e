"""Fine-tune a pretrained CLIP on a local folder of captioned images (``data.type="pairs"``).

The folder holds a captions file (JSONL or CSV, see ``jclip.data.pairs``) naming each image and
its caption; ``init_from`` is any ``jclip.load`` source (HF hub id or folder, OpenCLIP file, a
jclip-saved folder) and the tokenizer is the checkpoint's.

  python -m experiments.train --config experiments/configs/pairs_finetune.py --workdir DIR \
      --config.init_from=openai/clip-vit-base-patch32 --config.data.path=~/data/my_pairs

``get_config("micro")``: 6 steps of batch 8, for smoke tests on a tiny checkpoint.
"""

import ml_collections

from experiments.configs import shapes_tiny


def get_config(arg=None):
    c = shapes_tiny.get_config()
    c.total_steps = 2000
    c.batch_size = 256
    c.log_every = 20
    c.eval_every = 0
    c.checkpoint_every = 500
    c.init_from = "openai/clip-vit-base-patch32"
    c.tokenizer = c.get_ref("init_from")  # the checkpoint's tokenizer
    c.model.context_length = 77
    c.model.overrides = {}  # the architecture is the checkpoint's

    c.data = ml_collections.ConfigDict()
    c.data.type = "pairs"
    c.data.path = ""  # the folder with the captions file and the images
    c.data.captions_file = "captions.jsonl"
    c.data.image_key = "image"
    c.data.caption_key = "caption"
    c.data.on_error = "skip"  # unreadable images / empty captions: skipped, data/skipped counts
    c.data.augment = True  # random resized crop, OpenCLIP's default scale
    c.data.augment_scale = (0.9, 1.0)
    c.data.num_workers = 8

    c.optim.lr = 1e-5
    c.optim.warmup_steps = 100
    c.optim.weight_decay = 0.1
    c.evals = ml_collections.ConfigDict()  # add jclip.evals tasks for the target domain here
    if arg == "micro":
        c.total_steps = 6
        c.batch_size = 8
        c.log_every = 1
        c.checkpoint_every = 3
        c.optim.warmup_steps = 1
        c.model.context_length = 16
        c.data.num_workers = 2
    return c
