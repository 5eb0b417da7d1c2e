"""The adversarial study end to end on its micro config (base model, TeCoA and FARE fine-tunes,
every method evaluated), its summary layout, plots and command line; the real config offline on
a tiny HF CLIP and a class-per-folder set."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from experiments.adversarial import __main__ as cli
from experiments.adversarial import study
from experiments.adversarial.configs import micro, real

HF_TINY = "tests/fixtures/models/hf_clip_mixed"


def _check_result(result, eps):
    assert set(study.METHODS) <= set(result)
    for method in study.METHODS:
        assert 0.0 <= result[method]["clean"] <= 1.0
        assert list(result[method]["robust"]) == eps
        assert all(0.0 <= v <= 1.0 for v in result[method]["robust"].values())
    # Same attack, same clean images: TTC's clean accuracy does not depend on the attack.
    assert result["ttc"]["clean"] == result["ttc_adaptive"]["clean"]


def test_micro_study_end_to_end(tmp_path, capsys):
    workdir = str(tmp_path / "adv")
    assert cli.main(["--config", micro.__file__, "--workdir", workdir, "--seed", "3"]) == 0
    with open(os.path.join(workdir, "summary.json")) as f:
        summary = json.load(f)
    assert summary["seeds"] == [3] and list(summary["per_seed"]) == ["3"]
    result = summary["per_seed"]["3"]
    _check_result(result, ["4"])
    assert summary["mean"]["vanilla"] == {k: result["vanilla"][k] for k in ("clean", "robust")}
    assert summary["std"]["tecoa"]["robust"]["4"] == 0.0
    for method in study.FINETUNES:  # the fine-tunes ran through the trainer from the base
        info = result["finetune"][method]
        assert info["steps"] == 2 and np.isfinite(info["final_loss"])
        assert os.path.isfile(os.path.join(workdir, "seed_3", method, "model", "params.msgpack"))
    for name in ("robust_vs_eps.png", "tradeoff.png"):
        assert os.path.getsize(os.path.join(workdir, name)) > 1000
    out = capsys.readouterr().out
    assert "| ttc_adaptive |" in out and "eps 4/255" in out


def test_the_seed_changes_the_eval_scenes_and_the_fine_tune():
    config = micro.get_config()
    a, b = study.eval_tasks(config, 0), study.eval_tasks(config, 1)
    assert a[0]["data"]["seed"] != b[0]["data"]["seed"]
    assert [t["eps"] for t in a] == [4.0] and a[0]["seed"] == 0 and b[0]["seed"] == 1
    assert a[0]["step_size"] == pytest.approx(0.25 * 4)
    assert study.finetune_config(config, "tecoa", 5, "m").seed == 5
    ttc = study.eval_tasks(config, 0, defense="ttc", adaptive=True)
    assert all(t["defense"] == "ttc" and t["adaptive"] for t in ttc)


def _class_folder(root, n=4):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c, name in enumerate(("apple", "banana")):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
                pixels[..., c] = 255
                Image.fromarray(pixels).save(d / f"{i}.png")
    return str(root)


def test_real_config_runs_offline_on_a_tiny_hf_model(tmp_path):
    """The real config's pieces on a tiny HF CLIP and a class-per-folder set: a TeCoA fine-tune
    of the HF model on labelled folder batches, and its TTC evaluation on the folder."""
    folder = _class_folder(tmp_path / "data")
    c = real.get_config()
    assert len(c.eval.datasets) >= 10 and c.methods.tecoa["eps"] == 1 / 255
    assert c.methods.tecoa["templates"] == ("This is a photo of a {}",)
    f = c.finetune
    f.tokenizer = HF_TINY
    f.model.context_length = 16
    f.data = dict(type="classification", path=f"folder:{folder}", split="train",
                  templates=("This is a photo of a {}",), num_workers=1)
    f.batch_size, f.total_steps, f.log_every, f.checkpoint_every = 8, 2, 1, 0
    f.optim.warmup_steps = 1
    c.methods.tecoa["classnames"] = ("apple", "banana")
    c.eval.datasets = (f"folder:{folder}",)
    c.eval.split = "test"
    c.eval.eps = (1,)
    c.eval.steps = 1
    c.eval.num_examples = 6
    c.base_model = HF_TINY
    study.check(c)
    model_dir, info = study.finetune(c, "tecoa", 0, HF_TINY, str(tmp_path / "tecoa"))
    assert info["steps"] == 2 and np.isfinite(info["final_loss"])
    results = study.evaluate(model_dir, study.eval_tasks(c, 0, defense="ttc"), batch_size=4)
    assert results[0]["num_examples"] == 6
    curve = study._curve(results, "clean_ttc_acc1", "robust_ttc_acc1")
    assert 0 <= curve["clean"] <= 1 and list(curve["robust"]) == ["1"]


@pytest.mark.parametrize("loss", ["tecoa", "fare"])
def test_the_finetune_config_file_is_a_checked_trainer_config(loss):
    from jclip.train import config as config_lib

    c, _ = config_lib.parse_args(["--config", f"experiments/adversarial/configs/finetune.py:{loss}",
                                  "--config.init_from=tests/fixtures/models/hf_clip_mixed"])
    config_lib.check_config(c)
    assert c.loss.name == loss and c.loss.reference == c.init_from
    assert c.locked_towers == ("text",) and c.loss.eps == pytest.approx(4 / 255)
