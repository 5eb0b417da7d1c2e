"""jclip.load / jclip.save against the committed reference checkpoints (no torch needed)."""

import dataclasses
import functools
import os
import shutil

import jax
import numpy as np
import pytest
import transformers
from safetensors.numpy import load_file, save_file

import jclip
from jclip.pretrained.hf import config_from_hf
from jclip.pretrained.openclip import check_openai_metadata
from tests.helpers.models import OPENCLIP_NATIVE

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "models")
QUICKGELU = os.path.join(FIXTURES, "hf_clip_quickgelu")


def _arch_fields(config):
    skip = ("dtype", "scan_layers", "remat", "logit_scale_init", "logit_bias_init", "pad_token_id")
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}


@functools.lru_cache
def _forward(config):
    """One compiled function per config -> (image embeds, text embeds, logits_per_image)."""
    model = jclip.CLIPModel(config)

    def forward(params, images, tokens):
        variables = {"params": params}
        return (model.apply(variables, images, method="encode_image"),
                model.apply(variables, tokens, method="encode_text"),
                model.apply(variables, images, tokens))

    return jax.jit(forward)


def _reference(folder):
    with np.load(os.path.join(folder, "reference.npz")) as npz:
        return dict(npz)


def _check_parity(model, params, reference_dir, atol=1e-5):
    ref = _reference(reference_dir)
    zimg, ztxt, logits = _forward(model.config)(params, ref["pixels"], ref["tokens"])
    np.testing.assert_allclose(zimg, ref["image_embeds"], rtol=0, atol=atol)
    np.testing.assert_allclose(ztxt, ref["text_embeds"], rtol=0, atol=atol)
    np.testing.assert_allclose(logits, ref["logits_per_image"], rtol=0, atol=atol)


@pytest.mark.parametrize("name", ["hf_clip_quickgelu", "hf_clip_gelu", "hf_siglip",
                                  "hf_clip_mixed"])
