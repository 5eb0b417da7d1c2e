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


MICRO = "experiments/configs/shapes_micro.py"


def test_load_config_adds_the_optional_keys_so_they_can_be_overridden():
    config, _ = config_lib.parse_args(["--config", MICRO, "--config.wise_ft_alpha=0.5",
                                       "--config.init_from=some/model"])
    assert config.wise_ft_alpha == 0.5 and config.init_from == "some/model"
    assert config_lib.load_config(MICRO).wise_ft_alpha is None


@pytest.mark.parametrize("overrides, num_devices, message", [
    ({"loss.name": "clipp"}, None, r"Unknown loss config.loss.name='clipp'"),
    ({"loss.impl": "kernel", "loss.name": "cloob"}, None, "impl=xla"),
    ({"batch_size": 12}, 8, r"batch_size=12 is not divisible by the 8 devices.*batch_size=8"),
    ({"batch_size": 16, "optim.accum_steps": 3}, None, "accum_steps=3"),
    ({"batch_size": 0}, None, "positive int"),
    ({"optim.warmup_steps": 20}, None, "warmup_steps=20 must be below total_steps=20"),
    ({"locked_towers": "('vison',)"}, None, r"unknown towers \['vison'\].*LiT"),
    ({"init_from": "no/such/dir/model"}, None, "does not exist.*jclip.load source"),
    ({"init_from": "missing.safetensors"}, None, "does not exist"),
    ({"wise_ft_alpha": 1.5}, None, r"wise_ft_alpha must be None or a number in \[0, 1\]"),
    ({"wise_ft_alpha": 0.5}, None, "set init_from, or wise_ft_alpha=None"),
    ({"evals.count": "{'type': 'nope', 'dataset': 'jclip_shapes/counting'}"}, None,
     "config.evals.count"),
    # The tasks' own checks run before the first step, as on the command line.
    ({"evals.count": "{'type': 'corruption', 'dataset': 'jclip_shapes/counting', "
                     "'corruptions': ['gausian_noise']}"}, None, "gausian_noise"),
    ({"evals.count": "{'type': 'adversarial', 'dataset': 'jclip_shapes/counting', "
                     "'eps': -3}"}, None, "eps"),
])
def test_check_config_names_the_problem_and_the_fix(overrides, num_devices, message):
    config = config_lib.load_config(MICRO)
    for key, value in overrides.items():
        config_lib.apply_override(config, key, str(value))
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.check_config(config, num_devices=num_devices)


def test_check_config_accepts_the_shipped_configs_and_a_hub_id():
    config = config_lib.load_config(MICRO)
    config_lib.check_config(config, num_devices=8)
    config.init_from = "openai/clip-vit-base-patch32"
    config_lib.check_config(config)  # a hub id is looked up when the model is loaded
    config.init_from = "laion/CLIP-ViT-B-32.laion2b"
    config_lib.check_config(config)
    config_lib.check_config(config_lib.load_config(TINY), num_devices=8)


def test_evals_entry_that_is_not_a_task_dict_is_rejected():
    config = config_lib.load_config(MICRO)
    with config.evals.ignore_type():
        config.evals.count = "zeroshot"
    with pytest.raises(config_lib.ConfigError, match="config.evals.count must be a task dict"):
        config_lib.check_config(config)


@pytest.mark.parametrize("flags, message", [
    (["--config.loss.name=siglip"], "needs a SigLIP model"),
    (["--config.loss.name=nope"], "Unknown loss"),
    (["--config.batch_size=12"], "not divisible by the 8 devices"),
    (["--config.locked_towers=image"], "unknown towers"),
    (["--config.init_from=./nowhere"], "does not exist"),
    (["--config.batch_sise=3"], "Unknown config key"),
])
def test_cli_exits_with_code_2_and_a_message_on_a_bad_config(tmp_path, capsys, flags, message):
    from experiments import train as train_cli

    code = train_cli.main(["--config", MICRO, "--workdir", str(tmp_path / "run"), *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("ERROR: ") and message in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_cli_help_lists_the_fields_values_and_comments(capsys):
    from experiments import train as train_cli

    assert train_cli.main(["--config", MICRO, "--config.batch_size=32", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--config.batch_size=32" in out and "# global batch, split over every device" in out
    assert "--config.loss.name='clip'" in out and "clip | siglip" in out
    assert "--config.wise_ft_alpha=None" in out and "WiSE-FT" in out
    assert train_cli.main(["-h"]) == 0 and "--config FILE" in capsys.readouterr().out
