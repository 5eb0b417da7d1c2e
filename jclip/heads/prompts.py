"""Prompt data for zero-shot classification: class names, templates, and loaders for both.

The 1000 ImageNet class names are the cleaned names of the CLIP repository's notebook
"Prompt_Engineering_for_ImageNet" (Radford et al., 2021), in ImageNet label order; they live in
``jclip/assets/imagenet_classnames.txt``. Note that the notebook's list has two duplicate names
("missile" at 657 and 744, "sunglasses" at 836 and 837); they are kept so label ids stay aligned.

``IMAGENET_TEMPLATES`` are the paper's 80 prompt templates, ``SIMPLE_IMAGENET_TEMPLATES`` the
7-template subset the notebook found by sequential forward selection, and ``DATASET_TEMPLATES``
CLIP's templates of the other datasets by catalog name (data in ``jclip.heads.templates``).
Templates are plain strings with a ``{}`` placeholder for the class name; the loaders also accept
CLIP_benchmark's ``{c}`` and turn it into ``{}``.
"""

from __future__ import annotations

import functools
import json
import os
import string
from importlib import resources

from jclip.heads.templates import (  # noqa: F401  (re-exported)
    CLIP_BENCHMARK_TEMPLATES,
    DATASET_TEMPLATES,
    IMAGENET_TEMPLATES,
    SIMPLE_IMAGENET_TEMPLATES,
)

# Named template sets besides the per-dataset ones.
TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "imagenet": IMAGENET_TEMPLATES,
    "imagenet_simple": SIMPLE_IMAGENET_TEMPLATES,
}


def dataset_templates(name: str) -> tuple[str, ...]:
    """The zero-shot templates of catalog dataset ``name`` (a ``base/config`` name uses its
    base's), CLIP's ImageNet templates when the dataset has none of its own."""
    base = name.partition("/")[0]
    return DATASET_TEMPLATES.get(name, DATASET_TEMPLATES.get(base, IMAGENET_TEMPLATES))


def normalize_template(template: str, source: str = "template") -> str:
    """``template`` with its class-name slot written ``{}`` (CLIP_benchmark writes ``{c}``).

    Raises:
      ValueError naming the template (and ``source``) when it is not a string with exactly one
      plain slot (``{}`` or ``{c}``; literal braces doubled, as for ``str.format``).
    """
    if not isinstance(template, str):
        raise ValueError(f"{source}: template {template!r} is not a string")
    text = template.replace("{c}", "{}")
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text)
                  if name is not None]
    except ValueError as e:  # unbalanced braces
        raise ValueError(f"{source}: template {template!r} is not a format string: {e}") from None
    if fields != [("", "", None)]:
        found = f"{len(fields)} slots" if len(fields) != 1 else "a slot that is not plain '{}'"
        raise ValueError(f"{source}: template {template!r} has {found if fields else 'no slot'}; "
                         "expected exactly one '{}' (or '{c}') for the class name")
    return text


def check_templates(templates, source: str = "templates") -> tuple:
    """A checked tuple of templates: strings normalised (``normalize_template``), callables
    ``name -> str`` kept as they are.

    Raises:
      TypeError for a single string or a non-sequence; ValueError naming a bad template, or
      for an empty list.
    """
    if isinstance(templates, str) or not isinstance(templates, (list, tuple)):
        raise TypeError(f"{source}: expected a list of templates, got {type(templates).__name__}"
                        " (load_templates reads a name or a file)")
    if not templates:
        raise ValueError(f"{source}: the list of templates is empty")
    return tuple(t if callable(t) else normalize_template(t, source) for t in templates)


