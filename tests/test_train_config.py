"""Config files and command-line overrides of the trainer."""

import ml_collections
import pytest

from jclip.train import config as config_lib

TINY = "experiments/configs/shapes_tiny.py"


def test_shapes_tiny_has_the_required_keys():
    config = config_lib.load_config(TINY)
    for key in config_lib.REQUIRED_KEYS:
        assert key in config
    assert config.model.overrides["vision_layers"] == 4


def test_overrides_keep_the_types_of_the_fields():
    config, flags = config_lib.parse_args([
        "--config", TINY, "--workdir", "out",
        "--config.batch_size=64", "--config.optim.lr", "3e-4", "--config.tensorboard=false",
        "--config.data.sources=attributes", "--config.locked_towers=vision",
        "--config.evals.count.every=0", "--config.data.options={'image_size': 32}",
        "--config.model.overrides.vision_layers=1",
    ])
    assert flags == {"workdir": "out"}
    assert config.batch_size == 64 and isinstance(config.batch_size, int)
    assert config.optim.lr == pytest.approx(3e-4) and isinstance(config.optim.lr, float)
    assert config.tensorboard is False
    assert config.data.sources == ("attributes",)
    assert config.locked_towers == ("vision",)
    assert config.evals.count.every == 0
    assert config.data.options.to_dict() == {"image_size": 32}
    assert config.model.overrides.vision_layers == 1


@pytest.mark.parametrize("argv, message", [
    (["--config", TINY, "--config.batch_sise=3"], "Unknown config key 'batch_sise'"),
    (["--config", TINY, "--config.optim.nope=3"], "Unknown config key 'optim.nope'"),
    (["--config", TINY, "--config.batch_size=big"], "batch_size"),
    (["--config", TINY, "--config.tensorboard=maybe"], "boolean"),
    (["--config", TINY, "--config.optim=3"], "is a group"),
    (["--config.batch_size=3"], "exactly one --config"),
    (["--config", TINY, "stray"], "positional"),
])
def test_bad_overrides_raise_clear_errors(argv, message):
    with pytest.raises(ValueError, match=message):
        config_lib.parse_args(argv)


def test_config_argument_and_missing_keys(tmp_path):
    path = tmp_path / "cfg.py"
    path.write_text(
        "import ml_collections\n"
        "def get_config(arg=None):\n"
        "    return ml_collections.ConfigDict({'total_steps': int(arg or 1), 'batch_size': 8,\n"
        "        'seed': 0, 'log_every': 1, 'eval_every': 0, 'checkpoint_every': 0})\n"
    )
    assert config_lib.load_config(f"{path}:7").total_steps == 7
    path.write_text("import ml_collections\ndef get_config():\n"
                    "    return ml_collections.ConfigDict({'total_steps': 1})\n")
    with pytest.raises(ValueError, match="lacks the required keys"):
        config_lib.load_config(str(path))
    with pytest.raises(FileNotFoundError):
        config_lib.load_config(str(tmp_path / "missing.py"))


def test_apply_override_on_none_field_takes_literals_and_strings():
    config = ml_collections.ConfigDict({"a": None, "b": None})
    config_lib.apply_override(config, "a", "[1, 2]")
    config_lib.apply_override(config, "b", "some/path")
    assert config.a == [1, 2] and config.b == "some/path"
