"""Real data: CLIP ViT-B/16 on an age dataset laid out as ordered class folders.

  python -m experiments.ordinal --config experiments/ordinal/configs/real.py:~/data/ages

The folder (the config's argument) holds ``train/`` and ``test/``, each with one folder per age
("1", "2", ..., "80"; the ranks follow the natural order of the names and the names are the ages:
MAE in years), e.g. UTKFace or MORPH II sorted by age. Prompts "a photo of a {age} year old
person"; NumCLIP's coarse bins are the reference code's age groups. The model is a Hugging Face
hub id or a local folder (``jclip.load``); smallNORB or CLEVR distance run the same way with
``dataset = "smallnorb_elevation"`` / ``"clevr_closest_object_distance"`` and their rank names.
"""

import ml_collections

from experiments.ordinal.configs import default


def get_config(arg=None):
    c = default.get_config()
    c.model = "openai/clip-vit-base-patch16"
    c.image_batch_size = 64
    c.steps = 1000
    c.lr = 2e-3
    c.batch_size = 64
    c.primary = "age"
    c.tasks = ml_collections.ConfigDict()
    t = ml_collections.ConfigDict()
    t.dataset = f"folder:{arg or '~/data/ages'}"
    t.train_split, t.split = "train", "test"
    t.train_data, t.test_data = {}, {}
    t.num_train = 5000  # a random subset of the train split per seed (all when smaller)
    t.num_test = 0  # unused: the whole test split
    t.order = "natural"  # folder "10" after "9"
    t.values = "names"  # the folder names are the ages
    t.rank_names = None  # the folder names
    t.templates = ("a photo of a {} year old person", "a face of a {} year old person")
    t.ordinalclip = dict(context="a photo of a person aged", placeholder="x", num_base_ranks=5,
                         base_words=())  # random base ranks, as the reference's default
    t.numclip = dict(context="a photo of a", bin_names=("child", "teenager", "young adult",
                                                        "middle-aged adult", "senior"),
                     edges=(0, 13, 19, 35, 65, 120), adapter_ratio=0.8)
    c.tasks.age = t
    return c
