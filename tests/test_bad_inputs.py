"""A catalog of bad inputs across the public API: each raises the named exception with a message
that says what is wrong (one test line per case)."""

import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jclip
from jclip.heads import adapt, zeroshot
from tests.helpers.models import OPENCLIP_NATIVE, tiny_model

FIXTURES = "tests/fixtures/models"


def _copy(tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(f"{FIXTURES}/{name}", dst)
    return dst


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def case_truncated_safetensors(tmp_path):
    folder = _copy(tmp_path, "hf_clip_quickgelu")
    _truncate(folder / "model.safetensors")
    jclip.load(str(folder))


def case_truncated_torch_zip(tmp_path):
    folder = _copy(tmp_path, "openclip_native")
    _truncate(folder / "open_clip_pytorch_model.bin")
    jclip.load(str(folder / "open_clip_pytorch_model.bin"), arch=OPENCLIP_NATIVE)


def case_truncated_msgpack(tmp_path):
    model, params, _ = tiny_model()
    jclip.save(str(tmp_path / "m"), model, params)
    _truncate(tmp_path / "m" / "params.msgpack")
    jclip.load(str(tmp_path / "m"))


def case_nan_weights(tmp_path):
    model, params, _ = tiny_model()
    params = dict(params, logit_scale=jnp.asarray(np.nan, jnp.float32))
    jclip.save(str(tmp_path / "m"), model, params)
    jclip.load(str(tmp_path / "m"))


def case_image_as_checkpoint(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "cat.jpg")
    jclip.load(str(tmp_path / "cat.jpg"))


def case_empty_checkpoint(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"")
    jclip.load(str(tmp_path / "w.safetensors"), arch="tiny-clip")


def case_uint8_pixels_to_encode_images(tmp_path):
    model, params, _ = tiny_model()
    zeroshot.encode_images(model, params, np.zeros((2, 32, 32, 3), np.uint8))


def case_unnormalised_float_pixels(tmp_path):
    model, params, _ = tiny_model()
    zeroshot.encode_images(model, params, np.full((2, 32, 32, 3), 200.0, np.float32))


def case_classnames_as_one_string(tmp_path):
    model, params, tok = tiny_model()
    zeroshot.build_classifier(model, params, tok, "circle", ["a photo of a {}"])


def case_templates_as_one_string(tmp_path):
    model, params, tok = tiny_model()
    zeroshot.build_classifier(model, params, tok, ["circle"], "a photo of a {}")


def case_probe_labels_beyond_num_classes(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 4))
    adapt.linear_probe(x, np.array([0, 1, 2, 0, 1, 2]), x, np.array([0, 1, 5, 0, 1, 2]),
                       num_classes=3)


def case_probe_train_labels_beyond_num_classes(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 4))
    adapt.fit_logistic_regression(x, np.array([0, 1, 3, 0, 1, 2]), 3, 1e-3)


def case_nan_features_to_the_probe(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 4))
    x[2, 1] = np.nan
    adapt.fit_logistic_regression(x, np.array([0, 1, 2, 0, 1, 2]), 3, 1e-3)


def case_gda_val_labels_beyond_classes(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    zs = np.eye(4, 3, dtype=np.float32)
    adapt.gda(x, np.array([0, 1, 2, 0, 1, 2]), zs, x, np.array([0, 1, 7, 0, 1, 2]))


def case_float_image_out_of_range(tmp_path):
    jclip.preprocess(Image.fromarray(np.full((8, 8), 1e6, np.float32)), "tiny-clip")


def case_ece_given_logits(tmp_path):
    jclip.metrics.expected_calibration_error(jnp.array([[3.0, -1.0], [0.5, 2.0]]),
                                             jnp.array([0, 1]))


def case_nan_accuracy(tmp_path):
    jclip.metrics.accuracy(jnp.full((3, 4), jnp.nan), jnp.array([0, 1, 2]))


CASES = [
    (case_truncated_safetensors, ValueError, "model.safetensors is truncated or corrupt"),
    (case_truncated_torch_zip, ValueError, "open_clip_pytorch_model.bin is truncated or corrupt"),
    (case_truncated_msgpack, ValueError, "params.msgpack is truncated or corrupt"),
    (case_nan_weights, ValueError, "1 weight tensors hold NaN or inf: logit_scale"),
    (case_image_as_checkpoint, ValueError, "cat.jpg is an image, not a checkpoint"),
    (case_empty_checkpoint, ValueError, "is empty \\(0 bytes\\)"),
    (case_uint8_pixels_to_encode_images, TypeError, "dtype uint8.*jclip.preprocess"),
    (case_unnormalised_float_pixels, ValueError, "look like \\[0, 255\\] pixels"),
    (case_classnames_as_one_string, TypeError, "single string 'circle'"),
    (case_templates_as_one_string, TypeError, "templates must be a list"),
    (case_probe_labels_beyond_num_classes, ValueError, "val_features must lie in \\[0, 3\\)"),
    (case_probe_train_labels_beyond_num_classes, ValueError, "must lie in \\[0, 3\\)"),
    (case_nan_features_to_the_probe, ValueError, "contain NaN or inf"),
    (case_gda_val_labels_beyond_classes, ValueError, "val_features must lie in \\[0, 3\\)"),
    (case_float_image_out_of_range, ValueError, "not a known range"),
    (case_ece_given_logits, ValueError, "pass jax.nn.softmax"),
    (case_nan_accuracy, ValueError, "contains 12 NaN or inf"),
]


@pytest.mark.parametrize("case, error, match", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_bad_input_is_named(tmp_path, case, error, match):
    with pytest.raises(error, match=match):
        case(tmp_path)


def test_high_depth_pil_images_are_scaled_not_clipped():
    ramp16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024).astype(np.uint16)
    out16 = jclip.preprocessing._to_rgb(Image.fromarray(ramp16))
    np.testing.assert_array_equal(out16[..., 0], np.round(ramp16 / 257.0).astype(np.uint8))
    unit = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    out_f = jclip.preprocessing._to_rgb(Image.fromarray(unit))
    np.testing.assert_array_equal(out_f[..., 1], np.round(unit * 255).astype(np.uint8))
    assert out16.dtype == out_f.dtype == np.uint8 and out16.shape == (8, 8, 3)


def test_a_null_caption_is_empty_not_the_text_none(tmp_path):
    from jclip.data import pairs

    (tmp_path / "c.jsonl").write_text(json.dumps({"image": "a.png", "caption": None}) + "\n")
    assert pairs.read_captions(str(tmp_path / "c.jsonl")) == [("a.png", "")]


MICRO = "experiments/configs/shapes_micro.py"


def test_a_negative_learning_rate_stops_the_run_before_compiling(tmp_path, capsys):
    from experiments import train as train_cli

    code = train_cli.main(["--config", MICRO, "--workdir", str(tmp_path),
                           "--config.optim.lr=-0.001"])
    assert code == 2
    assert "config.optim.lr=-0.001 must be a positive finite number" in capsys.readouterr().err


def test_resuming_a_workdir_of_another_model_is_refused(tmp_path, capsys):
    from experiments import train as train_cli

    common = ["--config", MICRO, "--workdir", str(tmp_path), "--config.total_steps=3",
              "--config.checkpoint_every=1", "--config.tensorboard=false"]
    assert train_cli.main(common) == 0
    code = train_cli.main(common + ["--config.total_steps=4",
                                    "--config.model.overrides.embed_dim=48"])
    assert code == 2
    err = capsys.readouterr().err
    assert "holds checkpoints of another model (step 3" in err and "embed_dim" in err
