"""Text towers of CLIP and SigLIP.

CLIP (Radford et al., 2021), as transformers' CLIPTextModel + text_projection:
    x = E[tokens] + pos;  x = LN_final(CausalEncoder(x))
    out = x[b, e_b] W_proj,  e_b = first position of b whose id == eos_token_id (0 if none,
    as transformers does), W_proj without bias.
SigLIP (Zhai et al., 2023), as transformers' SiglipTextModel (pooler_output):
    x = LN_final(Encoder(E[tokens] + pos))   (bidirectional, no padding mask)
    out = x[:, -1] W_head + b_head            (the LAST position, whatever token it holds)

Prompt learning (CoOp, Zhou et al., 2022, "Learning to Prompt for Vision-Language Models"):
``TextTower(tokens, embeddings)`` reads the [B, L, W] input embeddings instead of E[tokens]
(learned context vectors in place of some token embeddings) while ``tokens`` still give the
length and the pooled position (CLIP's first eos, SigLIP's last position), so
``embeddings = token_embeddings(params, tokens)`` reproduces the token path exactly.

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


def token_embeddings(params, tokens: jax.Array) -> jax.Array:
    """The text tower's input embeddings E[tokens]: [B, L] ids -> [B, L, text_width].

    ``params`` is the two-tower param tree (``{"text": {"token_embed": ...}, ...}``) or the text
    tower's own; ids outside the vocabulary give NaN rows, as in the tower.
    """
    table = params["text"]["token_embed"] if "text" in params else params["token_embed"]
    ids = jnp.asarray(tokens)
    # jnp.take wraps negative ids (-1 would read the end token's row): send them out of range.
    ids = jnp.where(ids < 0, table.shape[0], ids)
    return jnp.take(table, ids, axis=0, mode="fill", fill_value=jnp.nan)


def check_embeddings(embeddings: jax.Array, tokens: jax.Array, config: ModelConfig) -> None:
    """Raises unless ``embeddings`` is a float [B, L, text_width] array matching ``tokens``."""
    shape = (*tokens.shape, config.text_width)
    if tuple(embeddings.shape) != shape:
        raise ValueError(f"prompt embeddings must be [B, L, text_width] = {shape} to match the "
                         f"tokens, got shape {tuple(embeddings.shape)}")
    if not jnp.issubdtype(embeddings.dtype, jnp.floating):
        raise TypeError(f"prompt embeddings must be floats, got dtype {embeddings.dtype}")


class TextTower(nn.Module):
    """Text encoder; int [B, L] ids (L <= context_length) -> [B, embed_dim] float32.

    ``embeddings`` (optional, float [B, L, text_width]) replaces E[tokens] as the input (see the
    module docstring); the tokens still set the pooled position.
    """

    config: ModelConfig

    @nn.compact
    def __call__(self, tokens: jax.Array, embeddings: jax.Array | None = None) -> jax.Array:
        c = self.config
        check_tokens(tokens, c)
        if embeddings is not None:
            check_embeddings(embeddings, tokens, c)
        dtype = jnp.dtype(c.dtype)
        clip = c.kind == "clip"
        embedding = self.param("token_embed", nn.initializers.normal(0.02),
                               (c.vocab_size, c.text_width))
        pos = self.param("pos_embed", nn.initializers.normal(0.01),
                         (c.context_length, c.text_width))
        if embeddings is None:
            x = token_embeddings({"token_embed": embedding}, tokens)
        else:
            x = embeddings
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
