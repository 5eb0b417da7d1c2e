"""The robustness study on real models and datasets (where the weights and tfds data are local).

  python -m experiments.robustness --config experiments/robustness/configs/real.py[:imagenet|:cifar]

imagenet (default): OpenAI CLIP ViT-B/32, B/16 and L/14 over ``imagenet_robustness``
(ImageNet-V2 / -Sketch / -A / -R; -A and -R scored over their 200 classes), ImageNet-C
(tfds ``imagenet2012_corrupted``), OOD detection against Textures (DTD), calibration with the
temperature fitted on 10,000 ImageNet train images. cifar: the same protocol on CIFAR-10 with
CIFAR-10.1, CIFAR-10-C (tfds ``cifar10_corrupted``), CIFAR-100 and SVHN as OOD.

ObjectNet, and the iNaturalist / SUN / Places OOD subsets of MCM, are not in the tfds catalog:
add them as ``folder:DIR`` / ``wds:DIR`` entries (``OPTIONAL`` below shows the layout).
"""

import ml_collections

from jclip.evals import datasets

OPENAI = [dict(name="vit-b-32-openai", source="openai/clip-vit-base-patch32"),
          dict(name="vit-b-16-openai", source="openai/clip-vit-base-patch16"),
          dict(name="vit-l-14-openai", source="openai/clip-vit-large-patch14")]
# Extra sets a user can add where they have them (a class-per-folder layout, ImageNet classes).
OPTIONAL = {
    "shifts": {"objectnet": dict(type="zeroshot_classification", dataset="folder:/data/objectnet")},
    "ood": {"inaturalist": "folder:/data/mcm_ood/iNaturalist", "sun": "folder:/data/mcm_ood/SUN",
            "places": "folder:/data/mcm_ood/Places"},
}


def _imagenet(c):
    c.tasks = dict(
        id=dict(type="zeroshot_classification", dataset="imagenet2012"),
        shifts={spec: dict(type="zeroshot_classification", dataset=spec)
                for spec in datasets.COLLECTIONS["imagenet_robustness"]},
        corruption=dict(type="corruption", dataset="imagenet2012_corrupted",
                        corruptions="benchmark", severities=[1, 2, 3, 4, 5], seed=0),
        ood=dict(textures=dict(type="ood", dataset="imagenet2012", ood_dataset="dtd",
                               ood_split="test", templates=["a photo of a {}."])),
        calibration=dict(type="calibration", dataset="imagenet2012",
                         validation_split="train[:10000]",
                         shifts=list(datasets.COLLECTIONS["imagenet_robustness"])),
    )
    c.er_shifts = tuple(datasets.COLLECTIONS["imagenet_robustness"]) + ("corruptions",)
    c.er_primary = "imagenet_v2"
    c.ood_primary = "textures"


def _cifar(c):
    c.tasks = dict(
        id=dict(type="zeroshot_classification", dataset="cifar10"),
        shifts={"cifar10_1": dict(type="zeroshot_classification", dataset="cifar10_1")},
        corruption=dict(type="corruption", dataset="cifar10_corrupted", corruptions="benchmark",
                        severities=[1, 2, 3, 4, 5], seed=0),
        ood={name: dict(type="ood", dataset="cifar10", ood_dataset=spec)
             for name, spec in (("cifar100", "cifar100"), ("svhn", "svhn"))},
        calibration=dict(type="calibration", dataset="cifar10", validation_split="train[:5000]",
                         shifts=["cifar10_1"]),
    )
    c.er_shifts = ("cifar10_1", "corruptions")
    c.er_primary = "cifar10_1"
    c.ood_primary = "cifar100"


def get_config(arg=None):
    arg = arg or "imagenet"
    if arg not in ("imagenet", "cifar"):
        raise ValueError(f"real.py takes 'imagenet' or 'cifar', got {arg!r}")
    c = ml_collections.ConfigDict()
    c.models = [dict(m) for m in OPENAI]
    c.reference_model = OPENAI[0]["name"]
    c.eval_batch_size = 128
    (_imagenet if arg == "imagenet" else _cifar)(c)
    return c
