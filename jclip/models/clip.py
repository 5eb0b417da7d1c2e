"""The two-tower CLIP / SigLIP model and ``create_model``.

Logits as transformers' CLIPModel / SiglipModel return them (``logits_per_image``):
    CLIP   (Radford et al., 2021): logits_ij = exp(t) * cos(img_i, txt_j)
    SigLIP (Zhai et al., 2023):    logits_ij = exp(t) * cos(img_i, txt_j) + b
with t = ``logit_scale`` (log form) and b = ``logit_bias``.

Param tree: {"vision": {...}, "text": {...}, "logit_scale": (), "logit_bias": () (SigLIP only)}.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jclip.models.configs import ModelConfig, check_config, get_config
from jclip.models.text import TextTower, check_tokens, eos_positions
from jclip.models.vit import VisionChunk, check_images, image_chunks
from jclip.ops import l2_normalize


class CLIPModel(nn.Module):
    """CLIP or SigLIP two-tower model (``config.kind``).

    Methods:
      encode_image: float32 [B, S, S, 3] normalised pixels -> [B, D] projected, not normalised;
        ``interpolate_pos_encoding=True`` accepts other sizes (multiples of the patch size).
        On CPU a large batch runs as sequential chunks (ViT-B/32: 32 images each; same numbers,
        ~20% faster at B=256 as the activations stay in cache; see vit.image_chunks).
      encode_text: int [B, L] token ids, L <= context_length -> [B, D] projected, not normalised;
        ``prompt_embeddings`` (float [B, L, text_width]) replaces the token embeddings as the
        tower's input, the tokens still giving the pooled position (prompt learning, CoOp).
      __call__(images, tokens) -> logits_per_image [B_img, B_txt].
    """

    config: ModelConfig

    def setup(self):
        c = check_config(self.config)
        # The vision tower runs as a scan over sequential chunks of the batch (see image_chunks):
        # one chunk on accelerators, ~32-image chunks on CPU. Params are shared by the chunks.
        self.vision = nn.scan(VisionChunk, variable_broadcast="params",
                              split_rngs={"params": False}, in_axes=(1, nn.broadcast),
                              out_axes=1)(c)
        self.text = TextTower(c)
        self.logit_scale = self.param(
            "logit_scale", nn.initializers.constant(c.logit_scale_init), (), jnp.float32
        )
        if c.kind == "siglip":
            self.logit_bias = self.param(
                "logit_bias", nn.initializers.constant(c.logit_bias_init), (), jnp.float32
            )

    def encode_image(self, images: jax.Array, interpolate_pos_encoding: bool = False) -> jax.Array:
        check_images(images, self.config, interpolate_pos_encoding)
        batch = images.shape[0]
        n = image_chunks(batch, self.config)
        rows = -(-batch // n)  # per chunk
        if rows * n != batch:  # pad with zero images, dropped below
            pad = jnp.zeros((rows * n - batch, *images.shape[1:]), images.dtype)
            images = jnp.concatenate([images, pad])
        # Chunk j holds rows j, j + n, j + 2n, ...: with a batch sharded along its first axis
        # every chunk takes rows from every device, so no data moves between devices.
        chunks = images.reshape(rows, n, *images.shape[1:])
        _, out = self.vision(None, chunks, interpolate_pos_encoding)  # [rows, n, D]
        return out.reshape(rows * n, -1)[:batch]

    def encode_text(self, tokens: jax.Array, *, prompt_embeddings: jax.Array | None = None
                    ) -> jax.Array:
        return self.text(tokens, prompt_embeddings)

    def logits(self, zimg: jax.Array, ztxt: jax.Array) -> jax.Array:
        """[B_img, D], [B_txt, D] un-normalised embeddings -> logits_per_image [B_img, B_txt]."""
        logits = jnp.exp(self.logit_scale) * (l2_normalize(zimg) @ l2_normalize(ztxt).T)
        if self.config.kind == "siglip":
            logits = logits + self.logit_bias
        return logits

    def __call__(self, images: jax.Array, tokens: jax.Array) -> jax.Array:
        return self.logits(self.encode_image(images), self.encode_text(tokens))


def create_model(name_or_config: str | ModelConfig, **overrides) -> CLIPModel:
    """A CLIPModel for a preset name (``jclip.PRESETS``) or a ModelConfig, with overrides.

    Example: ``create_model("ViT-B-32", dtype="bfloat16", scan_layers=True)``.
    """
    return CLIPModel(check_config(get_config(name_or_config, **overrides)))


# ---------------------------------------------------------------------------------------------
# Text encoding that stops at the longest prompt of the batch.

DEFAULT_BUCKETS = (8, 16, 24, 32, 48, 64)


@functools.lru_cache(maxsize=64)
def _jitted_encode_text(config: ModelConfig):
    model = CLIPModel(config)
    return jax.jit(lambda params, tokens: model.apply({"params": params}, tokens,
                                                      method="encode_text"))


def bucket_length(tokens: np.ndarray, config: ModelConfig, buckets=DEFAULT_BUCKETS) -> int:
    """Length the text tower must see so that the output is unchanged.

    CLIP: the causal mask means position p only attends to positions <= p, and the output is
    read at the first eos token, so positions after the last row's first eos never influence it;
    the needed length is max_b(e_b) + 1, rounded up to the next bucket (few distinct lengths, so
    few compilations). SigLIP attends bidirectionally and reads the last position, so every
    position matters: the full length is returned.
    """
    length = tokens.shape[1]
    if config.kind != "clip":
        return length
    needed = int(np.max(np.asarray(eos_positions(tokens, config.eos_token_id)))) + 1
    return next((b for b in sorted(buckets) if needed <= b < length), length)


def encode_text_bucketed(model: CLIPModel, params, tokens, *, batch_size: int | None = None,
                         buckets=DEFAULT_BUCKETS) -> jax.Array:
    """``model.apply(.., tokens, method="encode_text")`` computed only up to the longest prompt.

    Args:
      model: a CLIPModel; params: its params (may be sharded; the call is jitted).
      tokens: concrete int [N, L] ids (numpy or jax array; not a tracer: the length is chosen
        from the values).
      batch_size: encode in chunks of this many rows (the last chunk is padded to the same size
        so one compilation serves all chunks); None encodes all rows at once.
      buckets: allowed truncated lengths.
    Returns:
      float32 [N, D], equal to the full-length encode_text up to float32 rounding (CLIP), or
      exactly the full-length computation (SigLIP, see ``bucket_length``).
    """
    if isinstance(tokens, jax.core.Tracer):
        raise TypeError("encode_text_bucketed needs concrete tokens; under jit call "
                        "model.apply(..., method='encode_text') directly")
    tokens = np.asarray(tokens)
    check_tokens(tokens, model.config)
    encode = _jitted_encode_text(model.config)
    n = tokens.shape[0]
    chunk = n if batch_size is None else int(batch_size)
    if chunk < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    outputs = []
    for start in range(0, n, chunk):
        rows = tokens[start:start + chunk]
        rows = rows[:, : bucket_length(rows, model.config, buckets)]
        pad = chunk - rows.shape[0]
        if pad:  # pad with copies of the first row: same length bucket, same compilation
            rows = np.concatenate([rows, np.repeat(rows[:1], pad, axis=0)])
        outputs.append(encode(params, rows)[: chunk - pad])
    return jnp.concatenate(outputs) if outputs else jnp.zeros((0, model.config.embed_dim))
