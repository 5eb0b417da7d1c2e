"""The counting study end to end: the micro config (both arms from one base, equal steps and
batches, summary.json layout, plots) and the real config offline (a tiny HF checkpoint
fine-tuned on a local pairs folder, evaluated on a fake CountBench copy)."""

import json
import os

import numpy as np

from experiments.counting import study
from experiments.counting.configs import micro, real
from tests.helpers.files import write_countbench, write_train_pairs

KEYS = ("count_accuracy", "count_mae", "shape_accuracy", "color_accuracy")


def _metrics(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_micro_study_end_to_end(tmp_path):
    config = micro.get_config()
    config.base_cache = str(tmp_path / "base")
    summary = study.run(config, [0], str(tmp_path / "run"))
    with open(tmp_path / "run" / "summary.json") as f:
        on_disk = json.load(f)
    assert on_disk["seeds"] == [0] and on_disk["lambdas"] == [0.0, 1.0]
    for where in (on_disk["per_seed"]["0"], on_disk["mean"], on_disk["std"]):
        for arm in ("plain", "counting_loss"):
            assert all(np.isfinite(where[arm][k]) for k in KEYS)
    assert all(on_disk["std"]["plain"][k] == 0 for k in KEYS)  # one seed
    seed = on_disk["per_seed"]["0"]
    assert seed["lift"]["count_accuracy"] == seed["counting_loss"]["count_accuracy"] - \
        seed["plain"]["count_accuracy"]
    assert np.sum(seed["confusion"]["plain"]) == 32  # the held-out count scenes
    for path in summary["plots"]:
        assert os.path.getsize(path) > 2000
    # Equal steps and data: the same first-step contrastive loss; the counting term used the
    # counting half of each mixed batch (attribute captions state no number).
    plain = _metrics(tmp_path / "run" / "seed_0" / "lam_0" / "metrics.jsonl")
    counted = _metrics(tmp_path / "run" / "seed_0" / "lam_1" / "metrics.jsonl")
    assert len(plain) == len(counted) == config.train.total_steps
    assert plain[0]["contrastive_loss"] == counted[0]["contrastive_loss"]
    assert "counting_loss" not in plain[0]
    assert all(r["counting_rows"] == config.train.batch_size // 2 for r in counted)


def test_real_config_offline_on_a_tiny_hf_model_and_a_fake_countbench(tmp_path):
    config = real.get_config("test")
    config.init_from = os.path.join(os.path.dirname(__file__), "fixtures", "models",
                                    "hf_clip_mixed")
    config.train.data.path = write_train_pairs(tmp_path / "pairs")
    config.eval_data_dir = write_countbench(tmp_path / "countbench", missing=(0,))
    summary = study.run(config, [0], str(tmp_path / "run"))
    seed = summary["per_seed"]["0"]
    assert set(seed["plain"]) == {"count_accuracy", "count_mae", "count_templates_accuracy"}
    assert seed["confusion"]["counts"] == list(range(2, 11))
    assert np.sum(seed["confusion"]["counting_loss"]) == 7  # 8 rows, one image missing
    with open(tmp_path / "run" / "seed_0" / "lam_1" / "evals" / "count.json") as f:
        assert json.load(f)["data_report"]["missing_images"] == 1
    counted = _metrics(tmp_path / "run" / "seed_0" / "lam_1" / "metrics.jsonl")
    # each step of 8 is an epoch of the 8 pairs, half of whose captions state a number
    assert [r["counting_rows"] for r in counted] == [4, 4]
