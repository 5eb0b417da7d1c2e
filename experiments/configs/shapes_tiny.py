"""Tiny CLIP trained from scratch on the synthetic scenes benchmark (the ``make demo`` run).

A 4-layer, width-128, patch-8 ViT on 64x64 scenes and a 2-layer text tower over the closed
vocabulary of the scene captions; single-object scenes and counting scenes (1..max_count objects of
one shape and colour), so shape, colour and count are all learnable from the captions.

  python -m experiments.train --config experiments/configs/shapes_tiny.py --workdir DIR \
      [--config.total_steps=100 --config.batch_size=64 ...]
"""

import ml_collections


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.total_steps = 500
    c.batch_size = 128  # global batch, split over every device
    c.log_every = 20
    c.eval_every = 200  # zero-shot + retrieval on held-out scenes; 0 disables
    c.checkpoint_every = 200  # 0 disables checkpoints (and resuming)
    c.keep_checkpoints = 2
    c.tensorboard = True
    c.debug_nan_at_step = -1  # >= 1 poisons the loss of that step (tests the NaN abort)

    c.tokenizer = "word"  # closed vocabulary of the scenes; or a Tokenizer.from_pretrained source
    c.init_from = ""  # a jclip.load source to fine-tune instead of training from scratch
    c.locked_towers = ()  # e.g. ("vision",) for LiT: that tower gets no updates

    c.model = ml_collections.ConfigDict()
    c.model.name = "tiny-clip"
    c.model.context_length = 12
    c.model.overrides = dict(
        image_size=64, patch_size=8, embed_dim=128,
        vision_width=128, vision_layers=4, vision_heads=4, vision_mlp_dim=512,
        text_width=128, text_layers=2, text_heads=4, text_mlp_dim=512,
    )

    c.data = ml_collections.ConfigDict()
    # Each batch: half single-object scenes ("a photo of a large red circle"), half counting
    # scenes ("a photo of three blue squares"), see jclip.data.shapes.
    c.data.sources = ("attributes", "counting")
    c.data.options = dict(image_size=64, shapes=("circle", "square", "triangle"),
                          colors=("red", "green", "blue", "yellow", "purple", "orange"))
    c.data.source_options = dict(counting=dict(max_count=4))

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "clip"  # clip | siglip | cloob | cwcl
    c.loss.impl = "xla"  # xla | kernel (memory-flat jclip.kernels, clip and siglip)
    # how the loss sees the global batch under shard_map: all_gather | local (clip) | ring (siglip)
    c.loss.strategy = "all_gather"
    c.loss.label_smoothing = 0.0
    c.loss.counting_weight = 0.0  # lambda of the counting loss (Paiss et al., 2023)
    c.loss.inv_tau = 0.0  # cloob: fixed inverse temperature, <= 0 learns it as the logit scale
    c.loss.hopfield_beta = 14.3  # cloob
    c.loss.cwcl_reference = "text"  # cwcl: tower whose embeddings weight the pairs

    c.optim = ml_collections.ConfigDict()
    c.optim.lr = 1e-3
    c.optim.end_lr_ratio = 0.0
    c.optim.warmup_steps = 50
    c.optim.weight_decay = 0.1
    c.optim.b1 = 0.9
    c.optim.b2 = 0.98
    c.optim.eps = 1e-6
    c.optim.grad_clip_norm = 1.0
    c.optim.accum_steps = 1

    c.mesh = ml_collections.ConfigDict()
    c.mesh.data = -1  # -1: all devices not used by fsdp
    c.mesh.fsdp = 1
    c.mesh.min_shard_size = 1024  # smaller arrays stay replicated

    # Evaluation tasks of jclip.evals on held-out scenes (generated with the run's scene options
    # from a seed stream training never uses); logged as <name>/<metric>. "every" defaults to
    # eval_every.
    c.evals = ml_collections.ConfigDict()
    n = 512
    zeroshot = lambda dataset, label, **kw: dict(
        type="zeroshot_classification", dataset=dataset, every=None,
        data=dict(label=label, num_examples=n), **kw)
    c.evals.shape = zeroshot("jclip_shapes/attributes", "shape")
    c.evals.color = zeroshot("jclip_shapes/attributes", "color")
    c.evals.count = zeroshot("jclip_shapes/counting", "count", confusion_matrix=True)
    # Retrieval over the scenes with distinct captions ("a photo of three red circles", ...).
    c.evals.retrieval = dict(type="zeroshot_retrieval", dataset="jclip_shapes/counting",
                             every=None, data=dict(num_examples=n, distinct_captions=True),
                             recall_k=(1, 5))
    return c