def _read_json_or_lines(path: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.lower().endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _pick(data, path: str, dataset: str | None, what: str) -> list:
    """A list from a JSON list, or from a {dataset: list} JSON (CLIP_benchmark's files)."""
    if isinstance(data, dict):
        if dataset is None:
            raise ValueError(f"{path} maps datasets to {what} ({', '.join(sorted(data)[:8])}"
                             f"{', ...' if len(data) > 8 else ''}): pass dataset=<one of them>")
        if dataset not in data:
            raise ValueError(f"{path} has no entry {dataset!r}; it has {sorted(data)}")
        data = data[dataset]
        path = f"{path}[{dataset!r}]"
    if isinstance(data, dict):
        raise ValueError(f"{path} is a mapping (class-specific prompts?); expected a list of "
                         f"{what}")
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a non-empty list of {what}, got {type(data).__name__}")
    return data


def load_templates(name_or_file, dataset: str | None = None) -> tuple[str, ...]:
    """Zero-shot templates by name, from a file, or from a list; slots normalised to ``{}``.

    Args:
      name_or_file: a dataset of ``DATASET_TEMPLATES`` (catalog names and a few more CLIP
        datasets), "imagenet" (80) or "imagenet_simple" (7), "clip_benchmark/<name>" for
        CLIP_benchmark's variant where it differs from CLIP's; or a path to a text file (one
        template per line, blank lines skipped), a JSON list, or a JSON {dataset: [templates]}
        (CLIP_benchmark's ``en_zeroshot_classification_templates.json``); or a list
        (``check_templates``).
      dataset: the key to read from a {dataset: [templates]} JSON file.
    Returns:
      tuple of templates, each with one ``{}`` slot.
    Raises:
      ValueError naming a template without exactly one slot, an unknown name (listing the known
      ones), or a malformed file; FileNotFoundError for a missing file.
    """
    if isinstance(name_or_file, (list, tuple)):
        return check_templates(name_or_file)
    if not isinstance(name_or_file, (str, os.PathLike)):
        raise TypeError(f"templates must be a name, a file path or a list of strings, got "
                        f"{type(name_or_file).__name__}")
    key = os.fspath(name_or_file)
    if key in TEMPLATE_SETS:
        return TEMPLATE_SETS[key]
    if key in DATASET_TEMPLATES:
        return DATASET_TEMPLATES[key]
    base = key.removeprefix("clip_benchmark/")
    if base != key and base in DATASET_TEMPLATES:
        return CLIP_BENCHMARK_TEMPLATES.get(base, DATASET_TEMPLATES[base])
    if not os.path.exists(key):
        known = sorted(TEMPLATE_SETS) + sorted(DATASET_TEMPLATES)
        if os.sep in key or key.lower().endswith((".txt", ".json")):
            raise FileNotFoundError(f"templates file {key} does not exist")
        raise ValueError(f"unknown template set {key!r}; known: {known} (and "
                         "'clip_benchmark/<name>'), or give a file (one template per line, or "
                         "JSON)")
    data = _read_json_or_lines(key)
    if isinstance(data, list) and not key.lower().endswith(".json"):
        data = [t for t in data if t]  # text file: blank lines are not templates
    templates = _pick(data, key, dataset, "templates")
    return tuple(normalize_template(t, key) for t in templates)


def load_classnames(path, dataset: str | None = None) -> tuple[str, ...]:
    """Class names (index = label id) from a file.

    Args:
      path: a text file (one name per line, surrounding spaces stripped, trailing blank lines
        ignored), a JSON list, or a JSON {dataset: [names]} (CLIP_benchmark's
        ``en_classnames.json``).
      dataset: the key to read from a {dataset: [names]} JSON file.
    Returns:
      tuple of str.
    Raises:
      ValueError for an empty name (it would shift or blank a label), a non-string entry or a
      malformed file, naming the file and position; FileNotFoundError for a missing file.
    """
    path = os.fspath(path)
    names = _pick(_read_json_or_lines(path), path, dataset, "class names")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            where = f"line {i + 1}" if not path.lower().endswith(".json") else f"entry {i}"
            raise ValueError(f"{path}, {where}: class name {name!r} is empty or not a string")
    return tuple(name.strip() for name in names)


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
