"""list_pretrained, arch inferred from open_clip_config.json, and what load treats as a file."""

import importlib
import json
import os
import re
import shutil

import jax
import numpy as np
import pytest
from safetensors.numpy import save_file

import jclip
from jclip.models.configs import arch_fields
from jclip.models.params import flatten, param_shapes, unflatten
from jclip.pretrained.keymaps import to_state_dict
from jclip.pretrained.openclip import config_from_openclip, openclip_key_map, read_openclip_config

load_module = importlib.import_module("jclip.pretrained.load")  # the module, not the function
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "models")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_list_pretrained_table():
    known = jclip.list_pretrained()
    ids = [p.id for p in known]
    assert len(ids) == len(set(ids)) == 22
    assert {p.family for p in known} == {"openai", "laion2b", "datacomp", "metaclip", "siglip"}
    assert all(p.format == "hf" and p.arch in jclip.PRESETS for p in known)
    for p in known:
        config = jclip.get_config(p.arch)
        # OpenAI and MetaCLIP configs say quick_gelu, LAION / DataComp gelu, SigLIP tanh GELU.
        act = {"openai": "quick_gelu", "metaclip": "quick_gelu", "laion2b": "gelu",
               "datacomp": "gelu", "siglip": "gelu_tanh"}[p.family]
        assert config.act == act and config.text_act is None, p
        assert config.kind == ("siglip" if p.family == "siglip" else "clip"), p
        # The patch size and resolution the id names.
        name = p.id.split("/")[1].lower()
        patch = re.search(r"(?:patch|vit-[a-z]+-|[bhl])(\d\d)(?:\D|$)", name)
        assert patch and int(patch.group(1)) == config.patch_size, p
        size = re.search(r"-(224|256|336|384)$", name)
        assert config.image_size == (int(size.group(1)) if size else 224), p
        assert not load_module._looks_like_file(p.id), p  # "DataComp.XL-..." is a hub id
    assert [p.id for p in jclip.list_pretrained("openai")][:2] == [
        "openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16"]
    with pytest.raises(ValueError, match="known: openai, laion2b"):
        jclip.list_pretrained("eva")


def _hub_cache(tmp_path, repo_id, files):
    """A huggingface_hub cache under tmp_path holding ``files`` {name: path or bytes}."""
    snapshot = tmp_path / ("models--" + repo_id.replace("/", "--")) / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name, src in files.items():
        if isinstance(src, bytes):
            (snapshot / name).write_bytes(src)
        else:
            shutil.copy(src, snapshot / name)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text(COMMIT)
    return str(tmp_path)


def _random_params(config, seed=0):
    rng = np.random.default_rng(seed)
    flat = {k: rng.normal(size=s).astype(np.float32) * 0.1
            for k, s in flatten(param_shapes(config)).items()}
    return unflatten(flat)


TINY_OPENCLIP_CFG = dict(
    embed_dim=64, quick_gelu=True,
    vision_cfg=dict(image_size=32, patch_size=8, width=64, layers=2, head_width=16),
    text_cfg=dict(context_length=16, vocab_size=49408, width=64, heads=4, layers=2),
)


def test_arch_from_open_clip_config_in_a_hub_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = jclip.get_config("tiny-clip-quickgelu")
    params = _random_params(config)
    weights = tmp_path / "w.safetensors"
    save_file(to_state_dict(flatten(params), openclip_key_map(config)), str(weights))
    cfg_json = json.dumps({"model_cfg": TINY_OPENCLIP_CFG}).encode()
    cache = _hub_cache(tmp_path / "cache", "jclip-test/tiny-openclip",
                       {"open_clip_config.json": cfg_json, "open_clip_model.safetensors": weights})
    model, loaded = jclip.load("hf-hub:jclip-test/tiny-openclip", cache_dir=cache)
    assert arch_fields(model.config) == arch_fields(config)
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(loaded), params)
    # The same folder on disk, and the file inside it, infer the arch too.
    folder = os.path.join(cache, "models--jclip-test--tiny-openclip", "snapshots", COMMIT)
    assert jclip.load(folder)[0].config.act == "quick_gelu"
    assert jclip.load(os.path.join(folder, "open_clip_model.safetensors"))[0].config.act == \
        "quick_gelu"


def test_open_clip_config_without_a_preset_names_the_nearest():
    with pytest.raises(ValueError, match=r"matches no jclip preset; nearest: tiny-clip-quickgelu: "
                                         r"embed_dim 64 \(file 24\).*config_from_openclip"):
        jclip.load(os.path.join(FIXTURES, "openclip_native"))
    # config_from_openclip gives the architecture the fixture was built with.
    native = config_from_openclip(read_openclip_config(os.path.join(FIXTURES, "openclip_native")))
    assert (native.vision_heads, native.vision_mlp_dim, native.text_mlp_dim) == (2, 64, 48)
    assert native.eos_token_id == 499 and native.act == "quick_gelu"
    hf = jclip.pretrained.hf.config_from_hf(os.path.join(FIXTURES, "hf_clip_quickgelu"))
    oc = config_from_openclip(read_openclip_config(os.path.join(FIXTURES, "openclip")))
    assert arch_fields(oc) == arch_fields(hf)
    with pytest.raises(ValueError, match="not a multiple of head_width 64"):
        config_from_openclip({"embed_dim": 8, "vision_cfg": {"width": 32}})
    with pytest.raises(ValueError, match="timm_model_name"):
        config_from_openclip({"embed_dim": 8, "vision_cfg": {"timm_model_name": "convnext"}})


@pytest.mark.parametrize("name", ["open_clip_pytorch_model.bin", "weights.safetensors",
                                  "checkpoints/model.pt", "my-model"])
def test_missing_file_names_are_not_hub_ids(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(load_module, "download", lambda *a, **k: pytest.fail("hub looked up"))
    with pytest.raises(FileNotFoundError) as err:
        jclip.load(name)
    assert repr(name) in str(err.value) and str(tmp_path) in str(err.value)
    assert "not looked up on the hub" in str(err.value)


def test_offline_hub_id_not_in_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="not in the Hugging Face cache.*HF_HUB_OFFLINE"):
        jclip.load("jclip-test/not-cached", cache_dir=str(tmp_path))
