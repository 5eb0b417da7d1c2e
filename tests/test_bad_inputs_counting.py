"""Bad inputs of the counting task, the CountBench reader, the counterfactual captions, the
trainer's counting term and the counting study: each raises the named exception with a message
that says what is wrong (one test line per case), before any long work."""

import json
from types import SimpleNamespace

import ml_collections
import numpy as np
import pytest

from experiments.counting import study
from experiments.counting.configs import default
from jclip.data import countbench, counterfactual
from jclip.evals import counting, datasets, runner
from jclip.train import counting as train_counting
from tests.helpers.files import write_countbench

ANIMALS = SimpleNamespace(name="folder:pets", classnames=("cat", "dog"), class_subset=None)
SCENES = SimpleNamespace(name="jclip_shapes/counting", classnames=tuple(
    counterfactual.number_word(i) for i in range(7)), class_subset=(1, 2, 3, 4, 5, 6))


def _json(tmp_path, content):
    (tmp_path / "CountBench.json").write_text(content)
    return str(tmp_path)


def _data(**counterfactual_options):
    return ml_collections.ConfigDict({"counterfactual": counterfactual_options})


def _study(**changes):
    c = default.get_config()
    for key, value in changes.items():
        c[key] = value
    return c


def case_class_names_without_numbers(tmp_path):
    counting.resolve_counts(ANIMALS, {})


def case_count_without_a_number_word(tmp_path):
    counting.resolve_counts(SCENES, {"counts": [5, 150]})


def case_number_words_missing_a_count(tmp_path):
    counting.resolve_counts(SCENES, {"counts": [2, 3], "number_words": {2: "two"}})


def case_a_single_count(tmp_path):
    counting.resolve_counts(SCENES, {"counts": [3]})


def case_unknown_prompts(tmp_path):
    counting.run(None, {"prompts": "captions"})


def case_unknown_task_key(tmp_path):
    runner.check_task({"type": "counting", "dataset": "jclip_shapes/counting", "count": [2]})


def case_countbench_json_not_a_list(tmp_path):
    countbench.scan(_json(tmp_path, json.dumps({"rows": 3})))


def case_countbench_json_empty(tmp_path):
    countbench.scan(_json(tmp_path, "[]"))


def case_countbench_json_garbage(tmp_path):
    countbench.scan(_json(tmp_path, "{not json\n[neither"))


def case_countbench_number_out_of_range(tmp_path):
    countbench.scan(write_countbench(tmp_path, bad_rows={1: {"image_url": "u", "text": "x",
                                                             "number": 11}}))


def case_countbench_number_not_an_int(tmp_path):
    countbench.scan(write_countbench(tmp_path, bad_rows={0: {"image_url": "u", "text": "x",
                                                             "number": 2.5}}))


def case_countbench_no_image_downloaded(tmp_path):
    countbench.scan(write_countbench(tmp_path, missing=range(8)))


def case_countbench_missing_image_as_error(tmp_path):
    countbench.scan(write_countbench(tmp_path, missing=(3,)), on_missing="error")


def case_countbench_bad_policy(tmp_path):
    countbench.scan(str(tmp_path), on_missing="ignore")


def case_countbench_no_folder(tmp_path):
    countbench.scan(str(tmp_path / "nowhere"))


def case_countbench_spec_without_a_folder(tmp_path):
    datasets.get_eval_data("countbench")


def case_swap_without_a_number(tmp_path):
    counterfactual.swap_count("a dog on a couch", 3)


def case_counterfactual_from_no_counts(tmp_path):
    counterfactual.counterfactual_caption("two dogs", np.random.default_rng(0), counts=[])


def case_train_counterfactual_unknown_key(tmp_path):
    train_counting.options(_data(count=(2, 3)))


def case_train_counterfactual_one_count(tmp_path):
    train_counting.options(_data(counts=(2,)))


def case_train_counterfactual_count_without_word(tmp_path):
    train_counting.options(_data(counts=(2, 150)))


def case_train_counterfactual_bad_policy(tmp_path):
    train_counting.options(_data(missing="drop"))


def case_train_caption_without_number_as_error(tmp_path):
    opts = train_counting.options(_data(missing="error"))
    train_counting.counterfactuals(["two cats", "a cat"], np.random.default_rng(0), opts)


def case_study_zero_counting_weight(tmp_path):
    study.check_config(_study(counting_weight=0.0))


def case_study_negative_sweep(tmp_path):
    study.check_config(_study(sweep=(0.5, -1.0)))


def case_study_summary_of_unknown_eval(tmp_path):
    c = _study()
    c.summary.count_accuracy = ("nope", "accuracy")
    study.check_config(c)


def case_study_confusion_of_a_classification_eval(tmp_path):
    study.check_config(_study(confusion_eval="shape"))


def case_study_bad_train_counterfactual(tmp_path):
    c = _study()
    c.train.data.counterfactual = dict(counts=(3,))
    study.check_config(c)


CASES = [
    (case_class_names_without_numbers, ValueError, r"\['cat', 'dog'\] are not number words"),
    (case_count_without_a_number_word, ValueError, "count 150 has no English number word"),
    (case_number_words_missing_a_count, ValueError, "number_words has no word for count 3"),
    (case_a_single_count, ValueError, "at least 2 distinct counts"),
    (case_unknown_prompts, ValueError, "prompts must be one of"),
    (case_unknown_task_key, TypeError, r"unknown key\(s\) \['count'\]"),
    (case_countbench_json_not_a_list, ValueError, "must hold a list of rows"),
    (case_countbench_json_empty, ValueError, "has no rows"),
    (case_countbench_json_garbage, ValueError, "neither JSON nor JSON lines"),
    (case_countbench_number_out_of_range, ValueError, r"row 1 .*number 11 outside 2\.\.10"),
    (case_countbench_number_not_an_int, ValueError, r"row 0 .*number is 2\.5, not an int"),
    (case_countbench_no_image_downloaded, ValueError, "none of the 8 rows .* download them"),
    (case_countbench_missing_image_as_error, FileNotFoundError, "row 3's image .* missing"),
    (case_countbench_bad_policy, ValueError, "on_missing must be 'skip' or 'error'"),
    (case_countbench_no_folder, FileNotFoundError, "neither a folder nor a JSON file"),
    (case_countbench_spec_without_a_folder, ValueError, "countbench needs its folder"),
    (case_swap_without_a_number, ValueError, "no number to swap"),
    (case_counterfactual_from_no_counts, ValueError, "counts is empty"),
    (case_train_counterfactual_unknown_key, ValueError, r"unknown key\(s\) \['count'\]"),
    (case_train_counterfactual_one_count, ValueError, "at least 2 distinct counts"),
    (case_train_counterfactual_count_without_word, ValueError, "no number word for 150"),
    (case_train_counterfactual_bad_policy, ValueError, "missing must be one of"),
    (case_train_caption_without_number_as_error, ValueError, "'a cat' states no number"),
    (case_study_zero_counting_weight, ValueError, "counting_weight .* must be > 0"),
    (case_study_negative_sweep, ValueError, "sweep lambdas must be >= 0"),
    (case_study_summary_of_unknown_eval, ValueError, "reads eval 'nope'"),
    (case_study_confusion_of_a_classification_eval, ValueError, "must name a counting eval"),
    (case_study_bad_train_counterfactual, ValueError, "at least 2 distinct counts"),
]


@pytest.mark.parametrize("case, error, match", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_bad_input_is_named(tmp_path, case, error, match):
    with pytest.raises(error, match=match):
        case(tmp_path)
