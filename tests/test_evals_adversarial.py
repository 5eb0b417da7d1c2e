"""The ``adversarial`` eval task: [0, 1] pixels from uint8 scenes, attack settings, metrics
recomputed with jclip.attacks directly, the ttc defence (and adaptive attacks through it)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jclip
from jclip import attacks, evals
from jclip.data import shapes
from jclip.evals import adversarial
from tests.helpers.models import SHAPES3, tiny_model

N, SEED = 12, 3
DATA = {"label": "color", "num_examples": N, "seed": SEED, "options": {"shapes": SHAPES3}}


def _task(**kw):
    return {"type": "adversarial", "dataset": "jclip_shapes/attributes", "data": DATA, **kw}


def _scenes_and_classifier():
    model, params, tok = tiny_model()
    scenes = shapes.generate("attributes", N, (SEED, 1), shapes=SHAPES3)
    names = shapes.classnames("attributes", "color", shapes=SHAPES3)
    templates = shapes.templates("attributes", "color")
    classifier = jclip.zeroshot.build_classifier(model, params, tok, list(names), templates)
    return scenes, np.asarray(classifier, np.float32).T


def test_unit_pixels_are_the_uint8_grid_and_match_preprocess():
    model, _, _ = tiny_model()
    images = np.random.RandomState(0).randint(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    np.testing.assert_array_equal(adversarial.unit_pixels(images, model.config),
                                  images.astype(np.float32) / np.float32(255))
    big = np.random.RandomState(1).randint(0, 256, (2, 40, 48, 3)).astype(np.uint8)
    x = adversarial.unit_pixels(list(big), model.config)
    assert x.shape == (2, 32, 32, 3)
    to_input = jax.jit(lambda v: attacks.to_model_input(v, model.config))
    np.testing.assert_allclose(np.asarray(to_input(x)),
                               jclip.preprocess(list(big), model.config), atol=1e-5)


def test_pgd_task_equals_the_attack_run_directly():
    model, params, tok = tiny_model()
    [result] = evals.evaluate(model, params, tok, _task(eps=8, steps=3, step_size=2))
    m = result["metrics"]
    assert result["num_examples"] == N and set(m) == {"clean_acc1", "robust_acc1"}
    s = result["attack"]
    assert s["attack"] == "pgd" and s["eps_fraction"] == pytest.approx(8 / 255)
    assert s["step_size_fraction"] == pytest.approx(2 / 255) and s["steps"] == 3
    assert s["norm"] == "linf" and s["loss"] == "ce" and s["random_start"]
    # The same protocol by hand: uint8 scenes / 255, the first batch's key.
    scenes, classifier = _scenes_and_classifier()
    x = jnp.asarray(scenes["image"], jnp.float32) / 255
    y = jnp.asarray(scenes["color"], jnp.int32)
    fn = attacks.zeroshot_logits_fn(model, params, classifier)
    k_attack, _ = jax.random.split(jax.random.fold_in(jax.random.key(0), 0))
    x_adv = attacks.pgd(attacks.cross_entropy(fn, y), x, k_attack, eps=8 / 255,
                        step_size=2 / 255, steps=3)
    clean = float(np.mean(np.asarray(jnp.argmax(fn(x), -1) == y)))
    robust = float(np.mean(np.asarray(jnp.argmax(fn(x_adv), -1) == y)))
    assert m["clean_acc1"] == pytest.approx(clean, abs=1e-9)
    assert m["robust_acc1"] == pytest.approx(robust, abs=1e-9)
    assert robust < clean  # the attack bites at 8/255
    # The same budget as fractions gives the same attack settings.
    same = adversarial.settings(evals.runner.check_task(
        _task(eps=8 / 255, steps=3, step_size=2 / 255, units="fraction")))
    assert same["eps_fraction"] == pytest.approx(s["eps_fraction"], rel=1e-12)
    assert same["step_size_fraction"] == pytest.approx(s["step_size_fraction"], rel=1e-12)


@pytest.mark.parametrize("attack", ["cw", "autoattack"])  # autoattack runs apgd's APGD-CE
def test_other_attacks_lower_accuracy_and_record_their_settings(attack):
    model, params, tok = tiny_model()
    [result] = evals.evaluate(model, params, tok, _task(attack=attack, eps=8, steps=3,
                                                        num_examples=8))
    m, s = result["metrics"], result["attack"]
    assert result["num_examples"] == 8 and s["attack"] == attack
    assert 0 <= m["robust_acc1"] < m["clean_acc1"]
    if attack != "cw":
        assert s["step_size"] is None and s["n_restarts"] == 1  # APGD sets its own steps


def test_ttc_defence_with_an_adaptive_attack():
    model, params, tok = tiny_model()
    [result] = evals.evaluate(model, params, tok, _task(eps=8, steps=2, step_size=4,
                                                        defense="ttc", adaptive=True,
                                                        num_examples=8))
    m, s = result["metrics"], result["attack"]
    assert set(m) == {"clean_acc1", "robust_acc1", "clean_ttc_acc1", "robust_ttc_acc1"}
    assert s["adaptive"] and s["ttc_eps_fraction"] == pytest.approx(4 / 255)
    assert s["ttc_step_size_fraction"] == pytest.approx(1 / 255) and s["ttc_steps"] == 2
    # The attack on the defended model lowers the defended accuracy.
    assert m["robust_ttc_acc1"] < m["clean_ttc_acc1"]


def test_jclip_eval_attack_flags_select_and_fill_the_task(tmp_path):
    from jclip.evals import cli
    from tests.helpers.models import save_workdir

    workdir = save_workdir(tmp_path / "run")
    out = str(tmp_path / "{model}__{task}.json")
    argv = ["--model", workdir, "--dataset", "jclip_shapes/attributes", "--attack", "pgd",
            "--eps", "4", "--steps", "1", "--step_size", "2", "--defense", "ttc", "--adaptive",
            "--num_examples", "4", "--seed", "1", "--output", out, "--quiet"]
    [(_, _, task, _)] = cli.plan(cli.build_parser().parse_args(argv))
    assert task["type"] == "adversarial"
    assert {k: task[k] for k in ("attack", "eps", "steps", "step_size", "norm", "units",
                                 "defense", "adaptive", "num_examples", "seed")} == {
        "attack": "pgd", "eps": 4.0, "steps": 1, "step_size": 2.0, "norm": "linf",
        "units": "255", "defense": "ttc", "adaptive": True, "num_examples": 4, "seed": 1}
    # --task adversarial without --attack: the task's defaults (PGD-10 at eps 1/255).
    [(_, _, task, _)] = cli.plan(cli.build_parser().parse_args(
        argv[:4] + ["--task", "adversarial", "--output", out]))
    assert (task["attack"], task["eps"], task["steps"], task["adaptive"]) == ("pgd", 1, 10, False)
