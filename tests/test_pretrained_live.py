"""Full-size parity with transformers' PyTorch CLIP ViT-B/32 and SigLIP B/16 at random init.

Runs only where torch is installed (it is never a dependency of jclip); skipped otherwise.
"""

import gc
import importlib.util
import os

import jax
import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch is not installed: the live full-size parity test needs PyTorch"
)
transformers = pytest.importorskip("transformers")

import jclip  # noqa: E402
from jclip.pretrained.hf import config_from_hf, hf_key_map  # noqa: E402
from jclip.pretrained.load import convert_state_dict  # noqa: E402
from jclip.pretrained.openclip import openclip_key_map  # noqa: E402

pytestmark = pytest.mark.slow


def _generator_module():
    path = os.path.join(os.path.dirname(__file__), "fixtures", "make_model_fixtures.py")
    spec = importlib.util.spec_from_file_location("make_model_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inputs(config, seed=0):
    rng = np.random.default_rng(seed)
    pixels = rng.normal(size=(2, config.image_size, config.image_size, 3)).astype(np.float32)
    tokens = rng.integers(1, 30000, size=(2, config.context_length)).astype(np.int64)
    tokens[0, 9:] = config.eos_token_id  # CLIP: first eos at 9, the rest padding
    tokens[1, -1] = config.eos_token_id
    return pixels, tokens


def _reference(hf, pixels, tokens):
    with torch.no_grad():
        pv, ids = torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()), torch.from_numpy(tokens)
        return (hf.get_image_features(pixel_values=pv).pooler_output.numpy(),
                hf.get_text_features(input_ids=ids).pooler_output.numpy(),
                hf(input_ids=ids, pixel_values=pv).logits_per_image.numpy())


def _jclip(config, params, pixels, tokens):
    model = jclip.create_model(config)
    forward = jax.jit(lambda p, i, t: (model.apply({"params": p}, i, method="encode_image"),
                                       model.apply({"params": p}, t, method="encode_text"),
                                       model.apply({"params": p}, i, t)))
    return forward(params, pixels, tokens.astype(np.int32))


@pytest.mark.parametrize("hf_config, preset", [
    (transformers.CLIPConfig(), "ViT-B-32-quickgelu"),
    (transformers.SiglipConfig(), "siglip-base-patch16-224"),
])
def test_full_size_parity(hf_config, preset):
    torch.manual_seed(0)
    cls = transformers.CLIPModel if hf_config.model_type == "clip" else transformers.SiglipModel
    hf = cls(hf_config).eval()
    config = config_from_hf(hf_config.to_dict())
    assert config.image_size == jclip.get_config(preset).image_size
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    params = convert_state_dict(state, hf_key_map(config), config,
                                ignored=lambda k: k.endswith("position_ids"))
    pixels, tokens = _inputs(config)
    ref = _reference(hf, pixels, tokens)
    if config.kind == "clip":  # the OpenCLIP layout of the same weights gives the same params
        openclip = _generator_module().openclip_state_dict(hf)
        arch = jclip.get_config(preset)
        params_oc = convert_state_dict({k: v.numpy() for k, v in openclip.items()},
                                       openclip_key_map(arch), arch)
        jax.tree.map(np.testing.assert_array_equal, params_oc, params)
        del openclip, params_oc
    del hf, state
    gc.collect()
    out = _jclip(config, params, pixels, tokens)
    for got, want in zip(out, ref):
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(1.0, scale))
