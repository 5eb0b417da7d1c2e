"""Transformer building blocks shared by the vision and text towers.

The blocks follow the pre-LayerNorm transformer of CLIP (Radford et al., 2021, "Learning
Transferable Visual Models From Natural Language Supervision") and ViT (Dosovitskiy et al., 2021):

    x = x + Attn(LN1(x));   x = x + MLP(LN2(x)),   MLP(x) = fc2(act(fc1(x))).

Attention uses separate query / key / value / out projections with biases, as transformers'
CLIPAttention and SiglipAttention do, so checkpoint conversion is a plain transpose.
Parameters are always float32; ``dtype`` is the activation (compute) dtype. Matmuls take their
inputs in ``dtype`` and accumulate in float32 (``dense``); softmax and LayerNorm statistics are
computed in float32 whatever ``dtype`` is.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    # QuickGELU of the OpenAI CLIP weights: x * sigmoid(1.702 x).
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    # Exact GELU: x * Phi(x) with the normal CDF (torch.nn.GELU() / HF "gelu").
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    # tanh approximation (HF "gelu_pytorch_tanh", SigLIP).
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
}


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def dot_general_f32_accumulate(lhs, rhs, dimension_numbers, precision=None, **kwargs):
    """lax.dot_general accumulating in float32, the result cast back to the input dtype.

    For float32 inputs this is plain dot_general. For bfloat16 inputs the result is the same
    bfloat16 rounding of a float32 accumulation that accelerators perform anyway, but XLA:CPU
    only uses its fast bfloat16 kernels (avx512_bf16 / AMX: about twice the float32 rate) when
    the dot is asked for a float32 result; a bfloat16 result falls back to the float32 rate.
    """
    out = lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                          preferred_element_type=jnp.float32, **kwargs)
    return out.astype(jnp.result_type(lhs, rhs))


def dense(features: int, dtype, name: str, use_bias: bool = True) -> nn.Dense:
    """nn.Dense (float32 params) whose matmul reads ``dtype`` inputs and accumulates in float32."""
    return nn.Dense(features, use_bias=use_bias, dtype=dtype, name=name,
                    dot_general=dot_general_f32_accumulate)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention, softmax(q k^T / sqrt(d_head)) v.

    Inputs: queries [B, Lq, W], keys/values [B, Lk, W], optional boolean ``mask`` broadcastable
    to [B, heads, Lq, Lk] (True: may attend). Output [B, Lq, W].
    """

    num_heads: int
    causal: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_q: jax.Array, x_kv: jax.Array, mask: jax.Array | None = None
                 ) -> jax.Array:
        width = x_q.shape[-1]
        if width % self.num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads {self.num_heads}")
        head_dim = width // self.num_heads
        proj = lambda name: dense(width, self.dtype, name)
        split = lambda t: t.reshape(*t.shape[:-1], self.num_heads, head_dim)
        q = split(proj("query")(x_q))
        k = split(proj("key")(x_kv))
        v = split(proj("value")(x_kv))
        # jax's XLA attention (implementation=None selects it on every platform in jax 0.10):
        # logits and softmax in float32 whatever the compute dtype.
        out = jax.nn.dot_product_attention(q, k, v, mask=mask,
                                           is_causal=self.causal and mask is None)
        return proj("out")(out.reshape(*out.shape[:-2], width))


class Mlp(nn.Module):
    """fc2(act(fc1(x))); [..., W] -> [..., W]."""

    mlp_dim: int
    act: str
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        width = x.shape[-1]
        x = dense(self.mlp_dim, self.dtype, "fc1")(x)
        x = get_activation(self.act)(x)
        return dense(width, self.dtype, "fc2")(x)


def layer_norm(eps: float, dtype, name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=eps, dtype=dtype, name=name)


