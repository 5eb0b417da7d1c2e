"""Bad inputs of the corruptions, their eval task and mCE: each raises the named exception with a
message that says what is wrong (one test line per case)."""

import numpy as np
import pytest

from jclip import metrics
from jclip.data import corruptions as C
from jclip.evals import corruption, runner

IMAGE = np.zeros((32, 32, 3), np.uint8)
TASK = {"type": "corruption", "dataset": "jclip_shapes/attributes",
        "data": {"num_examples": 4}}


def _run(**keys):
    # the task's own checks, with no model: they run before any dataset is encoded
    corruption.run(None, runner.check_task({**TASK, **keys}))


def case_severity_0(tmp_path):
    C.corrupt(IMAGE, "contrast", 0)


def case_severity_6(tmp_path):
    C.corrupt(IMAGE, "fog", 6)


def case_severity_float(tmp_path):
    C.corrupt(IMAGE, "fog", 2.0)


def case_severity_bool(tmp_path):
    C.corrupt(IMAGE, "fog", True)


def case_unknown_corruption(tmp_path):
    C.corrupt(IMAGE, "fogg", 1)


def case_unknown_table(tmp_path):
    C.corrupt(IMAGE, "fog", 1, table="tinyimagenet")


def case_float_images(tmp_path):
    C.corrupt(IMAGE.astype(np.float32), "contrast", 1)


def case_grey_images(tmp_path):
    C.corrupt(IMAGE[..., 0], "contrast", 1)


def case_tiny_images(tmp_path):
    C.corrupt(IMAGE[:4, :4], "contrast", 1)


def case_frost_without_images(tmp_path):
    C.corrupt(IMAGE, "frost", 1)


def case_frost_dir_missing(tmp_path):
    C.corrupt(IMAGE, "frost", 1, frost_dir=tmp_path / "nope")


def case_frost_dir_empty(tmp_path):
    C.corrupt(IMAGE, "frost", 1, frost_dir=tmp_path)


def case_task_severity_0(tmp_path):
    _run(severities=[0, 1])


def case_task_severity_6(tmp_path):
    _run(severities=[5, 6])


def case_task_no_severities(tmp_path):
    _run(severities=[])


def case_task_repeated_severity(tmp_path):
    _run(severities=[2, 2])


def case_task_unknown_corruption(tmp_path):
    _run(corruptions=["gaussian_noise", "smog"])


def case_task_unknown_group(tmp_path):
    _run(corruptions="everything")


def case_task_bad_table(tmp_path):
    _run(table="tiny")


def case_task_frost_without_images(tmp_path):
    _run(corruptions="benchmark")


def case_task_seed_not_int(tmp_path):
    _run(seed="zero")


def case_task_baseline_missing_file(tmp_path):
    _run(baseline=str(tmp_path / "base.json"))


def case_task_baseline_not_a_result(tmp_path):
    _run(baseline={"metrics": {}})


def case_task_unknown_key(tmp_path):
    _run(severity=3)


def case_jpeg_quality_100(tmp_path):
    C.corrupt(IMAGE, "fog", 1, jpeg_quality=100)


def case_task_crop_too_small(tmp_path):
    _run(crop=4)


def case_task_jpeg_quality_0(tmp_path):
    _run(jpeg_quality=0)


def case_mce_percentages(tmp_path):
    metrics.mean_corruption_error({"fog": [55.0]}, {"fog": [0.6]})


def case_mce_baseline_lacks_corruption(tmp_path):
    metrics.mean_corruption_error({"fog": [0.5]}, {"snow": [0.6]})


CASES = [
    (case_severity_0, ValueError, "severity must be an int in 1..5, got 0"),
    (case_severity_6, ValueError, "severity must be an int in 1..5, got 6"),
    (case_severity_float, ValueError, "severity must be an int in 1..5, got 2.0"),
    (case_severity_bool, ValueError, "severity must be an int in 1..5, got True"),
    (case_unknown_corruption, ValueError, "unknown corruption 'fogg'; known corruptions"),
    (case_unknown_table, ValueError, "unknown parameter table 'tinyimagenet'"),
    (case_float_images, ValueError, "images must be uint8"),
    (case_grey_images, ValueError, r"images must be uint8 \[N, H, W, 3\]"),
    (case_tiny_images, ValueError, "at least 8 px a side, got 4x4"),
    (case_frost_without_images, ValueError, "frost needs the frost images.*frost_dir="),
    (case_frost_dir_missing, ValueError, "frost_dir .*nope' is not a folder"),
    (case_frost_dir_empty, ValueError, "holds no image files"),
    (case_task_severity_0, ValueError, r"severity must be an int in 1..5, got 0 in \[0, 1\]"),
    (case_task_severity_6, ValueError, r"severity must be an int in 1..5, got 6 in \[5, 6\]"),
    (case_task_no_severities, ValueError, "severities must be a non-empty list"),
    (case_task_repeated_severity, ValueError, "severities lists a value twice"),
    (case_task_unknown_corruption, ValueError, r"unknown corruption\(s\) \['smog'\]"),
    (case_task_unknown_group, ValueError, "corruptions must be 'all', 'benchmark', 'extra'"),
    (case_task_bad_table, ValueError, "table must be None, 'imagenet' or 'cifar', got 'tiny'"),
    (case_task_frost_without_images, ValueError, "frost needs the frost images"),
    (case_task_seed_not_int, ValueError, "seed must be an int, got 'zero'"),
    (case_task_baseline_missing_file, ValueError, "baseline file .*base.json' does not exist"),
    (case_task_baseline_not_a_result, ValueError, "baseline must be a result of the corruption"),
    (case_task_unknown_key, TypeError, r"unknown key\(s\) \['severity'\]"),
    (case_jpeg_quality_100, ValueError, "jpeg_quality must be None or an int in 1..95, got 100"),
    (case_task_crop_too_small, ValueError, "crop must be None or an int side >= 8, got 4"),
    (case_task_jpeg_quality_0, ValueError, "jpeg_quality must be None or an int in 1..95, got 0"),
    (case_mce_percentages, ValueError, "not an error in \\[0, 1\\]"),
    (case_mce_baseline_lacks_corruption, ValueError, "baseline has no errors for corruption"),
]


@pytest.mark.parametrize("case, error, match", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_bad_input_is_named(tmp_path, case, error, match):
    with pytest.raises(error, match=match):
        case(tmp_path)
