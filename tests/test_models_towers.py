"""Per-tower activation and LayerNorm eps (ModelConfig.text_act / vision_act / *_layer_norm_eps)."""

import dataclasses
import json

import jax
import numpy as np
import pytest

import jclip
from jclip.models.configs import arch_fields, tower_settings

# A small CLIP: 100-word vocabulary, 8 positions.
BASE = jclip.get_config("tiny-clip", vocab_size=100, eos_token_id=99, context_length=8,
                        embed_dim=24, vision_width=32, text_width=32, vision_mlp_dim=64,
                        text_mlp_dim=48)


def _params(config):
    model = jclip.create_model(config)
    images = np.zeros((1, config.image_size, config.image_size, 3), np.float32)
    tokens = np.zeros((1, config.context_length), np.int32)
    return jax.jit(model.init)(jax.random.key(0), images, tokens)["params"]


def _encode(config, params):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, config.image_size, config.image_size, 3)).astype(np.float32)
    tokens = rng.integers(1, 99, size=(2, config.context_length)).astype(np.int32)
    tokens[:, -1] = config.eos_token_id
    model = jclip.create_model(config)
    return (model.apply({"params": params}, images, method="encode_image"),
            model.apply({"params": params}, tokens, method="encode_text"))


def test_tower_fields_default_to_the_shared_ones():
    for name, preset in jclip.PRESETS.items():
        assert (preset.text_act, preset.vision_act) == (None, None), name
        assert (preset.text_layer_norm_eps, preset.vision_layer_norm_eps) == (None, None), name
        assert preset.tower_act("text") == preset.tower_act("vision") == preset.act
        assert preset.tower_eps("text") == preset.tower_eps("vision") == preset.layer_norm_eps
    mixed = dataclasses.replace(BASE, text_act="quick_gelu", vision_layer_norm_eps=1e-3)
    assert tower_settings(mixed) == {"vision_act": "gelu", "text_act": "quick_gelu",
                                     "vision_layer_norm_eps": 1e-3, "text_layer_norm_eps": 1e-5}
    # Spelled with overrides or with the shared field, the same architecture.
    assert arch_fields(dataclasses.replace(BASE, text_act="gelu")) == arch_fields(BASE)
    with pytest.raises(ValueError, match="'vision' or 'text'"):
        BASE.tower_act("audio")


def test_each_override_changes_only_its_tower():
    params = _params(BASE)
    img, txt = _encode(BASE, params)
    for field, value, changed in (("text_act", "quick_gelu", "text"),
                                  ("vision_act", "quick_gelu", "vision"),
                                  ("text_layer_norm_eps", 0.5, "text"),
                                  ("vision_layer_norm_eps", 0.5, "vision")):
        img2, txt2 = _encode(dataclasses.replace(BASE, **{field: value}), params)
        same, other = (img, img2), (txt, txt2)
        if changed == "vision":
            same, other = other, same
        np.testing.assert_array_equal(*same, err_msg=field)
        assert np.abs(other[0] - other[1]).max() > 1e-4, field


def test_bad_tower_fields_raise():
    for field, value, match in (("text_act", "relu", "text_act must be"),
                                ("vision_act", "gelu_new", "vision_act must be"),
                                ("text_layer_norm_eps", 0.0, "text_layer_norm_eps must be"),
                                ("vision_layer_norm_eps", "1e-5", "vision_layer_norm_eps must")):
        with pytest.raises(ValueError, match=match):
            jclip.create_model(dataclasses.replace(BASE, **{field: value}))
    with pytest.raises(ValueError, match="vision_heads must be >= 1"):
        jclip.create_model(dataclasses.replace(BASE, vision_heads=0))


def test_saved_configs_without_tower_fields_still_load(tmp_path):
    params = _params(BASE)
    jclip.save(tmp_path, BASE, params)
    path = tmp_path / "jclip_config.json"
    meta = json.loads(path.read_text())
    for key in ("text_act", "vision_act", "text_layer_norm_eps", "vision_layer_norm_eps"):
        del meta["config"][key]  # a file written before the per-tower fields existed
    path.write_text(json.dumps(meta))
    assert jclip.load(tmp_path)[0].config == BASE
