"""Bad inputs to jclip.attacks, the adversarial eval task and its jclip-eval flags: each raises
the named exception with a message that says what is wrong, before any attack runs (one test
line per case)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jclip import attacks, evals
from jclip.evals import cli
from tests.helpers.models import save_workdir, tiny_model

KEY = jax.random.key(0)
W = np.random.RandomState(0).randn(8 * 8 * 3, 5).astype(np.float32)


def _logits(x):
    """A linear 5-class model on 8x8 pixels (cheap, differentiable)."""
    return x.reshape(x.shape[0], -1) @ W


def _x(n=4):
    return np.random.RandomState(1).rand(n, 8, 8, 3).astype(np.float32)


def _y(n=4):
    return np.arange(n, dtype=np.int32) % 5


def _pgd(x=None, labels=None, loss=None, **kw):
    x = _x() if x is None else x
    loss = loss or attacks.cross_entropy(_logits, _y() if labels is None else labels)
    settings = dict(eps=1 / 255, step_size=1 / 255, steps=2)
    settings.update(kw)
    return attacks.pgd(loss, x, KEY, **settings)


def case_negative_eps(tmp_path):
    _pgd(eps=-1 / 255)


def case_linf_eps_in_255_units(tmp_path):
    _pgd(eps=8)  # meant 8/255: a radius of 8 pixel ranges would replace the image


def case_linf_step_in_255_units(tmp_path):
    _pgd(step_size=2)


def case_zero_steps(tmp_path):
    _pgd(steps=0)


def case_float_steps(tmp_path):
    _pgd(steps=2.5)


def case_zero_step_size(tmp_path):
    _pgd(step_size=0.0)


def case_normalised_pixels(tmp_path):
    mean, std = np.float32([0.481, 0.458, 0.408]), np.float32([0.269, 0.261, 0.276])
    _pgd(x=(_x() - mean) / std)


def case_pixels_in_0_255(tmp_path):
    _pgd(x=_x() * 255)


def case_uint8_pixels(tmp_path):
    _pgd(x=(_x() * 255).astype(np.uint8))


def case_nan_pixels(tmp_path):
    x = _x()
    x[0, 0, 0, 0] = np.nan
    _pgd(x=x)


def case_image_without_batch_axis(tmp_path):
    _pgd(x=_x()[0])


def case_unknown_norm(tmp_path):
    _pgd(norm="l1")


def case_loss_reduced_over_the_batch(tmp_path):
    ce = attacks.cross_entropy(_logits, _y())
    _pgd(loss=lambda x: jnp.sum(ce(x)))


def case_labels_out_of_range(tmp_path):
    _pgd(labels=np.array([0, 1, 2, 5], np.int32))


def case_float_labels(tmp_path):
    _pgd(labels=np.array([0.0, 1.0, 2.0, 3.0]))


def case_labels_of_another_batch_size(tmp_path):
    _pgd(labels=np.array([0, 1, 2], np.int32))


def case_apgd_unknown_loss(tmp_path):
    attacks.apgd("dlr2", _logits, _x(), _y(), KEY, eps=1 / 255, steps=2)


def case_apgd_t_with_three_classes(tmp_path):
    attacks.apgd("dlr-targeted", lambda x: _logits(x)[:, :3], _x(), _y() % 3, KEY, eps=1 / 255,
                 steps=2)


def case_apgd_t_with_too_many_targets(tmp_path):
    attacks.apgd("dlr-targeted", _logits, _x(), _y(), KEY, eps=1 / 255, steps=2,
                 n_target_classes=9)


def case_apgd_zero_restarts(tmp_path):
    attacks.apgd("ce", _logits, _x(), _y(), KEY, eps=1 / 255, steps=2, n_restarts=0)


def case_counterattack_negative_eps(tmp_path):
    attacks.counterattack(_logits, _x(), KEY, eps=-4 / 255)


def case_counterattack_normalised_pixels(tmp_path):
    attacks.counterattack(_logits, _x() - 0.5, KEY)


def case_classifier_not_a_matrix(tmp_path):
    model, params, _ = tiny_model()
    attacks.zeroshot_logits_fn(model, params, np.ones(16, np.float32))


def case_classifier_of_another_width(tmp_path):
    model, params, _ = tiny_model()
    attacks.zeroshot_logits_fn(model, params, np.ones((3, 7), np.float32))(
        np.zeros((1, 32, 32, 3), np.float32))


def case_embedding_reference_of_another_shape(tmp_path):
    attacks.embedding_distance(_logits, np.zeros((4, 6), np.float32))(_x())


def _evaluate(**task):
    model, params, tok = tiny_model()
    evals.evaluate(model, params, tok, {"type": "adversarial",
                                        "dataset": "jclip_shapes/attributes", **task})


def case_task_unknown_attack(tmp_path):
    _evaluate(attack="fgsm")


def case_task_adaptive_without_defence(tmp_path):
    _evaluate(adaptive=True)


def case_task_eps_fraction_above_one(tmp_path):
    _evaluate(eps=4, units="fraction")


def case_task_unknown_units(tmp_path):
    _evaluate(units="pixels")


def case_task_zero_steps(tmp_path):
    _evaluate(steps=0)


def case_task_zero_examples(tmp_path):
    _evaluate(num_examples=0)


def case_task_unknown_defence(tmp_path):
    _evaluate(defense="jpeg")


def case_cli_attack_flags_on_another_task(tmp_path):
    workdir = save_workdir(tmp_path / "run")
    cli.plan(cli.build_parser().parse_args([
        "--model", workdir, "--dataset", "jclip_shapes/attributes", "--task",
        "zeroshot_classification", "--eps", "4", "--output", str(tmp_path / "{task}.json")]))


def case_cli_negative_eps(tmp_path):
    workdir = save_workdir(tmp_path / "run")
    cli.plan(cli.build_parser().parse_args([
        "--model", workdir, "--dataset", "jclip_shapes/attributes", "--attack", "pgd",
        "--eps", "-1", "--output", str(tmp_path / "{task}.json")]))


CASES = [
    (case_negative_eps, ValueError, "eps must be >= 0"),
    (case_linf_eps_in_255_units, ValueError, r"eps=8 exceeds the \[0, 1\] pixel range.*8/255"),
    (case_linf_step_in_255_units, ValueError, r"step_size=2 exceeds the \[0, 1\] pixel range"),
    (case_zero_steps, ValueError, "steps must be >= 1"),
    (case_float_steps, TypeError, "steps must be a Python int"),
    (case_zero_step_size, ValueError, "step_size must be > 0"),
    (case_normalised_pixels, ValueError, "negative pixels.*already normalised"),
    (case_pixels_in_0_255, ValueError, "\\[0, 255\\] values; divide by 255"),
    (case_uint8_pixels, TypeError, "floating pixels in \\[0, 1\\], got dtype uint8"),
    (case_nan_pixels, ValueError, "non-finite pixels"),
    (case_image_without_batch_axis, ValueError, "batch \\[B, H, W, 3\\]"),
    (case_unknown_norm, ValueError, "Unknown norm 'l1'"),
    (case_loss_reduced_over_the_batch, ValueError, "per-example losses of shape \\(4,\\)"),
    (case_labels_out_of_range, ValueError, "labels must be in \\[0, 5\\)"),
    (case_float_labels, TypeError, "labels must be integer class indices"),
    (case_labels_of_another_batch_size, ValueError, "3 entries but the batch has 4 images"),
    (case_apgd_unknown_loss, ValueError, "Unknown APGD loss 'dlr2'"),
    (case_apgd_t_with_three_classes, ValueError, "needs at least 4 classes, got 3"),
    (case_apgd_t_with_too_many_targets, ValueError, "only 4 other classes"),
    (case_apgd_zero_restarts, ValueError, "n_restarts must be >= 1"),
    (case_counterattack_negative_eps, ValueError, "eps must be >= 0"),
    (case_counterattack_normalised_pixels, ValueError, "negative pixels"),
    (case_classifier_not_a_matrix, ValueError, "classifier must be \\[C, D\\]"),
    (case_classifier_of_another_width, ValueError, "classifier has dimension 7"),
    (case_embedding_reference_of_another_shape, ValueError, "z_ref has shape \\(4, 6\\)"),
    (case_task_unknown_attack, ValueError, "Unknown attack 'fgsm'"),
    (case_task_adaptive_without_defence, ValueError, "set defense='ttc'"),
    (case_task_eps_fraction_above_one, ValueError, "more than the whole \\[0, 1\\] pixel range"),
    (case_task_unknown_units, ValueError, "Unknown units 'pixels'"),
    (case_task_zero_steps, ValueError, "steps must be >= 1"),
    (case_task_zero_examples, ValueError, "num_examples must be a positive int"),
    (case_task_unknown_defence, ValueError, "Unknown defense 'jpeg'"),
    (case_cli_attack_flags_on_another_task, ValueError, "--eps apply to --task adversarial"),
    (case_cli_negative_eps, ValueError, "eps must be a finite number >= 0"),
]


@pytest.mark.parametrize("case, error, match", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_bad_input_is_named(tmp_path, case, error, match):
    with pytest.raises(error, match=match):
        case(tmp_path)
