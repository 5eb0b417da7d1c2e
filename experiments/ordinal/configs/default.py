"""The synthetic default: the scenes' size and brightness ranks on the shared tiny scenes CLIP.

  python -m experiments.ordinal [--seeds 0,1,2] [--config experiments/ordinal/configs/default.py]

Five ordered levels per task; 400 labelled training scenes and 1000 held-out scenes per seed,
both drawn from the seed; every method trains on frozen image features.
"""

import ml_collections

SHAPES = ("circle", "square", "triangle")
COLORS = ("red", "green", "blue", "yellow", "purple", "orange")
OPTIONS = dict(image_size=64, shapes=SHAPES, colors=COLORS)


def scenes_task(config_name, rank_names, templates, base_words, bin_names):
    t = ml_collections.ConfigDict()
    t.dataset = f"jclip_shapes/{config_name}"
    t.train_split, t.split = "train", "test"
    t.train_data = dict(options=OPTIONS)
    t.test_data = dict(options=OPTIONS)
    t.num_train = 400  # labelled scenes the trained methods see (20% of them pick the L2)
    t.num_test = 1000
    t.order = None  # the scenes' level ids are the ranks
    t.values = None  # rank values 1..R (NumCLIP's fine stage needs positive values)
    t.rank_names = rank_names  # zero-shot rank words, level 0 first
    t.templates = templates
    t.ordinalclip = dict(context="a photo of a", placeholder="object", num_base_ranks=3,
                         base_words=base_words)  # base ranks at levels 0, 2, 4
    # NumCLIP's coarse stage: levels {1, 2}, {3}, {4, 5} named in language.
    t.numclip = dict(context="a photo of a", bin_names=bin_names, edges=(0.5, 2.5, 3.5, 5.5),
                     adapter_ratio=0.8)
    return t


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.model = ""  # "" : the shared tiny scenes CLIP (experiments.common.base_model); or a source
    c.tokenizer = ""  # "" : the model folder's tokenizer
    c.base_cache = "results/base"
    c.base_steps = 0  # 0: the demo's 500 steps
    c.image_batch_size = 128
    c.methods = ("zero_shot", "linear_probe", "least_squares", "coop", "ordinalclip", "numclip")
    c.steps = 300  # Adam steps of the prompt learners (OrdinalCLIP, NumCLIP)
    c.lr = 1e-2
    c.batch_size = 64
    c.primary = "size"  # the task whose numbers are the summary's top level
    c.tasks = ml_collections.ConfigDict()
    c.tasks.size = scenes_task(
        "ordinal_size", ("tiny", "small", "medium", "large", "huge"),
        tuple(f"a photo of a {{}} {s}" for s in SHAPES), ("small", "medium", "large"),
        ("small", "medium", "large"))
    c.tasks.brightness = scenes_task(
        "ordinal_brightness", ("very dark", "dark", "dim", "bright", "very bright"),
        tuple(f"a photo of a {{}} {col} {s}" for col in COLORS for s in SHAPES),
        ("dark", "dim", "bright"), ("dark", "dim", "bright"))
    return c
