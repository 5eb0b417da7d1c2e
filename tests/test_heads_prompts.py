"""Prompt templates and class names: the CLIP per-dataset table, loaders, slot checks."""

import json

import pytest

from jclip.data import registry
from jclip.heads import prompts


def test_every_classification_catalog_entry_has_templates():
    for name, info in registry.DATASETS.items():
        if info.kind == "retrieval" or name.startswith("jclip_shapes/"):
            continue
        assert name in prompts.DATASET_TEMPLATES, name
    for name, templates in prompts.DATASET_TEMPLATES.items():
        assert isinstance(templates, tuple) and templates, name
        assert prompts.check_templates(templates) == templates, name  # one plain slot each
        assert len(set(templates)) == len(templates), name


def test_template_lists_of_the_clip_paper():
    """Counts and spot checks against CLIP's data/prompts.md and its ImageNet notebook."""
    counts = {"cifar10": 18, "cifar100": 18, "caltech101": 34, "cars196": 8, "dtd": 8,
              "eurosat": 3, "resisc45": 18, "country211": 5, "fer2013": 6, "gtsrb": 3,
              "ucf101": 48, "kinetics700": 28, "stl10": 2, "sun397": 2, "fgvc_aircraft": 2,
              "food101": 1, "oxford_iiit_pet": 1, "oxford_flowers102": 1, "mnist": 1,
              "patch_camelyon": 1, "clevr_count_all": 1, "kitti": 1, "imagenet_r": 80}
    for name, n in counts.items():
        assert len(prompts.DATASET_TEMPLATES[name]) == n, name
    t = prompts.DATASET_TEMPLATES
    assert t["cifar10"][3] == "a low contrast photo of a {}."
    assert t["cars196"][3] == "i love my {}!"
    assert t["gtsrb"][0] == 'a zoomed in photo of a "{}" traffic sign.'
    assert t["oxford_iiit_pet"] == ("a photo of a {}, a type of pet.",)
    assert t["mnist"] == ('a photo of the number: "{}".',)
    assert t["patch_camelyon"] == ("this is a photo of {}",)
    assert t["kitti"] == ("{}",)
    assert t["fer2013"][-1] == "look at how {} they are."
    assert len(prompts.IMAGENET_TEMPLATES) == 80 and len(prompts.SIMPLE_IMAGENET_TEMPLATES) == 7
    assert prompts.IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
    assert prompts.IMAGENET_TEMPLATES[-1] == "a tattoo of the {}."
    assert set(prompts.SIMPLE_IMAGENET_TEMPLATES) <= set(prompts.IMAGENET_TEMPLATES)
    assert prompts.CLIP_BENCHMARK_TEMPLATES["resisc45"][0] == "a sattelite image of {}"


def test_dataset_templates_fallback_and_configs():
    assert prompts.dataset_templates("cifar10_corrupted/pixelate_3") == (
        prompts.DATASET_TEMPLATES["cifar10"])
    assert prompts.dataset_templates("unknown_dataset") == prompts.IMAGENET_TEMPLATES


def test_load_templates_by_name():
    assert prompts.load_templates("imagenet") == prompts.IMAGENET_TEMPLATES
    assert prompts.load_templates("imagenet_simple") == prompts.SIMPLE_IMAGENET_TEMPLATES
    assert prompts.load_templates("dtd") == prompts.DATASET_TEMPLATES["dtd"]
    assert len(prompts.load_templates("clip_benchmark/resisc45")) == 4
    assert prompts.load_templates("clip_benchmark/dtd") == prompts.DATASET_TEMPLATES["dtd"]
    assert prompts.load_templates(["a {c}.", "the {}"]) == ("a {}.", "the {}")
    with pytest.raises(ValueError, match="unknown template set 'dtdd'; known: .*'dtd'"):
        prompts.load_templates("dtdd")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prompts.load_templates("missing/templates.txt")


def test_load_templates_from_files(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("a photo of a {c}.\n\n  a drawing of the {}.  \n\n")
    assert prompts.load_templates(str(text)) == ("a photo of a {}.", "a drawing of the {}.")
    listed = tmp_path / "t.json"
    listed.write_text(json.dumps(["itap of a {c}", "{}"]))
    assert prompts.load_templates(listed) == ("itap of a {}", "{}")
    bench = tmp_path / "en_zeroshot_classification_templates.json"
    bench.write_text(json.dumps({"cifar10": ["a photo of a {c}."], "pets": ["a {c}, a pet."]}))
    assert prompts.load_templates(str(bench), dataset="pets") == ("a {}, a pet.",)
    with pytest.raises(ValueError, match=r"maps datasets to templates \(cifar10, pets\): pass "
                                         "dataset="):
        prompts.load_templates(str(bench))
    with pytest.raises(ValueError, match=r"no entry 'cars'; it has \['cifar10', 'pets'\]"):
        prompts.load_templates(str(bench), dataset="cars")
    cupl = tmp_path / "cupl.json"
    cupl.write_text(json.dumps({"cifar10": {"cat": ["a cat."]}}))
    with pytest.raises(ValueError, match="class-specific prompts"):
        prompts.load_templates(str(cupl), dataset="cifar10")
    text.write_text("a photo of a {c}.\na photo with no slot\n")
    with pytest.raises(ValueError, match="'a photo with no slot' has no slot"):
        prompts.load_templates(str(text))
    (tmp_path / "bad.json").write_text("[")
    with pytest.raises(ValueError, match="not valid JSON"):
        prompts.load_templates(str(tmp_path / "bad.json"))


@pytest.mark.parametrize("template, message", [
    ("no slot here", "has no slot"), ("{} and {}", "has 2 slots"), ("{c} and {c}", "2 slots"),
    ("a {name}", "not plain"), ("a {:>5}", "not plain"), ("a } b {}", "not a format string"),
])
def test_normalize_template_rejects_bad_slots(template, message):
    with pytest.raises(ValueError, match=message):
        prompts.normalize_template(template)


def test_normalize_and_check_templates():
    assert prompts.normalize_template("a {c} with {{braces}}") == "a {} with {{braces}}"
    assert prompts.format_prompts(["x"], [prompts.normalize_template("{{{c}}}")]) == ["{x}"]
    fn = lambda name: f"custom {name}"
    assert prompts.check_templates(["a {c}", fn]) == ("a {}", fn)
    with pytest.raises(TypeError, match="expected a list of templates"):
        prompts.check_templates("a {}")
    with pytest.raises(ValueError, match="empty"):
        prompts.check_templates([])


def test_load_classnames(tmp_path):
    text = tmp_path / "classnames.txt"
    text.write_text("cat\n  red fox \nowl\n\n")
    assert prompts.load_classnames(text) == ("cat", "red fox", "owl")
    text.write_text("cat\n\nowl\n")
    with pytest.raises(ValueError, match="line 2: class name '' is empty"):
        prompts.load_classnames(text)
    listed = tmp_path / "names.json"
    listed.write_text(json.dumps(["a", "b"]))
    assert prompts.load_classnames(listed) == ("a", "b")
    bench = tmp_path / "en_classnames.json"
    bench.write_text(json.dumps({"mnist": [str(d) for d in range(10)], "pcam": ["x", "y"]}))
    assert prompts.load_classnames(bench, dataset="pcam") == ("x", "y")
    with pytest.raises(ValueError, match="pass dataset="):
        prompts.load_classnames(bench)
    listed.write_text(json.dumps(["a", 3]))
    with pytest.raises(ValueError, match="entry 1: class name 3"):
        prompts.load_classnames(listed)
    with pytest.raises(FileNotFoundError):
        prompts.load_classnames(tmp_path / "none.txt")
