"""Zero-shot prompt templates: CLIP's per-dataset templates, by catalog dataset name.

Sources (transcribed as data, in their order):

- ``IMAGENET_TEMPLATES``: the 80 templates of the CLIP paper (Radford et al., 2021), from the CLIP
  repository's notebook "Prompt_Engineering_for_ImageNet"; ``SIMPLE_IMAGENET_TEMPLATES``: the
  notebook's 7-template subset found by sequential forward selection.
- the other datasets: ``data/prompts.md`` of the CLIP repository (the templates used for the
  paper's Table 9 zero-shot scores), except where marked "CLIP_benchmark" (datasets that file does
  not cover: SVHN, CLEVR distance, smallNORB, DMLab, diabetic retinopathy), which come from
  CLIP_benchmark's ``en_zeroshot_classification_templates.json``.

CLIP_benchmark's JSON has the same lists as CLIP for every dataset both cover (``{c}`` written for
``{}``), except three, whose CLIP_benchmark variants are kept in ``CLIP_BENCHMARK_TEMPLATES`` to
reproduce that benchmark's numbers:

- clevr_count_all: CLIP "a photo of {} objects." / CLIP_benchmark "a picture of {} objects";
- patch_camelyon: CLIP "this is a photo of {}" / CLIP_benchmark 2 histopathology templates;
- resisc45: CLIP 18 "satellite/aerial imagery/photo/view of ..." / CLIP_benchmark 4 templates
  (their spelling "sattelite" kept).

Every template is a string with one ``{}`` slot for the class name. Single-template lists of
the datasets the CLIP paper lists without templates of their own are not guessed: a dataset
missing here gets the 80 ImageNet templates (``jclip.heads.prompts.dataset_templates``).
"""

from __future__ import annotations

IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a bad photo of the {}.", "a cropped photo of the {}.",
    "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.",
    "a dark photo of the {}.", "a drawing of a {}.", "a photo of my {}.", "the plastic {}.",
    "a photo of the cool {}.", "a close-up photo of a {}.", "a black and white photo of the {}.",
    "a painting of the {}.", "a painting of a {}.", "a pixelated photo of the {}.",
    "a sculpture of the {}.", "a bright photo of the {}.", "a cropped photo of a {}.",
    "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.",
    "a rendering of the {}.", "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.",
    "a close-up photo of the {}.", "a photo of a {}.", "the origami {}.",
    "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.", "a origami {}.",
    "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.",
    "a photo of a nice {}.", "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.",
    "art of a {}.", "a sketch of the {}.", "a embroidered {}.", "a pixelated photo of a {}.",
    "itap of the {}.", "a jpeg corrupted photo of the {}.", "a good photo of a {}.",
    "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.",
    "a dark photo of a {}.", "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.",
    "a photo of a cool {}.", "a photo of a small {}.", "a tattoo of the {}.",
)

SIMPLE_IMAGENET_TEMPLATES: tuple[str, ...] = (
    "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
    "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
)

_BIRDSNAP = (
    "a photo of a {}, a type of bird.",
)

_CIFAR = (
    "a photo of a {}.", "a blurry photo of a {}.", "a black and white photo of a {}.",
    "a low contrast photo of a {}.", "a high contrast photo of a {}.", "a bad photo of a {}.",
    "a good photo of a {}.", "a photo of a small {}.", "a photo of a big {}.",
    "a photo of the {}.", "a blurry photo of the {}.", "a black and white photo of the {}.",
    "a low contrast photo of the {}.", "a high contrast photo of the {}.",
    "a bad photo of the {}.", "a good photo of the {}.", "a photo of the small {}.",
    "a photo of the big {}.",
)

_CLEVR_COUNTS = (
    "a photo of {} objects.",
)

_CALTECH101 = (
    "a photo of a {}.", "a painting of a {}.", "a plastic {}.", "a sculpture of a {}.",
    "a sketch of a {}.", "a tattoo of a {}.", "a toy {}.", "a rendition of a {}.",
    "a embroidered {}.", "a cartoon {}.", "a {} in a video game.", "a plushie {}.",
    "a origami {}.", "art of a {}.", "graffiti of a {}.", "a drawing of a {}.",
    "a doodle of a {}.", "a photo of the {}.", "a painting of the {}.", "the plastic {}.",
    "a sculpture of the {}.", "a sketch of the {}.", "a tattoo of the {}.", "the toy {}.",
    "a rendition of the {}.", "the embroidered {}.", "the cartoon {}.", "the {} in a video game.",
    "the plushie {}.", "the origami {}.", "art of the {}.", "graffiti of the {}.",
    "a drawing of the {}.", "a doodle of the {}.",
)

