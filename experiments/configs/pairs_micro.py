"""``shapes_micro``'s tiny model trained from scratch on a local pairs folder, for tests.

The captions must use the words of the scenes' closed vocabulary (the word tokenizer), e.g.
"a photo of two red squares"; give the folder with ``--config.data.path=DIR``.
"""

import ml_collections

from experiments.configs import shapes_micro


def get_config(arg=None):
    c = shapes_micro.get_config()
    c.data = ml_collections.ConfigDict()
    c.data.type = "pairs"
    c.data.path = ""
    c.data.captions_file = "captions.jsonl"
    c.data.on_error = "skip"
    c.data.augment = True
    c.data.augment_scale = (0.9, 1.0)
    c.data.num_workers = 2
    c.eval_every = 0
    c.evals = ml_collections.ConfigDict()
    return c
