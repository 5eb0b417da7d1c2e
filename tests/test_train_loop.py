"""The training loop in-process: the loss drops, evaluators log, NaN aborts cleanly, LiT locks."""

import json

import jax
import numpy as np
import pytest

from experiments import train as train_cli
from jclip.train import config as config_lib
from jclip.train import loop, metric_writer

MICRO = "experiments/configs/shapes_micro.py"


def _config(**overrides):
    config = config_lib.load_config(MICRO)
    for key, value in overrides.items():
        config_lib.apply_override(config, key, str(value))
    return config


def test_short_run_lowers_the_loss_and_logs_evaluations(tmp_path):
    config = _config(total_steps=24, eval_every=24, checkpoint_every=0, **{"optim.lr": 3e-3})
    trainer = loop.train(config, str(tmp_path))
    records = metric_writer.read_metrics(str(tmp_path))
    assert [r["step"] for r in records] == list(range(1, 25))
    losses = np.array([r["loss"] for r in records])
    assert losses[-4:].mean() < 0.8 * losses[:4].mean(), losses
    assert records[0]["learning_rate"] == 0.0 and records[2]["learning_rate"] > 0
    final = records[-1]
    for key in ("shape/acc1", "color/acc1", "count/acc1", "retrieval/image_retrieval_recall@1",
                "retrieval/text_retrieval_recall@1"):
        assert 0.0 <= final[key] <= 1.0
    assert final["color/acc1"] > 0.5  # two colours: better than chance already
    # The final model is saved for jclip.load / jclip-eval, with its tokenizer.
    assert (tmp_path / "model" / "jclip_config.json").is_file()
    spec = json.loads((tmp_path / "model" / "jclip_tokenizer.json").read_text())
    assert spec["type"] == "word" and not (tmp_path / "model" / "tokenizer.json").exists()
    # The in-loop numbers are those of jclip.evals on the saved model.
    count = next(r for r in trainer.last_eval_results if r["task_config"]["name"] == "count")
    assert np.asarray(count["confusion_matrix"]).sum() == count["num_examples"] == 32
    assert int(trainer.state["step"]) == 24
    assert any(p.name.startswith("events") for p in (tmp_path / "tensorboard").iterdir())


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    code = train_cli.main([
        "--config", MICRO, "--workdir", str(tmp_path), "--config.total_steps=8",
        "--config.checkpoint_every=2", "--config.debug_nan_at_step=5", "--config.tensorboard=false",
    ])
    assert code == 1
    err = capsys.readouterr().err
    assert "Loss is nan at step 5" in err and "last good checkpoint is step 4" in err
    steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-1] == 4
    records = metric_writer.read_metrics(str(tmp_path))
    assert max(r["step"] for r in records) == 4
    assert all(np.isfinite(r["loss"]) for r in records)
    # The good checkpoint restores: a restarted run without the fault resumes from step 4.
    trainer = loop.Trainer(_config(total_steps=8, checkpoint_every=2, tensorboard=False),
                           str(tmp_path))
    assert trainer.start_step == 4 and int(trainer.state["step"]) == 4
    trainer.close()


def test_lit_fine_tuning_from_a_saved_model_keeps_the_vision_tower(tmp_path):
    """Fine-tune a model saved with jclip.save, image tower locked (LiT, Zhai et al., 2022)."""
    import jclip
    from jclip.train import state as state_lib

    base = _config()
    model, _, _ = loop.build_model(base)
    saved = jax.jit(lambda rng: state_lib.init_params(model, rng))(jax.random.PRNGKey(42))
    jclip.save(str(tmp_path / "pretrained"), model, jax.device_get(saved))

    config = _config(total_steps=3, checkpoint_every=0, locked_towers="vision", tensorboard=False,
                     init_from=tmp_path / "pretrained")
    trainer = loop.Trainer(config, str(tmp_path / "run"))
    for a, b in zip(jax.tree.leaves(saved), jax.tree.leaves(trainer.state["params"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # starts from the file
    trainer.run()
    after = trainer.state["params"]
    for a, b in zip(jax.tree.leaves(saved["vision"]), jax.tree.leaves(after["vision"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    changed = [not np.array_equal(np.asarray(a), np.asarray(b))
               for a, b in zip(jax.tree.leaves(saved["text"]), jax.tree.leaves(after["text"]))]
    assert any(changed)


def test_cli_rejects_unknown_flags_and_missing_workdir():
    with pytest.raises(SystemExit, match="workdir"):
        train_cli.main(["--config", MICRO])
    with pytest.raises(SystemExit, match="Unknown flags"):
        train_cli.main(["--config", MICRO, "--workdir", "x", "--wrokdir", "y"])


def test_metric_writer_drops_records_after_the_resume_step(tmp_path):
    with open(tmp_path / "metrics.jsonl", "w") as f:
        for step in range(1, 8):
            f.write(json.dumps({"step": step, "loss": 1.0}) + "\n")
    writer = metric_writer.MetricWriter(str(tmp_path), resume_step=4, tensorboard=False)
    writer.write(5, {"loss": float("nan")})
    writer.close()
    records = metric_writer.read_metrics(str(tmp_path))
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert records[-1]["loss"] == "nan"
