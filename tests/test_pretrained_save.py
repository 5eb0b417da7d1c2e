"""jclip.save(format="hf"): the folder jclip and transformers read back (torch only for part b)."""

import dataclasses
import functools
import json
import os

import jax
import numpy as np
import pytest
from safetensors.numpy import load_file

import jclip
from jclip.models.configs import arch_fields
from jclip.pretrained.hf import config_from_hf, hf_config, hf_key_map
from jclip.pretrained.keymaps import to_state_dict
from jclip.pretrained.load import HF_WEIGHTS, _read_weights, convert_state_dict
from jclip.pretrained.openclip import openclip_key_map

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "models")
KINDS = ["hf_clip_quickgelu", "hf_clip_gelu", "hf_siglip", "hf_clip_mixed"]
MIXED = os.path.join(FIXTURES, "hf_clip_mixed")


def _reference(name):
    with np.load(os.path.join(FIXTURES, name, "reference.npz")) as npz:
        return dict(npz)


@functools.lru_cache
def _forward(config):
    model = jclip.CLIPModel(config)

    def forward(params, images, tokens):
        v = {"params": params}
        return (model.apply(v, images, method="encode_image"),
                model.apply(v, tokens, method="encode_text"), model.apply(v, images, tokens))

    return jax.jit(forward)


def _check_outputs(model, params, ref, atol=1e-5):
    out = _forward(model.config)(params, ref["pixels"], ref["tokens"])
    for got, key in zip(out, ("image_embeds", "text_embeds", "logits_per_image")):
        np.testing.assert_allclose(got, ref[key], rtol=0, atol=atol, err_msg=key)


def _tokenizer(name):
    return jclip.Tokenizer.from_pretrained(MIXED) if name == "hf_clip_mixed" else None


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """{fixture name: folder written by save(format="hf")} (with the tokenizer for the mixed)."""
    out = {}
    for name in KINDS:
        model, params = jclip.load(os.path.join(FIXTURES, name))
        folder = tmp_path_factory.mktemp(name) / "hf"
        assert jclip.save(model, params, folder, format="hf", tokenizer=_tokenizer(name)) == \
            str(folder)
        out[name] = str(folder)
    return out


# ---------------------------------------------------------------------------------------------
# (a) without torch


def test_mixed_towers_match_transformers():
    # Text GELU / eps 1e-6, vision QuickGELU / eps 1e-3, as transformers computed them.
    model, params = jclip.load(MIXED)
    c = model.config
    assert (c.tower_act("text"), c.tower_act("vision")) == ("gelu", "quick_gelu")
    assert (c.tower_eps("text"), c.tower_eps("vision")) == (1e-6, 1e-3)
    ref = _reference("hf_clip_mixed")
    _check_outputs(model, params, ref)
    # The fixture tells the towers apart: one shared act / eps is far off.
    shared = dataclasses.replace(c, text_act=None, text_layer_norm_eps=None)
    ztxt = _forward(shared)(params, ref["pixels"], ref["tokens"])[1]
    assert np.abs(ztxt - ref["text_embeds"]).max() > 1e-2


@pytest.mark.parametrize("name", KINDS)
def test_hf_save_load_round_trip(saved, name):
    model, params = jclip.load(os.path.join(FIXTURES, name))
    model2, params2 = jclip.load(saved[name])
    assert arch_fields(model2.config) == arch_fields(model.config)
    jax.tree.map(np.testing.assert_array_equal, params2, params)
    _check_outputs(model2, params2, _reference(name))
    # The written tensors are the original checkpoint's, key for key (buffers aside).
    folder = os.path.join(FIXTURES, name)
    original = _read_weights(folder, HF_WEIGHTS)
    written = load_file(os.path.join(saved[name], "model.safetensors"))
    assert set(written) == {k for k in original if not k.endswith("position_ids")}
    for key, value in written.items():
        assert value.shape == tuple(np.shape(original[key])), key
        np.testing.assert_array_equal(value, original[key], err_msg=key)


def test_hf_config_round_trips_the_tower_fields():
    configs = (jclip.get_config("ViT-B-32-quickgelu"), jclip.get_config("siglip-base-patch16-224"),
               jclip.get_config("tiny-clip", text_act="quick_gelu", vision_layer_norm_eps=1e-6))
    for config in configs:
        assert arch_fields(config_from_hf(hf_config(config))) == arch_fields(config)
    cfg = hf_config(config_from_hf(MIXED))
    assert (cfg["text_config"]["hidden_act"], cfg["vision_config"]["hidden_act"]) == \
        ("gelu", "quick_gelu")
    assert (cfg["text_config"]["layer_norm_eps"], cfg["vision_config"]["layer_norm_eps"]) == \
        (1e-6, 1e-3)
    assert hf_config(jclip.get_config("tiny-siglip"))["vision_config"]["hidden_act"] == \
        "gelu_pytorch_tanh"


def test_scanned_params_and_directory_first_order(tmp_path):
    model, params = jclip.load(MIXED, scan_layers=True)
    jclip.save(str(tmp_path / "a"), model, params, format="hf")  # the directory-first order
    model2, params2 = jclip.load(tmp_path / "a")
    assert not model2.config.scan_layers
    _check_outputs(model2, params2, _reference("hf_clip_mixed"))
    # jclip's own format keeps the per-tower fields.
    jclip.save(model, params, tmp_path / "b")
    assert jclip.load(tmp_path / "b")[0].config == model.config


