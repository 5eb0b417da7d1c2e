"""Fine-tuning: WiSE-FT against a numpy reference, init_from an HF folder (overrides checked),
the interpolated final model, resume message, eval console lines and the workdir config.json."""

import json

import jax
import numpy as np
import pytest

from jclip.train import config as config_lib
from jclip.train import finetune, loop

MICRO = "experiments/configs/shapes_micro.py"
FIXTURES = "tests/fixtures/models"


def _config(**overrides):
    config = config_lib.load_config(MICRO)
    for key, value in overrides.items():
        config_lib.apply_override(config, key, str(value))
    return config


def _tree(seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return {"vision": {"w": rng.normal(size=(3, 4)).astype(dtype), "b": rng.normal(size=4)
                       .astype(dtype)},
            "logit_scale": np.asarray(rng.normal(), dtype)}


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_wise_ft_matches_a_float64_numpy_reference(alpha):
    theta0, theta1 = _tree(0), _tree(1)
    got = finetune.wise_ft(theta0, theta1, alpha)
    for path in (("vision", "w"), ("vision", "b"), ("logit_scale",)):
        a, b, out = theta0, theta1, got
        for key in path:
            a, b, out = a[key], b[key], out[key]
        reference = (1 - alpha) * a.astype(np.float64) + alpha * b.astype(np.float64)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, reference, rtol=1e-6, atol=1e-7)
    # jax arrays in, jax arrays out, same numbers.
    jgot = finetune.wise_ft(jax.tree.map(jax.numpy.asarray, theta0),
                            jax.tree.map(jax.numpy.asarray, theta1), alpha)
    np.testing.assert_allclose(np.asarray(jgot["vision"]["w"]), got["vision"]["w"], rtol=1e-6)
    if alpha in (0.0, 1.0):
        np.testing.assert_array_equal(got["vision"]["w"], (theta0, theta1)[int(alpha)]
                                      ["vision"]["w"])


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_wise_ft_rejects_alphas_outside_the_unit_interval(alpha):
    with pytest.raises(ValueError, match="alpha"):
        finetune.wise_ft(_tree(0), _tree(1), alpha)


def test_wise_ft_rejects_different_trees():
    other = _tree(1)
    other["text"] = other.pop("vision")
    with pytest.raises(ValueError, match="trees differ.*vision"):
        finetune.wise_ft(_tree(0), other, 0.5)
    other = _tree(1)
    other["vision"]["w"] = other["vision"]["w"][:2]
    with pytest.raises(ValueError, match=r"shape at .*'w'"):
        finetune.wise_ft(_tree(0), other, 0.5)


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A micro model written by jclip.save(format="hf"): an HF CLIPModel folder."""
    import jclip
    from jclip.train import state as state_lib

    model, _, _ = loop.build_model(_config())
    params = jax.jit(lambda rng: state_lib.init_params(model, rng))(jax.random.PRNGKey(7))
    folder = tmp_path_factory.mktemp("hf") / "pretrained"
    jclip.save(str(folder), model, jax.device_get(params), format="hf")
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    return folder


def test_fine_tune_from_an_hf_folder_saves_the_wise_ft_model_and_resumes(hf_folder, tmp_path,
                                                                          capsys):
    import jclip

    _, theta0 = jclip.load(str(hf_folder))
    config = _config(init_from=hf_folder, total_steps=3, checkpoint_every=3, eval_every=3,
                     tensorboard=False, wise_ft_alpha=0.5, **{"optim.warmup_steps": 1},
                     **{f"evals.{name}.every": 0 for name in ("shape", "count", "retrieval")})
    trainer = loop.train(config, str(tmp_path))
    out = capsys.readouterr().out
    assert "eval step 3: color/acc1 " in out
    resolved = json.loads((tmp_path / "config.json").read_text())
    assert resolved["init_from"] == str(hf_folder) and resolved["wise_ft_alpha"] == 0.5
    theta1 = jax.device_get(trainer.state["params"])  # the state keeps the fine-tuned params
    assert any(not np.array_equal(a, b) for a, b in
               zip(jax.tree.leaves(jax.device_get(theta0)), jax.tree.leaves(theta1)))
    _, saved = jclip.load(str(tmp_path / "model"))
    for a, b, s in zip(jax.tree.leaves(jax.device_get(theta0)), jax.tree.leaves(theta1),
                       jax.tree.leaves(jax.device_get(saved))):
        np.testing.assert_allclose(s, 0.5 * (np.float64(a) + np.float64(b)), rtol=1e-6,
                                   atol=1e-7)
    # The saved WiSE-FT model is evaluated too, with the run's tasks.
    assert "eval of the WiSE-FT model (alpha=0.5): color/acc1 " in out
    wise = json.loads((tmp_path / "wise_ft_eval.json").read_text())
    # Rerunning the finished run resumes at its last checkpoint and says so.
    again = loop.Trainer(config, str(tmp_path))
    assert again.start_step == 3
    assert "resumed from step 3 (checkpoint " in capsys.readouterr().out
    again.state = {**again.state, "params": jax.tree.map(jax.numpy.asarray, saved)}
    assert again.evaluate() == pytest.approx(wise["metrics"])  # the saved model's numbers
    again.close()


def test_init_from_checks_the_overrides_against_the_checkpoint(hf_folder):
    import jclip

    config = _config(init_from=hf_folder)
    config.model.overrides = dict(config.model.overrides, vision_layers=3, embed_dim=48,
                                  scan_layers=True)
    with pytest.raises(config_lib.ConfigError,
                       match=r"embed_dim=48 \(checkpoint: 32\), vision_layers=3 \(checkpoint: 1\)"
                       r".*drop these overrides"):
        loop.build_model(config)
    # Matching architecture fields and compute options are fine.
    config.model.overrides = dict(embed_dim=32, scan_layers=True, remat=True)
    model, _, params = loop.build_model(config)
    assert model.config.scan_layers and model.config.remat
    _, scanned = jclip.load(str(hf_folder), scan_layers=True)
    assert jax.tree.structure(params) == jax.tree.structure(scanned)  # the scanned layout
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(scanned)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_init_from_an_hf_fixture_with_its_own_tokenizer():
    folder = f"{FIXTURES}/hf_clip_mixed"
    config = _config(init_from=folder)
    with pytest.raises(config_lib.ConfigError, match="conflict with the architecture"):
        loop.build_model(config)
    config.model.overrides = {}
    with pytest.raises(config_lib.ConfigError, match="end-of-text id.*--config.tokenizer="):
        loop.build_model(config)  # the scenes' word tokenizer does not fit a BPE text tower
    config.tokenizer = folder
    model, tokenizer, params = loop.build_model(config)
    assert model.config.tower_act("vision") == "quick_gelu" and tokenizer.eos_id == 553
    assert "logit_bias" not in params
    config.loss.name = "siglip"
    with pytest.raises(config_lib.ConfigError, match="needs a SigLIP model"):
        loop.build_model(config)
