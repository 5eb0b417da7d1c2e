"""A seconds-long variant for the tests and the notebook: an untrained ``shapes_micro`` base
(32 px, 1-layer towers; saved in ``base_cache``), 3 fine-tuning steps of
batch 16, 32 eval scenes, only the two arms' lambdas (0 and 1). Its numbers mean nothing; it
runs every code path of the default."""

from experiments.configs import shapes_micro
from experiments.counting.configs import default


def get_config(arg=None):
    c = default.get_config()
    c.base_config = "experiments/configs/shapes_micro.py"
    c.base_steps = 0  # an untrained base (saves a compilation); the arms still differ
    c.base_cache = "results/counting_micro_base"
    c.sweep = ()  # lambda 0 and 1 only (the default sweeps 0.5 and 2 too)
    t = shapes_micro.get_config()
    t.total_steps, t.batch_size, t.log_every = 3, 16, 1
    t.checkpoint_every, t.tensorboard, t.eval_every = 0, False, 0
    t.optim.warmup_steps = 1
    t.evals = {}
    t.data.sources = ("attributes", "counting")
    t.data.options = dict(image_size=32, shapes=default.SHAPES, colors=default.COLORS)
    t.data.source_options = dict(counting=dict(min_count=1, max_count=4,
                                               shapes=("circle", "square")))
    t.data.counterfactual = dict(counts=(1, 2, 3, 4), missing="mask")
    c.train = t
    c.evals = default.eval_tasks(32, max_count=4, image_size=32)
    return c
