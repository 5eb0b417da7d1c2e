"""Bad inputs of the adversarial fine-tunes (TeCoA, FARE) and of the adversarial study: each
raises the named exception with a message that says what is wrong (one test line per case)."""

import copy

import jax
import ml_collections
import numpy as np
import pytest

from experiments.adversarial import study
from experiments.adversarial.configs import default
from jclip.train import config as config_lib
from jclip.train.objectives import make_objective
from tests.helpers.models import save_workdir, tiny_model


def _trainer(name="tecoa", **loss):
    """A checked-only trainer config of the study's fine-tunes (init_from: the cwd exists)."""
    c = study.finetune_config(default.get_config(), name, 0, ".")
    c.loss.update(loss)
    return c


def _check(c):
    config_lib.check_config(c)


def case_tecoa_without_init_from(tmp_path):
    c = _trainer()
    c.init_from = ""
    _check(c)


def case_fare_without_reference(tmp_path):
    _check(_trainer("fare", reference=""))


def case_reference_that_does_not_exist(tmp_path):
    _check(_trainer("fare", reference=str(tmp_path / "nowhere")))


def case_text_tower_not_locked(tmp_path):
    c = _trainer()
    c.locked_towers = ()
    _check(c)


def case_vision_tower_locked(tmp_path):
    c = _trainer("fare")
    c.locked_towers = ("text", "vision")
    _check(c)


def case_tecoa_without_classnames(tmp_path):
    _check(_trainer(classnames=()))


def case_tecoa_classnames_of_another_label(tmp_path):
    _check(_trainer(classnames=("circle", "square")))


def case_tecoa_shapes_without_label(tmp_path):
    c = _trainer()
    c.data.label = ""
    _check(c)


def case_tecoa_label_the_scenes_do_not_have(tmp_path):
    c = _trainer()
    c.data.label = "count"
    _check(c)


def case_tecoa_on_captions_without_labels(tmp_path):
    c = _trainer()
    c.data.type = "pairs"
    _check(c)


def case_eps_in_255_units(tmp_path):
    _check(_trainer(eps=4.0))


def case_zero_attack_steps(tmp_path):
    _check(_trainer("fare", attack_steps=0))


def case_nan_step_size(tmp_path):
    _check(_trainer(step_size=float("nan")))


def case_counting_term_with_tecoa(tmp_path):
    _check(_trainer(counting_weight=1.0))


def _objective(tmp_path, name, **loss):
    folder = save_workdir(tmp_path) + "/model"
    c = ml_collections.ConfigDict(dict(name=name, reference=folder, eps=1 / 255,
                                       step_size=1 / 255, attack_steps=1, **loss))
    return c


def case_reference_of_another_architecture(tmp_path):
    import jclip

    c = _objective(tmp_path, "fare")
    model, _, _ = tiny_model()
    other = jclip.create_model(jclip.get_config(model.config, embed_dim=48))
    make_objective(c, other, locked=("text",))


def case_tecoa_batch_without_labels(tmp_path):
    model, params, _ = tiny_model()
    c = _objective(tmp_path, "tecoa", classnames=("circle", "square", "triangle"),
                   templates=("a photo of a {}",))
    objective = make_objective(c, model, locked=("text",))
    objective.loss_fn(params, {"image": np.zeros((2, 32, 32, 3), np.float32)},
                      jax.random.key(0))


def case_tecoa_objective_without_classnames(tmp_path):
    model, _, _ = tiny_model()
    make_objective(_objective(tmp_path, "tecoa"), model, locked=("text",))


def _study(**eval_overrides):
    c = default.get_config()
    c.eval.update(eval_overrides)
    return c


def case_study_eps_zero(tmp_path):
    study.check(_study(eps=(0, 1)))


def case_study_eps_in_pixel_units_mistaken(tmp_path):
    study.check(_study(eps=(255,)))


def case_study_no_steps(tmp_path):
    study.check(_study(steps=0))


def case_study_no_examples(tmp_path):
    study.check(_study(num_examples=0))


def case_study_without_fare(tmp_path):
    c = _study()
    del c.methods["fare"]
    study.check(c)


def case_study_method_of_another_loss(tmp_path):
    c = _study()
    c.methods.tecoa["name"] = "fare"
    study.check(c)


