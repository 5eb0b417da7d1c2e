"""Prompt data for zero-shot classification: ImageNet class names and the CLIP templates.

The 1000 ImageNet class names are the cleaned names of the CLIP repository's notebook
"Prompt_Engineering_for_ImageNet" (Radford et al., 2021), in ImageNet label order; they live in
``jclip/assets/imagenet_classnames.txt``. Note that the notebook's list has two duplicate names
("missile" at 657 and 744, "sunglasses" at 836 and 837); they are kept so label ids stay aligned.

``IMAGENET_TEMPLATES`` are the paper's 80 prompt templates and ``SIMPLE_IMAGENET_TEMPLATES`` the
7-template subset the notebook found by sequential forward selection. Templates are plain strings
with a ``{}`` placeholder for the class name.
"""

from __future__ import annotations

import functools
from importlib import resources

IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
)

SIMPLE_IMAGENET_TEMPLATES: tuple[str, ...] = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)


# Zero-shot templates per catalog dataset; datasets not listed use the 80 ImageNet templates.
DATASET_TEMPLATES: dict[str, tuple[str, ...]] = {}


def dataset_templates(name: str) -> tuple[str, ...]:
    """The zero-shot templates of catalog dataset ``name`` (a ``base/config`` name uses its
    base's), CLIP's ImageNet templates when the dataset has none of its own."""
    base = name.partition("/")[0]
    return DATASET_TEMPLATES.get(name, DATASET_TEMPLATES.get(base, IMAGENET_TEMPLATES))


@functools.cache
def imagenet_classnames() -> tuple[str, ...]:
    """The 1000 ImageNet class names (index = label id), as read from the package data."""
    text = resources.files("jclip").joinpath("assets/imagenet_classnames.txt").read_text("utf-8")
    names = tuple(line for line in text.splitlines() if line)
    if len(names) != 1000:
        raise RuntimeError(f"imagenet_classnames.txt is damaged: {len(names)} names, expected 1000")
    return names


def format_prompts(classnames, templates) -> list[str]:
    """All prompts, class-major: ``[t.format(c) for c in classnames for t in templates]``.

    Each template is a string with one ``{}`` placeholder or a callable ``name -> str``.
    """
    if isinstance(classnames, str) or isinstance(templates, str):
        raise TypeError("classnames and templates must be sequences of strings, not a single str")
    prompts = []
    for name in classnames:
        for template in templates:
            if callable(template):
                prompts.append(template(name))
            elif isinstance(template, str) and "{}" in template:
                prompts.append(template.format(name))
            else:
                raise ValueError(
                    f"template {template!r}: expected a callable or a string with a '{{}}' slot"
                )
    return prompts
