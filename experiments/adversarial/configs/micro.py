"""A seconds-long variant of the adversarial study for the tests and the notebook: a 1-layer
32 px base model trained for 10 steps, fine-tunes of 2 steps, 16 scenes, PGD-2 at 4/255."""

from experiments.adversarial.configs import default
from experiments.configs import shapes_micro

SHAPES = ("circle", "square", "triangle")


def get_config(arg=None):
    c = default.get_config()
    base = shapes_micro.get_config()
    base.total_steps = 10
    base.checkpoint_every = 0
    base.log_every = 10
    base.tensorboard = False
    base.evals = {}
    base.data.sources = ("attributes",)
    base.data.options = dict(image_size=32, shapes=SHAPES, colors=("red", "blue"))
    base.data.source_options = {}
    c.base_train = base  # trained once into <workdir>/base
    f = c.finetune
    f.model.context_length = base.model.context_length
    f.model.overrides = dict(base.model.overrides)
    f.data.options = dict(base.data.options)
    f.total_steps = 2
    f.batch_size = 8
    f.log_every = 1
    f.optim.warmup_steps = 1
    c.methods.tecoa["classnames"] = SHAPES
    c.eval.num_examples = 16
    c.eval.options = dict(base.data.options)
    c.eval.eps = (4,)
    c.eval.steps = 2
    c.ttc = dict(c.ttc)
    c.batch_size = 16
    return c
