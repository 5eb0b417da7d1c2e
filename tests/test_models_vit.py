"""Tests of jclip.models.vit: the matmul patch embedding and encode_image's CPU batch chunks."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jclip
from jclip.models import vit
from jclip.models.params import param_shapes


@pytest.mark.parametrize("size,use_bias", [(28, False), (31, True)])
def test_patch_embed_equals_strided_conv(size, use_bias):
    """Same params and outputs as the VALID strided conv, incl. dropping the partial patch."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(3, size, size, 3)).astype(np.float32)
    conv = nn.Conv(16, (7, 7), strides=(7, 7), padding="VALID", use_bias=use_bias,
                   precision="highest")
    params = conv.init(jax.random.key(0), images)
    params = jax.tree.map(lambda p: p + rng.normal(size=p.shape).astype(np.float32), params)
    ours = vit.PatchEmbed(16, 7, use_bias=use_bias)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(0), images)) == \
        jax.tree.map(jnp.shape, params)
    want = conv.apply(params, images)
    got = ours.apply(params, images)
    assert got.shape == (3, 4, 4, 16)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_image_chunks():
    b32, b16 = jclip.get_config("ViT-B-32"), jclip.get_config("ViT-B-16")
    assert vit.image_chunks(34, b32, "cpu") == 1  # 34 x 50 x 3072 x 4 bytes fit in 20 MiB
    assert vit.image_chunks(35, b32, "cpu") == 2
    assert vit.image_chunks(256, b32, "cpu") == 8
    assert vit.image_chunks(256, b16, "cpu") == 32  # 197 tokens: 8 images per chunk
    assert vit.image_chunks(1000, jclip.get_config("tiny-clip"), "cpu") == 1  # 17 KB each
    assert vit.image_chunks(256, b32, "gpu") == 1 and vit.image_chunks(4096, b16, "tpu") == 1


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_chunked_encode_image_equals_one_pass(kind, monkeypatch):
    """encode_image over chunks (with a padded last chunk) = the VisionTower in one pass."""
    config = jclip.get_config(f"tiny-{kind}", vision_width=32, vision_mlp_dim=64,
                              vision_heads=2, embed_dim=32)
    rng = np.random.default_rng(1)
    params = jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s).astype(np.float32) * 0.2),
                          param_shapes(config), is_leaf=lambda x: isinstance(x, tuple))
    images = rng.normal(size=(7, config.image_size, config.image_size, 3)).astype(np.float32)
    one_pass = vit.VisionTower(config).apply({"params": params["vision"]}, images)
    tokens = (config.image_size // config.patch_size) ** 2 + 1
    monkeypatch.setattr(vit, "CPU_CHUNK_BYTES", 2 * tokens * config.vision_mlp_dim * 4)
    assert vit.image_chunks(7, config, "cpu") == 4  # 4 chunks of 2 images, 1 padding image
    model = jclip.create_model(config)
    chunked = model.apply({"params": params}, images, method="encode_image")
    assert chunked.shape == one_pass.shape == (7, config.embed_dim)
    np.testing.assert_allclose(chunked, one_pass, rtol=1e-5, atol=1e-5)