def test_hf_fixtures_match_transformers(name):
    model, params = jclip.load(os.path.join(FIXTURES, name))
    assert model.config.tower_act("vision") == {
        "hf_clip_quickgelu": "quick_gelu", "hf_clip_gelu": "gelu", "hf_siglip": "gelu_tanh",
        "hf_clip_mixed": "quick_gelu"}[name]
    _check_parity(model, params, os.path.join(FIXTURES, name))
    # Other image sizes with the position embeddings resampled (torch-style bicubic).
    ref = _reference(os.path.join(FIXTURES, name))
    interpolated = jax.jit(lambda p, x: model.apply({"params": p}, x, method="encode_image",
                                                    interpolate_pos_encoding=True))
    np.testing.assert_allclose(interpolated(params, ref["pixels_48x40"]),
                               ref["image_embeds_48x40_interpolated"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["openclip", "openclip/open_clip_model.safetensors",
                                  "openai_state_dict.pt"])
def test_openclip_layouts_match_transformers(name):
    arch = config_from_hf(QUICKGELU)
    model, params = jclip.load(os.path.join(FIXTURES, name), arch=arch)
    _check_parity(model, params, os.path.join(FIXTURES, "openclip"))


def test_open_clip_native_checkpoint_matches_open_clip():
    # Written by open_clip 3.3 / torch 2.14 itself (torch.save of open_clip.CLIP's state dict).
    folder = os.path.join(FIXTURES, "openclip_native")
    model, params = jclip.load(folder, arch=OPENCLIP_NATIVE)
    _check_parity(model, params, folder)
    with pytest.raises(ValueError, match="quick_gelu=True"):
        jclip.load(folder, arch=dataclasses.replace(OPENCLIP_NATIVE, act="gelu"))


def test_legacy_eos_token_id_pools_at_end_token():
    # hf_clip_gelu's config says eos_token_id=2; transformers pools at argmax(ids) = the last id.
    assert config_from_hf(os.path.join(FIXTURES, "hf_clip_gelu")).eos_token_id == 499


def test_load_compute_options_give_same_outputs():
    model, params = jclip.load(os.path.join(FIXTURES, "hf_siglip"), scan_layers=True)
    assert model.config.scan_layers and "blocks" in params["text"]["encoder"]
    _check_parity(model, params, os.path.join(FIXTURES, "hf_siglip"))
    with pytest.raises(TypeError, match="options must be among"):
        jclip.load(QUICKGELU, vocab_size=10)


def test_save_load_round_trip(tmp_path):
    model, params = jclip.load(QUICKGELU, scan_layers=True)
    jclip.save(tmp_path / "saved", model, params)
    model2, params2 = jclip.load(tmp_path / "saved")
    assert model2.config == model.config
    jax.tree.map(np.testing.assert_array_equal, params2, params)
    # A saved scanned model reloads in the per-layer layout on request.
    model3, params3 = jclip.load(str(tmp_path / "saved"), scan_layers=False)
    assert "block_1" in params3["vision"]["encoder"]
    _check_parity(model3, params3, QUICKGELU)
    with pytest.raises(ValueError, match="mis-shaped"):
        jclip.save(tmp_path / "bad", jclip.get_config("tiny-clip"), params3)


def _hub_cache(tmp_path, repo_id, src):
    """Copies ``src`` into huggingface_hub's cache layout under tmp_path."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(src, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return str(tmp_path)


def test_hub_id_from_offline_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = _hub_cache(tmp_path, "jclip-test/tiny-clip", QUICKGELU)
    model, params = jclip.load("jclip-test/tiny-clip", cache_dir=cache)
    _check_parity(model, params, QUICKGELU)
    model, _ = jclip.load("hf-hub:jclip-test/tiny-clip", cache_dir=cache)
    assert model.config.act == "quick_gelu"
    with pytest.raises(FileNotFoundError, match="not in the Hugging Face cache"):
        jclip.load("jclip-test/not-there", cache_dir=cache)
    # An OpenCLIP hub repo (open_clip_config.json + open_clip_model.safetensors) with arch=.
    _hub_cache(tmp_path, "jclip-test/tiny-openclip", os.path.join(FIXTURES, "openclip"))
    model, params = jclip.load("hf-hub:jclip-test/tiny-openclip", config_from_hf(QUICKGELU),
                               cache_dir=cache)
    _check_parity(model, params, os.path.join(FIXTURES, "openclip"))
    with pytest.raises(ValueError, match="is a preset name"):
        jclip.load("ViT-B-32")


def test_hf_configs_map_to_presets():
    # transformers' default configs are OpenAI's ViT-B/32 and Google's SigLIP B/16-224.
    clip = config_from_hf(transformers.CLIPConfig().to_dict())
    assert _arch_fields(clip) == _arch_fields(jclip.get_config("ViT-B-32-quickgelu"))
    siglip = config_from_hf(transformers.SiglipConfig().to_dict())
    assert _arch_fields(siglip) == _arch_fields(jclip.get_config("siglip-base-patch16-224"))


def _tampered_copy(tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(QUICKGELU, folder)
    state = load_file(str(folder / "model.safetensors"))
    del state["text_projection.weight"]
    state["vision_model.extra.weight"] = np.zeros(3, np.float32)
    state["visual_projection.weight"] = np.zeros((5, 32), np.float32)
    save_file(state, str(folder / "model.safetensors"))
    return folder


def test_checkpoint_mismatch_lists_every_problem(tmp_path):
    with pytest.raises(ValueError) as err:
        jclip.load(_tampered_copy(tmp_path))
    msg = str(err.value)
    assert "missing (1): text_projection.weight" in msg
    assert "unexpected (1): vision_model.extra.weight" in msg
    assert "mis-shaped (1): visual_projection.weight (5, 32)" in msg


def test_arch_errors(tmp_path):
    with pytest.raises(ValueError, match="does not record its architecture"):
        jclip.load(os.path.join(FIXTURES, "openai_state_dict.pt"))
    with pytest.raises(ValueError, match="known presets: .*ViT-B-32-quickgelu"):
        jclip.load(os.path.join(FIXTURES, "openai_state_dict.pt"), arch="ViT-B-99")
    # The activation is never guessed: arch and the checkpoint's own config must agree.
    with pytest.raises(ValueError, match="act: checkpoint 'quick_gelu', arch 'gelu'"):
        jclip.load(QUICKGELU, arch="tiny-clip")
    gelu = dataclasses.replace(config_from_hf(QUICKGELU), act="gelu")
    with pytest.raises(ValueError, match="quick_gelu=True"):
        jclip.load(os.path.join(FIXTURES, "openclip"), arch=gelu)
    # A preset of another size, caught by the folder's open_clip_config.json ...
    with pytest.raises(ValueError, match="vision_width: file 32, arch 64"):
        jclip.load(os.path.join(FIXTURES, "openclip", "open_clip_model.safetensors"),
                   arch="tiny-clip-quickgelu")
    # ... by the OpenAI metadata entries ...
    with pytest.raises(ValueError, match="vocab_size=500 \\(arch has 49408\\)"):
        jclip.load(os.path.join(FIXTURES, "openai_state_dict.pt"), arch="tiny-clip-quickgelu")
    # ... or, without either, by the weight shapes.
    alone = shutil.copy(os.path.join(FIXTURES, "openclip", "open_clip_model.safetensors"),
                        tmp_path / "weights.safetensors")
    with pytest.raises(ValueError, match=r"mis-shaped \(\d+\): visual.conv1.weight"):
        jclip.load(alone, arch="tiny-clip-quickgelu")
    with pytest.raises(ValueError, match="SigLIP checkpoints"):
        jclip.load(os.path.join(FIXTURES, "openai_state_dict.pt"), arch="tiny-siglip")


def test_openai_metadata_is_checked():
    config = jclip.get_config("ViT-B-32-quickgelu")
    check_openai_metadata({"input_resolution": np.array(224), "vocab_size": 49408}, config)
    with pytest.raises(ValueError, match="input_resolution=336"):
        check_openai_metadata({"input_resolution": np.array(336)}, config)


def test_missing_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither"):
        jclip.load("./no/such/folder")
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        jclip.load(tmp_path)
