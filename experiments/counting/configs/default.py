"""The counting study on the synthetic scenes (about 5 minutes per seed on 2 CPU cores).

Base: the demo's tiny scenes CLIP (``experiments.common.base_model``), trained on attribute
scenes and counting scenes of 1..4 circles, squares or triangles. Both arms fine-tune it for the
same steps on the same batches: half attribute scenes (all three shapes, six colours), half
counting scenes of 1..6 circles or squares (a wider count range than the base saw; triangles
held out of the counting scenes). Arm ``plain`` uses the contrastive loss, arm ``counting_loss``
adds lambda * L_count with counterfactual captions of counts 1..6 (lambda = 1, the paper's).
Evaluated on held-out scenes (a seed stream training never uses, changing with the seed):

  count          counting scenes of 1..6 circles / squares (held out, in distribution)
  unseen_shape   counting scenes of 1..6 triangles and stars (object types not counted in
                 the fine-tuning; stars never seen at all)
  shape, color   zero-shot shape / colour of single-object attribute scenes

``sweep``: the extra lambdas run for the accuracy-vs-lambda plot (lambda 0 and 1 are the arms).
"""

import ml_collections

from experiments.configs import shapes_tiny

SHAPES = ("circle", "square", "triangle")
COLORS = ("red", "green", "blue", "yellow", "purple", "orange")


def eval_tasks(n: int, max_count: int = 6, image_size: int = 64):
    scenes = lambda shapes, **kw: dict(image_size=image_size, shapes=shapes, colors=COLORS, **kw)
    return {
        "count": dict(type="counting", dataset="jclip_shapes/counting",
                      data=dict(num_examples=n, options=scenes(
                          ("circle", "square"), min_count=1, max_count=max_count))),
        "unseen_shape": dict(type="counting", dataset="jclip_shapes/counting",
                             data=dict(num_examples=n, options=scenes(
                                 ("triangle", "star"), min_count=1, max_count=max_count))),
        "shape": dict(type="zeroshot_classification", dataset="jclip_shapes/attributes",
                      data=dict(label="shape", num_examples=n, options=scenes(SHAPES))),
        "color": dict(type="zeroshot_classification", dataset="jclip_shapes/attributes",
                      data=dict(label="color", num_examples=n, options=scenes(SHAPES))),
    }


def get_config(arg=None):
    """``arg="nosweep"``: the two arms only (lambda 0 and 1), for the 3-seed run;
    ``arg="lambda=X"``: the arms lambda 0 and X only."""
    c = ml_collections.ConfigDict()
    c.init_from = ""  # "": the base model below
    c.base_config = ""  # a trainer config to train the base from; "": the shared base model
    c.base_steps = -1  # the base's training steps; -1: the config's (the demo's 500)
    c.base_cache = "results/base"
    c.counting_weight = 1.0  # lambda of arm counting_loss (Paiss et al. use 1)
    c.sweep = (0.5, 2.0)  # extra lambdas for accuracy vs lambda; () for none
    c.eval_seed_offset = 1000  # eval scenes use seed + this (train batches use their own stream)
    c.eval_data_dir = ""  # tfds data_dir / CountBench folder for the real config's evals

    t = shapes_tiny.get_config()
    t.total_steps = 150
    t.batch_size = 64
    t.log_every = 50
    t.eval_every = 0
    t.checkpoint_every = 0
    t.tensorboard = False
    t.optim.lr = 3e-4
    t.optim.warmup_steps = 15
    t.evals = ml_collections.ConfigDict()
    t.data.sources = ("attributes", "counting")
    t.data.options = dict(image_size=64, shapes=SHAPES, colors=COLORS)
    t.data.source_options = dict(counting=dict(min_count=1, max_count=6,
                                               shapes=("circle", "square")))
    t.data.counterfactual = dict(counts=tuple(range(1, 7)), missing="mask")
    c.train = t

    c.evals = eval_tasks(512)
    # summary key -> (eval name, metric)
    c.summary = dict(count_accuracy=("count", "accuracy"), count_mae=("count", "mae"),
                     unseen_count_accuracy=("unseen_shape", "accuracy"),
                     unseen_count_mae=("unseen_shape", "mae"),
                     shape_accuracy=("shape", "acc1"), color_accuracy=("color", "acc1"))
    c.confusion_eval = "count"  # the eval whose confusion matrices and per-count accuracy plot
    if arg == "nosweep":
        c.sweep = ()
    elif arg and arg.startswith("lambda="):  # the arms lambda 0 and this one only
        c.counting_weight, c.sweep = float(arg.removeprefix("lambda=")), ()
    elif arg:
        raise ValueError(f"counting default config: unknown arg {arg!r} (known: 'nosweep', "
                         f"'lambda=X')")
    return c
