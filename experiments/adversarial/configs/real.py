"""The adversarial study on real models and data: CLIP ViT-B/32 fine-tuned on ImageNet with
TeCoA and FARE, evaluated zero-shot on the TeCoA dataset list (Mao et al., 2023, Table 1).

  python -m experiments.adversarial --config experiments/adversarial/configs/real.py

Needs the hub weights (or a local HF folder: --config with base_model / finetune.tokenizer
changed) and the tfds datasets prepared locally (ImageNet is a manual download). Recipes:
TeCoA as Mao et al. (eps 1/255, 2 PGD steps of 1/255, "This is a photo of a {}"), FARE as
Schlarmann et al. (FARE^2: eps 2/255, 10 PGD steps of 1/255); both AdamW lr 1e-5, weight decay
1e-4, 700 warmup steps, batch 128, 10k steps (FARE's ImageNet recipe; TeCoA used SGD). Eval:
PGD-100 at eps 1, 2, 4 /255 on 1000 test images per dataset (TeCoA: PGD-100 at 1/255; FARE:
AutoAttack on 1000 images). Caltech-256 and FGVC-Aircraft of TeCoA's list are not in the
jclip catalog and are left out.
"""

import ml_collections

from experiments.adversarial.configs import default

MODEL = "openai/clip-vit-base-patch32"
# TeCoA's zero-shot list (Mao et al., 2023), as jclip catalog names.
DATASETS = ("imagenet2012", "cifar10", "cifar100", "stl10", "caltech101", "oxford_iiit_pet",
            "oxford_flowers102", "cars196", "sun397", "food101", "eurosat", "dtd",
            "patch_camelyon")


def get_config(arg=None):
    from jclip.heads.prompts import imagenet_classnames

    c = default.get_config()
    c.base_model = MODEL  # the vanilla model and the fine-tunes' init_from / reference
    f = c.finetune
    f.tokenizer = MODEL
    f.model = ml_collections.ConfigDict(dict(name="ViT-B-32", context_length=77, overrides={}))
    f.data = ml_collections.ConfigDict(dict(
        type="classification", tfds_name="imagenet2012", split="train",
        templates=("This is a photo of a {}",), augment=True, num_workers=8))
    f.batch_size = 128
    f.total_steps = 10_000
    f.log_every = 100
    f.checkpoint_every = 1000  # the fine-tunes resume when interrupted
    f.optim.lr = 1e-5
    f.optim.weight_decay = 1e-4
    f.optim.warmup_steps = 700
    f.mesh.data = -1
    c.methods.tecoa = dict(name="tecoa", eps=1 / 255, step_size=1 / 255, attack_steps=2,
                           classnames=tuple(imagenet_classnames()),
                           templates=("This is a photo of a {}",))
    c.methods.fare = dict(name="fare", eps=2 / 255, step_size=1 / 255, attack_steps=10)
    c.eval = ml_collections.ConfigDict()
    c.eval.datasets = DATASETS
    c.eval.data = {}
    c.eval.templates = ()  # () = each dataset's own templates
    c.eval.attack = "pgd"
    c.eval.eps = (1, 2, 4)  # /255
    c.eval.steps = 100
    c.eval.step_size = 0.25  # step = 0.25 * eps
    c.eval.num_examples = 1000
    c.batch_size = 64
    return c
