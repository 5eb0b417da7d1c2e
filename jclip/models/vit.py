"""Vision towers: the CLIP ViT and the SigLIP ViT with its attention-pooling (MAP) head.

CLIP (Radford et al., 2021), as transformers' CLIPVisionModel + visual_projection:
    x = [cls; patches(img) W_patch] + pos;  x = LN_pre(x);  x = Encoder(x)
    out = LN_post(x[:, 0]) W_proj                       (no biases in W_patch, W_proj)

SigLIP (Zhai et al., 2023, "Sigmoid Loss for Language Image Pre-Training"), as transformers'
SiglipVisionModel (pooler_output):
    x = patches(img) W_patch + b + pos;  x = LN_post(Encoder(x))
    MAP head (Lee et al., 2019, multihead attention pooling): p = Attn(probe, x);
    out = p + MLP(LN(p))                                 (no projection: D = width)
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jclip.models.configs import ModelConfig
from jclip.models.layers import (
    Encoder,
    Mlp,
    MultiHeadAttention,
    dense,
    dot_general_f32_accumulate,
    layer_norm,
)


def check_images(images: jax.Array, config: ModelConfig, interpolate: bool = False) -> None:
    """Raises unless images is floating point [B, image_size, image_size, 3] (or, with
    ``interpolate``, [B, H, W, 3] with H and W multiples of the patch size)."""
    size = config.image_size
    if images.ndim != 4:
        raise ValueError(
            f"images must be a [B, H, W, 3] batch (NHWC), got rank {images.ndim} shape "
            f"{tuple(images.shape)}; add a batch axis with images[None] for a single image"
        )
    if images.shape[-1] != 3:
        raise ValueError(
            f"images must have 3 channels last (NHWC), got shape {tuple(images.shape)}"
        )
    if interpolate:
        p = config.patch_size
        if images.shape[1] % p or images.shape[2] % p:
            raise ValueError(
                f"with interpolate_pos_encoding, image height and width must be multiples of "
                f"patch_size={p}, got {images.shape[1]}x{images.shape[2]}"
            )
    elif images.shape[1:3] != (size, size):
        raise ValueError(
            f"images must be {size}x{size} for this model (image_size={size}), got "
            f"{images.shape[1]}x{images.shape[2]}; resize with jclip.preprocess (or pass "
            "interpolate_pos_encoding=True to resample the position embeddings)"
        )
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise TypeError(
            f"images must be float normalised pixels, got dtype {images.dtype}; "
            "convert uint8 images with jclip.preprocess"
        )


def bicubic_matrix(n_in: int, n_out: int, a: float = -0.75) -> np.ndarray:
    """[n_out, n_in] matrix of 1-D bicubic resampling as torch's interpolate(mode="bicubic",
    align_corners=False) computes it: cubic convolution (Keys, 1981) with a = -0.75, source
    coordinate (i + 0.5) * n_in / n_out - 0.5, taps clamped to the border, no antialiasing."""

    def cubic(x):  # the kernel at |x| <= 1 and 1 < |x| < 2
        x = np.abs(x)
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        return np.where(x <= 1, near, np.where(x < 2, far, 0.0))

    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    base = np.floor(src).astype(int)
    matrix = np.zeros((n_out, n_in))
    for tap in range(-1, 3):
        idx = base + tap
        np.add.at(matrix, (np.arange(n_out), np.clip(idx, 0, n_in - 1)), cubic(src - idx))
    return matrix


def resample_pos_embed(grid: jax.Array, height: int, width: int) -> jax.Array:
    """[g, g, W] position embeddings -> [height, width, W] (separable torch-style bicubic)."""
    rows = jnp.asarray(bicubic_matrix(grid.shape[0], height), grid.dtype)
    cols = jnp.asarray(bicubic_matrix(grid.shape[1], width), grid.dtype)
    return jnp.einsum("ai,bj,ijw->abw", rows, cols, grid, precision="highest")


class PatchEmbed(nn.Module):
    """Non-overlapping p x p patches -> ``width`` features; [B, H, W, C] -> [B, H//p, W//p, width].

    The same params ("kernel" [p, p, C, width], "bias") and numbers as
    ``nn.Conv(width, (p, p), strides=(p, p), padding="VALID")``, including dropping the pixels
    past the last whole patch, computed as one matmul over flattened patches: XLA:CPU runs that
    about twice as fast as the strided convolution (four times in bfloat16).
    """

    width: int
    patch_size: int
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        p = self.patch_size
        b, h, w, c = images.shape
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (p, p, c, self.width))
        gh, gw = h // p, w // p
        patches = images[:, : gh * p, : gw * p].astype(self.dtype)
        patches = patches.reshape(b, gh, p, gw, p, c).transpose(0, 1, 3, 2, 4, 5)
        patches = patches.reshape(b, gh, gw, p * p * c)  # (row, col, channel) within a patch
        kernel = kernel.reshape(p * p * c, self.width).astype(self.dtype)
        x = dot_general_f32_accumulate(patches, kernel, (((3,), (0,)), ((), ())))
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros, (self.width,))
            x = x + bias.astype(self.dtype)
        return x


class MapHead(nn.Module):
    """Multihead attention pooling with one learned probe; [B, N, W] -> [B, W]."""

    num_heads: int
    mlp_dim: int
    act: str
    eps: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        width = x.shape[-1]
        probe = self.param("probe", nn.initializers.normal(0.02), (1, 1, width), jnp.float32)
        probe = jnp.broadcast_to(probe, (x.shape[0], 1, width)).astype(self.dtype)
        p = MultiHeadAttention(self.num_heads, dtype=self.dtype, name="attn")(probe, x)
        h = layer_norm(self.eps, self.dtype, "ln")(p)
        p = p + Mlp(self.mlp_dim, self.act, self.dtype, name="mlp")(h)
        return p[:, 0]


class VisionTower(nn.Module):
    """Image encoder; [B, S, S, 3] normalised pixels -> [B, embed_dim] projected embeddings."""

    config: ModelConfig

    @nn.compact
    def __call__(self, images: jax.Array, interpolate_pos_encoding: bool = False) -> jax.Array:
        """``interpolate_pos_encoding``: accept other image sizes (multiples of the patch size)
        by resampling the patch position embeddings bicubically, as transformers does."""
        c = self.config
        check_images(images, c, interpolate_pos_encoding)
        dtype = jnp.dtype(c.dtype)
        clip = c.kind == "clip"
        act, eps = c.tower_act("vision"), c.tower_eps("vision")
        p = c.patch_size
        x = PatchEmbed(c.vision_width, p, use_bias=not clip, dtype=dtype,
                       name="patch_embed")(images)
        grid_h, grid_w = x.shape[1:3]
        x = x.reshape(x.shape[0], -1, c.vision_width)  # [B, N, W], row-major patch order
        g = c.image_size // p
        pos = self.param("pos_embed", nn.initializers.normal(0.02),
                         (g * g + int(clip), c.vision_width))
        patch_pos = pos[int(clip):]
        if (grid_h, grid_w) != (g, g):
            patch_pos = resample_pos_embed(patch_pos.reshape(g, g, -1), grid_h, grid_w)
            patch_pos = patch_pos.reshape(grid_h * grid_w, -1)
        if clip:
            cls = self.param("cls_token", nn.initializers.normal(0.02), (c.vision_width,))
            cls = jnp.broadcast_to(cls.astype(dtype), (x.shape[0], 1, c.vision_width))
            x = jnp.concatenate([cls, x], axis=1)
            patch_pos = jnp.concatenate([pos[:1], patch_pos])
        x = x + patch_pos.astype(dtype)
        if clip:
            x = layer_norm(eps, dtype, "pre_ln")(x)
        x = Encoder(c.vision_layers, c.vision_heads, c.vision_mlp_dim, act, eps,
                    causal=False, dtype=dtype, scan_layers=c.scan_layers, remat=c.remat,
                    name="encoder")(x, jnp.zeros(x.shape[0], jnp.int32) if clip else None)
        if clip:  # the encoder computed only the class token's row of its last block
            x = layer_norm(eps, dtype, "post_ln")(x)
            x = dense(c.embed_dim, dtype, "proj", use_bias=False)(x)
        else:
            x = layer_norm(eps, dtype, "post_ln")(x)
            x = MapHead(c.vision_heads, c.vision_mlp_dim, act, eps, dtype, name="head")(x)
        return x.astype(jnp.float32)


# On CPU, encode_image runs a large batch as sequential chunks whose widest activation (the MLP
# hidden layer, rows x tokens x mlp_dim float32 accumulators) stays within this many bytes, so
# each layer's activations stay in the last-level cache. ViT-B/32 (50 tokens x 3072): 32 images
# per chunk, ~20% faster than one pass at 256 images (experiments/bench_encode); ViT-B/16: 8.
CPU_CHUNK_BYTES = 20 * 2**20


def image_chunks(batch: int, config: ModelConfig, backend: str | None = None) -> int:
    """How many sequential chunks ``encode_image`` splits a batch of ``batch`` images into:
    enough to keep each chunk's MLP activations within CPU_CHUNK_BYTES on CPU; always 1 on
    accelerators, which want the largest batch."""
    backend = jax.default_backend() if backend is None else backend
    tokens = (config.image_size // config.patch_size) ** 2 + 1
    rows = max(1, CPU_CHUNK_BYTES // (tokens * config.vision_mlp_dim * 4))  # images per chunk
    if backend != "cpu" or batch <= rows:
        return 1
    return -(-batch // rows)


class VisionChunk(VisionTower):
    """VisionTower with the (carry, x) -> (carry, y) signature nn.scan needs: CLIPModel scans
    it over the chunks of a batch with the params broadcast, so the param tree is VisionTower's."""

    @nn.compact
    def __call__(self, carry, images: jax.Array, interpolate_pos_encoding: bool):
        return carry, super().__call__(images, interpolate_pos_encoding)