def test_openclip_key_map_inverts():
    config = config_from_hf(os.path.join(FIXTURES, "hf_clip_quickgelu"))
    _, params = jclip.load(os.path.join(FIXTURES, "openclip"), arch=config)
    flat = jclip.models.params.flatten(jax.tree.map(np.asarray, params))
    state = to_state_dict(flat, openclip_key_map(config))
    assert state["visual.transformer.resblocks.0.attn.in_proj_weight"].shape == (96, 32)
    back = convert_state_dict(state, openclip_key_map(config), config)
    jax.tree.map(np.testing.assert_array_equal, back, params)
    assert set(to_state_dict(flat, hf_key_map(config))) == set(load_file(
        os.path.join(FIXTURES, "hf_clip_quickgelu", "model.safetensors")))


def test_tokenizer_files_read_back(saved):
    tok = jclip.Tokenizer.from_pretrained(saved["hf_clip_mixed"])
    ref = _reference("hf_clip_mixed")
    strings = [str(s) for s in ref["tokenizer_strings"]]
    assert tok.context_length == 16 and tok.vocab_size == 554
    np.testing.assert_array_equal(tok(strings), _tokenizer("hf_clip_mixed")(strings))
    # CLIPTokenizer's ids (from the fixture) = jclip's where its attention mask is set.
    np.testing.assert_array_equal(tok(strings), np.where(ref["tokenizer_mask"] == 1,
                                                         ref["tokenizer_ids"], 0))
    assert not os.path.exists(os.path.join(saved["hf_clip_quickgelu"], "vocab.json"))


def test_transformers_reads_the_processor_and_tokenizer(saved):
    transformers = pytest.importorskip("transformers")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(45, 37, 3), dtype=np.uint8),
              rng.integers(0, 256, size=(20, 64, 3), dtype=np.uint8)]
    for name in ("hf_clip_mixed", "hf_siglip"):
        processor = transformers.AutoImageProcessor.from_pretrained(saved[name])
        config = jclip.load(saved[name])[0].config
        got = processor(images, return_tensors="np")["pixel_values"].transpose(0, 2, 3, 1)
        np.testing.assert_allclose(got, jclip.preprocess(images, config), rtol=0, atol=1e-6)
    hf_tok = transformers.CLIPTokenizer.from_pretrained(saved["hf_clip_mixed"])
    ref = _reference("hf_clip_mixed")
    strings = [str(s) for s in ref["tokenizer_strings"]]
    enc = hf_tok(strings, padding="max_length", max_length=16, truncation=True)
    np.testing.assert_array_equal(enc["input_ids"], ref["tokenizer_ids"])
    assert hf_tok.model_max_length == 16


def test_save_errors(tmp_path):
    model, params = jclip.load(MIXED)
    with pytest.raises(ValueError, match="format must be one of"):
        jclip.save(model, params, tmp_path / "x", format="onnx")
    jclip.save(model, params, tmp_path / "j")
    with pytest.raises(FileExistsError, match="already holds a model"):
        jclip.save(model, params, tmp_path / "j", format="hf")
    with pytest.raises(TypeError, match=r"\(model, params, directory\)"):
        jclip.save(model, params)
    with pytest.raises(TypeError, match="no Hugging Face files.*format='jclip'"):
        jclip.save(model, params, tmp_path / "w", format="hf",
                   tokenizer=jclip.tokenizer.WordTokenizer(["cat"]))
    small, small_params = jclip.load(os.path.join(FIXTURES, "hf_clip_quickgelu"))
    with pytest.raises(ValueError, match="does not fit the model's vocab_size=500"):
        jclip.save(small, small_params, tmp_path / "v", format="hf",
                   tokenizer=_tokenizer("hf_clip_mixed"))
    with pytest.raises(ValueError, match="legacy config"):
        hf_config(jclip.get_config("tiny-clip", eos_token_id=2))


# ---------------------------------------------------------------------------------------------
# (b) transformers' PyTorch models read the folder


@pytest.mark.parametrize("name", KINDS)
def test_transformers_loads_the_saved_folder(saved, name):
    torch = pytest.importorskip("torch", reason="the transformers PyTorch check needs torch")
    transformers = pytest.importorskip("transformers")
    with open(os.path.join(saved[name], "config.json")) as f:
        cls = {"clip": transformers.CLIPModel, "siglip": transformers.SiglipModel}[
            json.load(f)["model_type"]]
    hf = cls.from_pretrained(saved[name]).eval()
    ref = _reference(name)
    with torch.no_grad():
        pixels = torch.from_numpy(ref["pixels"].transpose(0, 3, 1, 2).copy())
        ids = torch.from_numpy(ref["tokens"].astype(np.int64))
        torch_out = (hf.get_image_features(pixel_values=pixels).pooler_output.numpy(),
                     hf.get_text_features(input_ids=ids).pooler_output.numpy(),
                     hf(input_ids=ids, pixel_values=pixels).logits_per_image.numpy())
    model, params = jclip.load(saved[name])
    ours = _forward(model.config)(params, ref["pixels"], ref["tokens"])
    for got, want in zip(ours, torch_out):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_save_refuses_a_folder_holding_a_model_unless_overwrite(tmp_path):
    model, params = jclip.load(MIXED)
    tok = _tokenizer("hf_clip_mixed")
    folder = tmp_path / "m"
    jclip.save(model, params, folder, format="hf", tokenizer=tok)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    other = jax.tree.map(lambda x: np.asarray(x) + 1.0, params)
    for fmt in ("hf", "jclip"):  # another model over it, in either format: refused, untouched
        with pytest.raises(FileExistsError, match=r"already holds a model \(.*config.json.*"
                                                  r"overwrite=True"):
            jclip.save(model, other, folder, format=fmt)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    # overwrite=True: the folder holds exactly the new model (no stale weights or tokenizer).
    jclip.save(model, other, folder, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["jclip_config.json", "params.msgpack"]
    _, again = jclip.load(str(folder))
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(again), jax.device_get(other))
