"""The micro config (tests, the notebook): the size task only, few scenes and steps.

The base model is the shared tiny scenes CLIP unless ``c.model`` names another source; tests set
``base_cache`` to a temporary folder and ``base_steps`` to a few steps.
"""

from experiments.ordinal.configs import default


def get_config(arg=None):
    c = default.get_config()
    c.base_steps = 0
    c.steps = 30
    c.methods = ("zero_shot", "linear_probe", "least_squares", "ordinalclip", "numclip")
    c.image_batch_size = 64
    del c.tasks["brightness"]
    c.tasks.size.num_train = 80
    c.tasks.size.num_test = 100
    return c
