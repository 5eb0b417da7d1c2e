"""Text towers of CLIP and SigLIP.

CLIP (Radford et al., 2021), as transformers' CLIPTextModel + text_projection:
    x = E[tokens] + pos;  x = LN_final(CausalEncoder(x))
    out = x[b, e_b] W_proj,  e_b = first position of b whose id == eos_token_id (0 if none,
    as transformers does), W_proj without bias.
SigLIP (Zhai et al., 2023), as transformers' SiglipTextModel (pooler_output):
    x = LN_final(Encoder(E[tokens] + pos))   (bidirectional, no padding mask)
    out = x[:, -1] W_head + b_head            (the LAST position, whatever token it holds)

Token ids outside [0, vocab_size): with concrete inputs ``check_tokens`` raises; under ``jax.jit``
the ids are traced and cannot be checked, so the embedding lookup returns NaN rows for them
(``jnp.take(..., mode="fill")``) and the NaNs reach the output: never a silent wrong number.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jclip.models.configs import ModelConfig
from jclip.models.layers import Encoder, dense, layer_norm


def check_tokens(tokens: jax.Array, config: ModelConfig) -> None:
    """Raises on a wrong rank / dtype / length; checks id range when the values are concrete."""
    if tokens.ndim != 2:
        raise ValueError(
            f"tokens must be a [B, L] int array, got rank {tokens.ndim} shape {tuple(tokens.shape)}"
        )
    if not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise TypeError(f"tokens must be integer ids, got dtype {tokens.dtype}")
    if not 1 <= tokens.shape[1] <= config.context_length:
        raise ValueError(
            f"tokens length {tokens.shape[1]} must be in [1, context_length="
            f"{config.context_length}]"
        )
    if isinstance(tokens, jax.core.Tracer):
        return  # values unknown under tracing: out-of-range ids turn into NaN (see module doc)
    ids = np.asarray(tokens)
    if ids.size and (ids.min() < 0 or ids.max() >= config.vocab_size):
        bad = np.unique(ids[(ids < 0) | (ids >= config.vocab_size)])[:10].tolist()
        raise ValueError(
            f"token ids must be in [0, vocab_size={config.vocab_size}), got {bad}; was the text "
            "tokenized with this model's tokenizer?"
        )


def eos_positions(tokens: jax.Array, eos_token_id: int) -> jax.Array:
    """[B, L] ids -> [B] first position whose id == eos_token_id (0 when there is none)."""
    return jnp.argmax(tokens == eos_token_id, axis=-1)


class TextTower(nn.Module):
    """Text encoder; int [B, L] ids (L <= context_length) -> [B, embed_dim] float32."""

    config: ModelConfig

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        c = self.config
        check_tokens(tokens, c)
        dtype = jnp.dtype(c.dtype)
        clip = c.kind == "clip"
        embedding = self.param("token_embed", nn.initializers.normal(0.02),
                               (c.vocab_size, c.text_width))
        pos = self.param("pos_embed", nn.initializers.normal(0.01),
                         (c.context_length, c.text_width))
        x = jnp.take(embedding, tokens, axis=0, mode="fill", fill_value=jnp.nan)
        x = (x + pos[: tokens.shape[1]]).astype(dtype)
        # The output is read at one position (CLIP: first eos; SigLIP: the last token), so the
        # encoder's last block computes only that row.
        if clip:
            rows = eos_positions(tokens, c.eos_token_id)
        else:
            rows = jnp.full(tokens.shape[0], tokens.shape[1] - 1)
        eps = c.tower_eps("text")
        x = Encoder(c.text_layers, c.text_heads, c.text_mlp_dim, c.tower_act("text"), eps,
                    causal=clip, dtype=dtype, scan_layers=c.scan_layers, remat=c.remat,
                    name="encoder")(x, rows.astype(jnp.int32))
        x = layer_norm(eps, dtype, "final_ln")(x)  # [B, W]
        if clip:
            x = dense(c.embed_dim, dtype, "proj", use_bias=False)(x)
        else:
            x = dense(c.embed_dim, dtype, "head")(x)
        return x.astype(jnp.float32)