_COUNTRY211 = (
    "a photo i took in {}.", "a photo i took while visiting {}.",
    "a photo from my home country of {}.", "a photo from my visit to {}.",
    "a photo showing the country of {}.",
)

_DTD = (
    "a photo of a {} texture.", "a photo of a {} pattern.", "a photo of a {} thing.",
    "a photo of a {} object.", "a photo of the {} texture.", "a photo of the {} pattern.",
    "a photo of the {} thing.", "a photo of the {} object.",
)

_EUROSAT = (
    "a centered satellite photo of {}.", "a centered satellite photo of a {}.",
    "a centered satellite photo of the {}.",
)

_FGVC_AIRCRAFT = (
    "a photo of a {}, a type of aircraft.", "a photo of the {}, a type of aircraft.",
)

_FER2013 = (
    "a photo of a {} looking face.", "a photo of a face showing the emotion: {}.",
    "a photo of a face looking {}.", "a face that looks {}.", "they look {}.",
    "look at how {} they are.",
)

_FLOWERS102 = (
    "a photo of a {}, a type of flower.",
)

_FOOD101 = (
    "a photo of {}, a type of food.",
)

_GTSRB = (
    'a zoomed in photo of a "{}" traffic sign.', 'a centered photo of a "{}" traffic sign.',
    'a close up photo of a "{}" traffic sign.',
)

_HATEFUL_MEMES = (
    "a {}.",
)

_KITTI = (
    "{}",
)

_KINETICS700 = (
    "a photo of {}.", "a photo of a person {}.", "a photo of a person using {}.",
    "a photo of a person doing {}.", "a photo of a person during {}.",
    "a photo of a person performing {}.", "a photo of a person practicing {}.", "a video of {}.",
    "a video of a person {}.", "a video of a person using {}.", "a video of a person doing {}.",
    "a video of a person during {}.", "a video of a person performing {}.",
    "a video of a person practicing {}.", "a example of {}.", "a example of a person {}.",
    "a example of a person using {}.", "a example of a person doing {}.",
    "a example of a person during {}.", "a example of a person performing {}.",
    "a example of a person practicing {}.", "a demonstration of {}.",
    "a demonstration of a person {}.", "a demonstration of a person using {}.",
    "a demonstration of a person doing {}.", "a demonstration of a person during {}.",
    "a demonstration of a person performing {}.", "a demonstration of a person practicing {}.",
)

_MNIST = (
    'a photo of the number: "{}".',
)

_PETS = (
    "a photo of a {}, a type of pet.",
)

_VOC2007 = (
    "a photo of a {}.",
)

_PCAM = (
    "this is a photo of {}",
)

_RESISC45 = (
    "satellite imagery of {}.", "aerial imagery of {}.", "satellite photo of {}.",
    "aerial photo of {}.", "satellite view of {}.", "aerial view of {}.",
    "satellite imagery of a {}.", "aerial imagery of a {}.", "satellite photo of a {}.",
    "aerial photo of a {}.", "satellite view of a {}.", "aerial view of a {}.",
    "satellite imagery of the {}.", "aerial imagery of the {}.", "satellite photo of the {}.",
    "aerial photo of the {}.", "satellite view of the {}.", "aerial view of the {}.",
)

_SST2 = (
    "a {} review of a movie.",
)

_STL10 = (
    "a photo of a {}.", "a photo of the {}.",
)

_SUN397 = (
    "a photo of a {}.", "a photo of the {}.",
)

_CARS = (
    "a photo of a {}.", "a photo of the {}.", "a photo of my {}.", "i love my {}!",
    "a photo of my dirty {}.", "a photo of my clean {}.", "a photo of my new {}.",
    "a photo of my old {}.",
)

_UCF101 = (
    "a photo of a person {}.", "a video of a person {}.", "a example of a person {}.",
    "a demonstration of a person {}.", "a photo of the person {}.", "a video of the person {}.",
    "a example of the person {}.", "a demonstration of the person {}.",
    "a photo of a person using {}.", "a video of a person using {}.",
    "a example of a person using {}.", "a demonstration of a person using {}.",
    "a photo of the person using {}.", "a video of the person using {}.",
    "a example of the person using {}.", "a demonstration of the person using {}.",
    "a photo of a person doing {}.", "a video of a person doing {}.",
    "a example of a person doing {}.", "a demonstration of a person doing {}.",
    "a photo of the person doing {}.", "a video of the person doing {}.",
    "a example of the person doing {}.", "a demonstration of the person doing {}.",
    "a photo of a person during {}.", "a video of a person during {}.",
    "a example of a person during {}.", "a demonstration of a person during {}.",
    "a photo of the person during {}.", "a video of the person during {}.",
    "a example of the person during {}.", "a demonstration of the person during {}.",
    "a photo of a person performing {}.", "a video of a person performing {}.",
    "a example of a person performing {}.", "a demonstration of a person performing {}.",
    "a photo of the person performing {}.", "a video of the person performing {}.",
    "a example of the person performing {}.", "a demonstration of the person performing {}.",
    "a photo of a person practicing {}.", "a video of a person practicing {}.",
    "a example of a person practicing {}.", "a demonstration of a person practicing {}.",
    "a photo of the person practicing {}.", "a video of the person practicing {}.",
    "a example of the person practicing {}.", "a demonstration of the person practicing {}.",
)

