"""Tests of the Flax CLIP / SigLIP model: shapes, logits formula, jit, scan/remat, bf16, errors."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

import jclip
from jclip.models import layers
from jclip.models.clip import bucket_length, encode_text_bucketed
from jclip.models.params import param_shapes, to_layout

# Small variants of the tiny presets: a 100-word vocabulary and 8 positions keep compiles short.
SMALL = {
    "clip": jclip.get_config("tiny-clip", vocab_size=100, eos_token_id=99, context_length=8,
                             embed_dim=24, vision_width=32, text_width=32, vision_mlp_dim=64,
                             text_mlp_dim=48),
    "siglip": jclip.get_config("tiny-siglip", vocab_size=100, context_length=8, embed_dim=32,
                               vision_width=32, text_width=32, vision_mlp_dim=64,
                               text_mlp_dim=48, vision_heads=2),
}


@functools.lru_cache
def _jitted(config, method):
    model = jclip.create_model(config)
    if method is None:
        return jax.jit(lambda p, i, t: model.apply({"params": p}, i, t))
    return jax.jit(lambda p, x: model.apply({"params": p}, x, method=method))


def _jit_apply(model, method=None):
    """One compiled function per (config, method) for the whole module: compiles dominate."""
    return _jitted(model.config, method)


def _inputs(config, n_img=8, n_txt=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n_img, config.image_size, config.image_size, 3)).astype(np.float32)
    tokens = rng.integers(1, config.vocab_size - 2, size=(n_txt, config.context_length))
    for row in range(n_txt):
        end = (3 + 4 * row) % config.context_length
        tokens[row, end] = config.eos_token_id
        tokens[row, end + 1:] = config.pad_token_id
    return images, tokens.astype(np.int32)


@functools.lru_cache
def _init(config):
    """Random params from the shapes alone (compiling model.init is slow on a busy CPU).

    Every leaf is random (LayerNorm scales around 1) so the tests see every parameter."""
    rng = np.random.default_rng(0)
    shapes = param_shapes(config)

    def leaf(path, shape):
        name = jax.tree_util.keystr(path)
        if "logit" in name:
            return jnp.float32(1.0 if "scale" in name else -1.0)
        x = rng.normal(size=shape).astype(np.float32)
        if "'scale'" in name:
            return jnp.asarray(1.0 + 0.1 * x)
        return jnp.asarray((0.3 if "embed" in name else 0.1) * x)

    return jax.tree_util.tree_map_with_path(leaf, shapes, is_leaf=lambda x: isinstance(x, tuple))


@pytest.fixture(scope="module", params=sorted(SMALL))
def tiny(request):
    model = jclip.create_model(SMALL[request.param])
    images, tokens = _inputs(model.config)
    return model, _init(model.config), images, tokens


@pytest.fixture(scope="module")
def clip_params():
    model = jclip.create_model(SMALL["clip"])
    images, tokens = _inputs(model.config)
    return model, _init(model.config), images, tokens


def test_param_tree_and_shapes(tiny):
    model, params, images, tokens = tiny
    c = model.config
    expected = {"vision", "text", "logit_scale"} | ({"logit_bias"} if c.kind == "siglip" else set())
    assert set(params) == expected
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
    zimg = _jit_apply(model, "encode_image")(params, images)
    ztxt = _jit_apply(model, "encode_text")(params, tokens)
    assert zimg.shape == (8, c.embed_dim) and ztxt.shape == (8, c.embed_dim)
    assert zimg.dtype == ztxt.dtype == jnp.float32


def test_logits_formula_float64(tiny):
    model, params, images, tokens = tiny
    zimg = np.float64(_jit_apply(model, "encode_image")(params, images))
    ztxt = np.float64(_jit_apply(model, "encode_text")(params, tokens))
    cos = (zimg / np.linalg.norm(zimg, axis=1, keepdims=True)) @ (
        ztxt / np.linalg.norm(ztxt, axis=1, keepdims=True)).T
    expected = np.exp(float(params["logit_scale"])) * cos
    if model.config.kind == "siglip":
        expected += float(params["logit_bias"])
    logits = _jit_apply(model)(params, images, tokens)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_jit_matches_eager():
    # Eager mode compiles op by op (slow): one layer and the text path only.
    model = jclip.create_model(SMALL["clip"], text_layers=1, vision_layers=1)
    _, tokens = _inputs(model.config, n_img=1, n_txt=2)
    params = _init(model.config)
    eager = model.apply({"params": params}, tokens, method="encode_text")
    jitted = _jit_apply(model, "encode_text")(params, tokens)
    np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-5)


def test_scan_matches_per_layer(tiny):
    model, params, images, tokens = tiny
    scanned = jclip.create_model(model.config, scan_layers=True)
    p2 = to_layout(params, scanned.config)
    assert jax.tree.leaves(p2["vision"]["encoder"])[0].shape[0] == model.config.vision_layers
    np.testing.assert_allclose(_jit_apply(scanned)(p2, images, tokens),
                               _jit_apply(model)(params, images, tokens), rtol=1e-5, atol=1e-5)


def test_remat_gradients_match(clip_params):
    # The vision tower only: remat / scan wrap the same Encoder in both towers (compiles are slow).
    model, params, images, _ = clip_params
    images = images[:2]

    def value_and_grad(m):
        loss = lambda p: (m.apply({"params": p}, images, method="encode_image") ** 2).sum()
        return jax.jit(jax.value_and_grad(loss))(to_layout(params, m.config))

    ref_val, ref_grad = value_and_grad(model)
    val, grad = value_and_grad(jclip.create_model(model.config, scan_layers=True, remat=True))
    np.testing.assert_allclose(val, ref_val, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 to_layout(grad, model.config), ref_grad)
    remat_only = jclip.create_model(model.config, remat=True)
    np.testing.assert_allclose(_jit_apply(remat_only, "encode_image")(params, images),
                               _jit_apply(model, "encode_image")(params, images), rtol=1e-5)


def test_bfloat16_activations_close_to_float32(tiny):
    model, params, images, tokens = tiny
    bf16 = jclip.create_model(model.config, dtype="bfloat16")
    ref = _jit_apply(model, "encode_image")(params, images)
    out = _jit_apply(bf16, "encode_image")(params, images)
    assert out.dtype == jnp.float32  # outputs are cast back; params stay float32
    # bf16 has an 8-bit mantissa: relative error of a few 1e-2 after a 2-layer tower.
    rel = np.linalg.norm(out - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert rel.max() < 5e-2
    ref_t = _jit_apply(model, "encode_text")(params, tokens)
    out_t = _jit_apply(bf16, "encode_text")(params, tokens)
    assert (np.linalg.norm(out_t - ref_t, axis=1) / np.linalg.norm(ref_t, axis=1)).max() < 5e-2


def test_sharded_params_under_jit(tiny):
    model, params, images, tokens = tiny
    mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    P, NS = jax.sharding.PartitionSpec, jax.sharding.NamedSharding
    # Shard every matrix along its first axis where divisible (fsdp-like), replicate the rest.
    spec = lambda x: P("data") if x.ndim >= 2 and x.shape[0] % 8 == 0 else P()
    sharded = jax.tree.map(lambda x: jax.device_put(x, NS(mesh, spec(x))), params)
    imgs = jax.device_put(images, NS(mesh, P("data")))
    toks = jax.device_put(tokens, NS(mesh, P("data")))
    apply = _jit_apply(model)
    out = apply(sharded, imgs, toks)
    ref = apply(params, images, tokens)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_bucketed_text_encoding_matches_full_length(tiny):
    model, params, _, tokens = tiny
    c = model.config
    full = _jit_apply(model, "encode_text")(params, tokens)
    out = encode_text_bucketed(model, params, tokens)
    np.testing.assert_allclose(out, full, rtol=1e-5, atol=1e-5)
    chunked = encode_text_bucketed(model, params, tokens[:7], batch_size=4)
    np.testing.assert_allclose(chunked, full[:7], rtol=1e-5, atol=1e-5)
    if c.kind == "clip":
        short = np.full((2, c.context_length), c.pad_token_id, np.int32)
        short[:, 2] = c.eos_token_id
        assert bucket_length(short, c, buckets=(4, 8)) == 4
        assert bucket_length(tokens[:1], c, buckets=(4, 8)) == 4  # its eos is at position 3
    else:  # bidirectional, last-position pooling: every position matters
        assert bucket_length(tokens, c) == c.context_length


def test_bucketed_text_encoding_rejects_tracers(tiny):
    model, params, _, tokens = tiny
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda t: encode_text_bucketed(model, params, t))(tokens)


def test_shorter_tokens_allowed_for_clip_and_equal(clip_params):
    model, params, _, tokens = clip_params
    tokens = tokens.copy()
    tokens[:, 5] = model.config.eos_token_id
    encode = _jit_apply(model, "encode_text")
    np.testing.assert_allclose(encode(params, tokens[:, :6]), encode(params, tokens),
                               rtol=1e-5, atol=1e-6)


def test_activations_against_float64_formulas():
    x = np.linspace(-6, 6, 101)
    np.testing.assert_allclose(layers.get_activation("quick_gelu")(x),
                               x / (1 + np.exp(-1.702 * x)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layers.get_activation("gelu")(x),
                               0.5 * x * (1 + erf(x / np.sqrt(2))), rtol=1e-6, atol=1e-6)
    tanh = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(layers.get_activation("gelu_tanh")(x), tanh, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="Unknown activation"):
        layers.get_activation("relu6")


@pytest.mark.parametrize("shape, match", [
    ((32, 32, 3), "rank 3"), ((2, 32, 32, 1), "3 channels"), ((2, 3, 32, 32), "3 channels"),
    ((2, 64, 64, 3), "must be 32x32"),
])
def test_bad_images_raise(clip_params, shape, match):
    model, params, _, _ = clip_params
    with pytest.raises(ValueError, match=match):
        model.apply({"params": params}, np.zeros(shape, np.float32), method="encode_image")


def test_other_image_sizes_need_interpolation_explicitly(clip_params):
    model, params, images, _ = clip_params
    wide = np.zeros((1, 32, 48, 3), np.float32)
    with pytest.raises(ValueError, match="interpolate_pos_encoding=True"):
        model.apply({"params": params}, wide, method="encode_image")
    with pytest.raises(ValueError, match="multiples of patch_size=8"):
        model.apply({"params": params}, np.zeros((1, 36, 36, 3), np.float32),
                    method="encode_image", interpolate_pos_encoding=True)
    # At the native size, interpolation is the identity.
    same = jax.jit(lambda p, x: model.apply({"params": p}, x, method="encode_image",
                                            interpolate_pos_encoding=True))(params, images)
    np.testing.assert_allclose(same, _jit_apply(model, "encode_image")(params, images),
                               rtol=1e-6, atol=1e-6)


def test_bicubic_matrix_properties():
    from jclip.models.vit import bicubic_matrix

    np.testing.assert_allclose(bicubic_matrix(5, 5), np.eye(5), atol=1e-12)
    for n_in, n_out in ((4, 7), (7, 4), (14, 24)):
        m = bicubic_matrix(n_in, n_out)
        np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)  # constants are preserved
        assert m.shape == (n_out, n_in)
    # 8 -> 16, output 5: source (5 + 0.5) / 2 - 0.5 = 2.25, so taps 1..4 at t = 0.25 with
    # Keys' cubic convolution weights (a = -0.75) for offsets -1, 0, 1, 2.
    t = 0.25
    a = -0.75
    w = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
         ((a + 2) * t - (a + 3)) * t * t + 1, ((a + 2) * (1 - t) - (a + 3)) * (1 - t) ** 2 + 1,
         ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
    np.testing.assert_allclose(bicubic_matrix(8, 16)[5, 1:5], w, atol=1e-12)


def test_uint8_images_raise(clip_params):
    model, params, images, _ = clip_params
    with pytest.raises(TypeError, match="jclip.preprocess"):
        model.apply({"params": params}, images.astype(np.uint8), method="encode_image")


def test_bad_tokens_raise(clip_params):
    model, params, _, tokens = clip_params
    apply = lambda t: model.apply({"params": params}, t, method="encode_text")
    with pytest.raises(ValueError, match="rank 1"):
        apply(tokens[0])
    with pytest.raises(TypeError, match="integer"):
        apply(tokens.astype(np.float32))
    with pytest.raises(ValueError, match="context_length=8"):
        apply(np.concatenate([tokens, tokens], axis=1))
    bad = tokens.copy()
    bad[1, 0] = model.config.vocab_size + 5
    with pytest.raises(ValueError, match=r"\[105\]"):
        apply(bad)
    with pytest.raises(ValueError, match="vocab_size"):
        apply(-tokens)
    # Under jit the ids are not known: out-of-vocabulary rows come out NaN, not a wrong number.
    out = jax.jit(apply)(bad)
    assert np.isnan(out[1]).all() and np.isfinite(np.delete(out, 1, axis=0)).all()
    # Negative ids too (jnp.take would wrap -1 to the last row, the end token's embedding).
    negative = tokens.copy()
    negative[0, 1] = -1
    out = jax.jit(apply)(negative)
    assert np.isnan(out[0]).all() and np.isfinite(out[1:]).all()


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ValueError, match="ViT-B-32-quickgelu"):
        jclip.create_model("ViT-B-99")
    with pytest.raises(TypeError, match="preset name"):
        jclip.create_model(42)


def test_invalid_config_raises():
    config = jclip.get_config("tiny-clip")
    with pytest.raises(ValueError, match="not divisible"):
        jclip.create_model(dataclasses.replace(config, vision_heads=3))
    with pytest.raises(ValueError, match="dtype"):
        jclip.create_model(config, dtype="float8")
    with pytest.raises(ValueError, match="embed_dim"):
        jclip.create_model("tiny-siglip", embed_dim=32)


def test_presets_cover_the_required_names():
    for name in ("ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336", "ViT-H-14", "ViT-g-14",
                 "ViT-bigG-14"):
        assert jclip.PRESETS[name].act == "gelu"
        assert jclip.PRESETS[name + "-quickgelu"].act == "quick_gelu"
    for name in ("siglip-base-patch16-224", "siglip-base-patch16-256", "siglip-base-patch16-384",
                 "siglip-large-patch16-256", "siglip-so400m-patch14-384"):
        assert jclip.PRESETS[name].kind == "siglip"
    # Param counts of the full-size presets, from shapes only (no allocation).
    count = lambda n: sum(int(np.prod(s)) for s in jax.tree.leaves(
        param_shapes(jclip.get_config(n)), is_leaf=lambda x: isinstance(x, tuple)))
    assert count("ViT-B-32") == 151_277_313  # OpenCLIP / HF ViT-B/32 parameter count