class Block(nn.Module):
    """Pre-LN transformer block; [B, L, W] -> [B, L, W].

    With ``rows`` (int [B]) only row ``rows[b]`` of each sequence is computed: keys and values
    still come from every position (up to ``rows[b]`` when causal), but the query, output
    projection and MLP run on one row, and the result is [B, W]. A tower that reads a single
    position of its last block's output (CLIP's class token or end token, SigLIP text's last
    token) gets the same numbers for about a tenth of that block's work.
    """

    num_heads: int
    mlp_dim: int
    act: str
    eps: float
    causal: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, rows: jax.Array | None = None) -> jax.Array:
        attn = MultiHeadAttention(self.num_heads, self.causal, self.dtype, name="attn")
        h = layer_norm(self.eps, self.dtype, "ln1")(x)
        if rows is None:
            x = x + attn(h, h)
        else:
            take = lambda t: jnp.take_along_axis(t, rows[:, None, None], axis=1)  # [B, 1, W]
            mask = None
            if self.causal:  # the kept row attends to positions <= its own: [B, 1, 1, L]
                mask = (jnp.arange(x.shape[1])[None, :] <= rows[:, None])[:, None, None, :]
            x = take(x) + attn(take(h), h, mask=mask)
        h = layer_norm(self.eps, self.dtype, "ln2")(x)
        x = x + Mlp(self.mlp_dim, self.act, self.dtype, name="mlp")(h)
        return x if rows is None else x[:, 0]


class _ScanBlock(Block):
    """Block with the (carry, x) -> (carry, y) signature nn.scan needs."""

    @nn.compact
    def __call__(self, x: jax.Array, _) -> tuple[jax.Array, None]:
        return super().__call__(x), None


class Encoder(nn.Module):
    """A stack of ``num_layers`` Blocks; [B, L, W] -> [B, L, W].

    Param layout: ``block_0 ... block_{n-1}`` or, with ``scan_layers``, one ``blocks`` subtree
    whose leaves carry a leading layer axis of size ``num_layers`` (see ``stack_blocks``).
    ``remat`` recomputes each block's activations in the backward pass instead of storing them.
    """

    num_layers: int
    num_heads: int
    mlp_dim: int
    act: str
    eps: float
    causal: bool = False
    dtype: jnp.dtype = jnp.float32
    scan_layers: bool = False
    remat: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, rows: jax.Array | None = None) -> jax.Array:
        """x [B, L, W] -> [B, L, W]; with ``rows`` (int [B]) -> [B, W], the output at position
        ``rows[b]`` of each sequence (the last block computes only that row, see ``Block``)."""
        kw = dict(num_heads=self.num_heads, mlp_dim=self.mlp_dim, act=self.act, eps=self.eps,
                  causal=self.causal, dtype=self.dtype)
        if self.scan_layers:  # one stacked body: every layer runs on all rows
            block = nn.remat(_ScanBlock, prevent_cse=False) if self.remat else _ScanBlock
            scanned = nn.scan(block, variable_axes={"params": 0}, split_rngs={"params": True},
                              in_axes=nn.broadcast, length=self.num_layers)
            x, _ = scanned(**kw, name="blocks")(x, None)
            return x if rows is None else jnp.take_along_axis(x, rows[:, None, None], 1)[:, 0]
        block = nn.remat(Block) if self.remat else Block
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            x = block(**kw, name=f"block_{i}")(x, rows if last else None)
        if rows is not None and self.num_layers == 0:
            x = jnp.take_along_axis(x, rows[:, None, None], 1)[:, 0]
        return x


def stack_blocks(encoder_params: dict, num_layers: int) -> dict:
    """{"block_0": t0, ..., "block_{n-1}"} -> {"blocks": stack of the trees along axis 0}."""
    missing = [f"block_{i}" for i in range(num_layers) if f"block_{i}" not in encoder_params]
    if missing:
        raise ValueError(f"Encoder params lack {missing}; got keys {sorted(encoder_params)}")
    trees = [encoder_params[f"block_{i}"] for i in range(num_layers)]
    return {"blocks": jax.tree.map(lambda *xs: jnp.stack(xs), *trees)}


def unstack_blocks(encoder_params: dict) -> dict:
    """Inverse of ``stack_blocks``: {"blocks": stacked} -> {"block_i": tree_i}."""
    stacked = encoder_params["blocks"]
    n = jax.tree.leaves(stacked)[0].shape[0]
    return {f"block_{i}": jax.tree.map(lambda x, i=i: x[i], stacked) for i in range(n)}
