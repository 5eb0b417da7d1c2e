"""The ordinal study end to end on the micro config (a tiny model, few scenes and steps), its
command line, and the real-data config offline on ordered age folders."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from experiments.ordinal import __main__ as cli
from experiments.ordinal import plots, study
from experiments.ordinal.configs import micro, real
from tests.helpers.models import save_workdir

REQUIRED = ("zero_shot", "linear_probe", "ordinalclip", "numclip")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return os.path.join(save_workdir(tmp_path_factory.mktemp("tiny")), "model")


def _small(config):
    config.steps = 4
    config.batch_size = 16
    for task in config.tasks.values():
        task.num_train, task.num_test = 40, 30
        for part in (task.train_data, task.test_data):
            if "options" in part:
                part.options = {**part.options, "image_size": 32}
    return config


def test_micro_end_to_end(tiny_folder, tmp_path):
    config = _small(micro.get_config())
    config.model = tiny_folder
    summary = study.run(config, [3], str(tmp_path))
    with open(tmp_path / "summary.json") as f:
        saved = json.load(f)
    assert saved["seeds"] == [3] and saved["primary"] == "size"
    for method in REQUIRED + ("least_squares",):
        row = saved["per_seed"]["3"][method]
        for key in ("mae", "accuracy", "spearman"):
            assert key in row and key in saved["mean"][method] and key in saved["std"][method]
        assert saved["std"][method]["mae"] == 0.0  # one seed
        assert 0 <= row["accuracy"] <= 1 and row["mae"] >= 0 and len(row["per_rank_mae"]) == 5
    assert summary["per_seed"]["3"]["tasks"]["size"]["numclip"]["mae"] == \
        saved["per_seed"]["3"]["numclip"]["mae"]
    assert saved["words"]["size"]["tiny"]["in_vocabulary"] is True
    for name in plots.FIGURES:
        assert (tmp_path / name).stat().st_size > 1000
    with open(tmp_path / "predictions.json") as f:
        preds = json.load(f)
    assert len(preds["3/size"]["numclip"]["predictions"]) == 30


def test_command_line_rejects_bad_seeds(tmp_path):
    with pytest.raises(ValueError, match="--seeds needs distinct"):
        cli.main(["--seeds", "1,1", "--workdir", str(tmp_path)])


class _AnyTextTokenizer:
    """Any words -> ids of the tiny vocabulary (hashed), with its special ids, so the real
    config's prompts ("a photo of a 10 year old person") tokenize with the tiny model."""

    def __init__(self, base):
        self.base, self.sot_id, self.eos_id, self.pad_id = base, base.sot_id, base.eos_id, 0

    def __call__(self, texts):
        import zlib

        out = np.zeros((len(texts), self.base.context_length), np.int32)
        for row, text in enumerate(texts):
            ids = [1 + zlib.crc32(w.encode()) % (self.base.vocab_size - 3) for w in text.split()]
            ids = [self.sot_id, *ids, self.eos_id][: self.base.context_length]
            ids[-1] = self.eos_id
            out[row, : len(ids)] = ids
        return out


def test_real_config_offline_on_ordered_age_folders(tiny_folder, tmp_path, monkeypatch):
    import jclip

    rng = np.random.default_rng(0)
    ages = ("3", "10", "25", "40", "70")  # lexicographic folder ids differ from the age order
    for split, n in (("train", 8), ("test", 3)):
        for age in ages:
            folder = tmp_path / "ages" / split / age
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(
                    folder / f"{i}.png")
    config = real.get_config(str(tmp_path / "ages"))
    config.model, config.steps, config.batch_size = tiny_folder, 3, 16
    config.methods = ("ordinalclip", "numclip")  # zero-shot and the probes: the micro test

    def tiny_model(config):
        model, params = jclip.load(tiny_folder)
        tokenizer = jclip.load_tokenizer(tiny_folder, context_length=model.config.context_length)
        return model, params, _AnyTextTokenizer(tokenizer), "tiny"

    monkeypatch.setattr(study, "load_model", tiny_model)
    summary = study.run(config, [0], str(tmp_path / "out"))
    row = summary["per_seed"]["0"]
    for method in config.methods:
        assert len(row[method]["per_rank_mae"]) == 5 and np.isfinite(row[method]["mae"])
    with open(tmp_path / "out" / "predictions.json") as f:
        raw = json.load(f)["0/age"]
    assert raw["values"] == [3, 10, 25, 40, 70]  # ranks in the natural order, MAE in years
    assert sorted(raw["labels"]) == [r for r in range(5) for _ in range(3)]