def case_study_tecoa_block_without_classnames(tmp_path):
    c = copy.deepcopy(_study())
    c.methods.tecoa["classnames"] = ()
    study.check(c)


CASES = [
    (case_tecoa_without_init_from, ValueError, "fine-tunes a pretrained model: set "
                                               "config.init_from"),
    (case_fare_without_reference, ValueError, "needs config.loss.reference"),
    (case_reference_that_does_not_exist, ValueError, "loss.reference=.*nowhere.* does not exist"),
    (case_text_tower_not_locked, ValueError, "trains the vision tower only: set "
                                             "config.locked_towers=\\('text',\\)"),
    (case_vision_tower_locked, ValueError, "remove 'vision' from config.locked_towers"),
    (case_tecoa_without_classnames, ValueError, "needs loss.classnames"),
    (case_tecoa_classnames_of_another_label, ValueError, "has 2 classes but data.label='shape'"),
    (case_tecoa_shapes_without_label, ValueError, "needs data.label"),
    (case_tecoa_label_the_scenes_do_not_have, ValueError, "'count' is not a label of the "
                                                          "'attributes' scenes"),
    (case_tecoa_on_captions_without_labels, ValueError, "data.type='pairs' has none"),
    (case_eps_in_255_units, ValueError, "loss.eps=4.0 must be in \\(0, 0.5\\].*1/255"),
    (case_zero_attack_steps, ValueError, "loss.attack_steps must be an int >= 1, got 0"),
    (case_nan_step_size, ValueError, "loss.step_size=nan must be in"),
    (case_counting_term_with_tecoa, ValueError, "takes no additive terms"),
    (case_reference_of_another_architecture, ValueError, "another architecture.*embed_dim"),
    (case_tecoa_batch_without_labels, ValueError, "needs class labels in the batch"),
    (case_tecoa_objective_without_classnames, ValueError, "needs loss.classnames"),
    (case_study_eps_zero, ValueError, "eval.eps must be positive"),
    (case_study_eps_in_pixel_units_mistaken, ValueError, "/255 units \\(4 means 4/255\\)"),
    (case_study_no_steps, ValueError, "eval.steps must be >= 1"),
    (case_study_no_examples, ValueError, "eval.num_examples must be >= 1"),
    (case_study_without_fare, ValueError, "config.methods lacks \\['fare'\\]"),
    (case_study_method_of_another_loss, ValueError, "config.methods.tecoa.name must be 'tecoa'"),
    (case_study_tecoa_block_without_classnames, ValueError, "config.methods.tecoa: .*needs "
                                                            "loss.classnames"),
]


@pytest.mark.parametrize("case, error, match", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_bad_input_is_named(tmp_path, case, error, match):
    with pytest.raises(error, match=match):
        case(tmp_path)


def test_the_study_command_exits_2_on_a_bad_config(tmp_path, capsys):
    from experiments.adversarial import __main__ as cli

    (tmp_path / "bad.py").write_text(
        "from experiments.adversarial.configs import default\n"
        "def get_config(arg=None):\n"
        "    c = default.get_config()\n"
        "    c.eval.eps = (0,)\n"
        "    return c\n")
    assert cli.main(["--config", str(tmp_path / "bad.py"), "--workdir", str(tmp_path)]) == 2
    assert "eval.eps must be positive" in capsys.readouterr().err
    assert cli.main(["--seeds", "0,0", "--workdir", str(tmp_path)]) == 2


def test_the_trainer_command_exits_2_for_tecoa_without_classnames(tmp_path, capsys):
    from experiments import train as train_cli

    folder = save_workdir(tmp_path / "ref") + "/model"
    (tmp_path / "c.py").write_text(
        "from experiments.adversarial.configs import default\n"
        "def get_config(arg=None):\n"
        "    c = default.finetune_config()\n"
        "    c.loss.name = 'tecoa'\n"
        "    return c\n")
    code = train_cli.main(["--config", str(tmp_path / "c.py"), "--workdir", str(tmp_path / "w"),
                           f"--config.init_from={folder}"])
    assert code == 2
    assert "needs loss.classnames" in capsys.readouterr().err