_CB_SVHN = (
    "a photo of the number {} written on a sign", "an outdoor house number {}",
    "the number {} in the center of the image", "an outdoor number {} writte on a sign",
    "an outdoor number {}", "a centered image of the number {}",
)

_CB_CLEVR_CLOSEST_OBJECT_DISTANCE = (
    "{} shapes.",
)

_CB_SMALLNORB_LABEL_AZIMUTH = (
    "an object rotated at {}", "something rotated at {}", "{} rotation", "something at a {} angle",
)

_CB_DMLAB = (
    "{}",
)

_CB_DIABETIC_RETINOPATHY = (
    "a retinal image with {}",
)

_CB_CLEVR_COUNT_ALL = (
    "a picture of {} objects",
)

_CB_PCAM = (
    "a histopathology slide showing {}", "histopathology image of {}",
)

_CB_RESISC45 = (
    "a sattelite image of {}", "an aerial view of {}", "a sattelite photo of {}", "{} from above",
)

_IMAGENET_NAMES = ("imagenet2012", "imagenet_v2", "imagenet_r", "imagenet_a", "imagenet_sketch",
                   "imagenet2012_real", "imagenet2012_corrupted", "geirhos_conflict_stimuli")

# Catalog names (jclip.data.registry) first, then CLIP datasets outside the catalog, under
# snake-case names (for local copies: ``folder:``, ``wds:`` with ``templates="gtsrb"``).
DATASET_TEMPLATES: dict[str, tuple[str, ...]] = {
    **{name: IMAGENET_TEMPLATES for name in _IMAGENET_NAMES},
    "cifar10": _CIFAR,
    "cifar10_1": _CIFAR,
    "cifar10_corrupted": _CIFAR,
    "cifar100": _CIFAR,
    "stl10": _STL10,
    "caltech101": _CALTECH101,
    "oxford_iiit_pet": _PETS,
    "oxford_flowers102": _FLOWERS102,
    "dtd": _DTD,
    "eurosat": _EUROSAT,
    "food101": _FOOD101,
    "sun397": _SUN397,
    "svhn_cropped": _CB_SVHN,  # CLIP_benchmark
    "resisc45": _RESISC45,
    "patch_camelyon": _PCAM,
    "cars196": _CARS,
    "mnist": _MNIST,
    "clevr_count_all": _CLEVR_COUNTS,
    "clevr_closest_object_distance": _CB_CLEVR_CLOSEST_OBJECT_DISTANCE,  # CLIP_benchmark
    "smallnorb_elevation": _CB_SMALLNORB_LABEL_AZIMUTH,  # CLIP_benchmark (same for both)
    "smallnorb_azimuth": _CB_SMALLNORB_LABEL_AZIMUTH,  # CLIP_benchmark
    "dmlab": _CB_DMLAB,  # CLIP_benchmark
    "diabetic_retinopathy": _CB_DIABETIC_RETINOPATHY,  # CLIP_benchmark
    # Not in the catalog:
    "birdsnap": _BIRDSNAP,
    "country211": _COUNTRY211,
    "fgvc_aircraft": _FGVC_AIRCRAFT,
    "fer2013": _FER2013,
    "gtsrb": _GTSRB,
    "hateful_memes": _HATEFUL_MEMES,
    "kitti": _KITTI,  # CLIP's KITTI class names are whole sentences, the template is "{}"
    "kinetics700": _KINETICS700,
    "voc2007": _VOC2007,
    "rendered_sst2": _SST2,
    "ucf101": _UCF101,
}

# CLIP_benchmark's templates where they differ from CLIP's (see the module docstring).
CLIP_BENCHMARK_TEMPLATES: dict[str, tuple[str, ...]] = {
    "clevr_count_all": _CB_CLEVR_COUNT_ALL,
    "patch_camelyon": _CB_PCAM,
    "resisc45": _CB_RESISC45,
}
