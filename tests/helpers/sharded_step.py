"""The sharded-loss tests' tiny models, loss configs, random token batches and the jitted
value_and_grad of several loss functions, on one device or under a (data, fsdp) mesh."""

import jax
import ml_collections
import numpy as np

import jclip
from jclip.train import sharding

SMALL = dict(vocab_size=64, eos_token_id=63, context_length=8, embed_dim=32, vision_width=32,
             vision_layers=1, vision_heads=2, vision_mlp_dim=64, text_width=32, text_layers=1,
             text_heads=2, text_mlp_dim=64)
CONFIGS = {"clip": jclip.get_config("tiny-clip", **SMALL),
           "siglip": jclip.get_config("tiny-siglip", pad_token_id=0, **SMALL)}
B = 16  # B_local = 2 on 8 devices


def loss_config(name, **kw):
    return ml_collections.ConfigDict({"name": name, "impl": "xla", "strategy": None,
                                      "label_smoothing": 0.0, "counting_weight": 0.0,
                                      "inv_tau": 0.0, "hopfield_beta": 14.3,
                                      "cwcl_reference": "text", **kw})


def random_tokens(rng, n):
    tokens = rng.integers(1, 62, (n, 8)).astype(np.int32)
    tokens[:, 6] = 63
    return tokens


def jitted_value_and_grad(loss_fns, params, batch, mesh=None):
    """value_and_grad of several loss_fns in one jitted program (one compilation)."""
    fns = [jax.value_and_grad(f, has_aux=True) for f in loss_fns]
    fn = lambda p, b, r: [f(p, b, r) for f in fns]
    rng = jax.random.PRNGKey(3)
    if mesh is None:
        return jax.jit(fn)(params, batch, rng)
    shardings = sharding.fsdp_shardings(params, mesh, min_size=256)
    params = jax.device_put(params, shardings)
    return jax.jit(fn, in_shardings=(shardings, sharding.batch_sharding(mesh), None))(
        params, sharding.global_batch(batch, mesh), rng)
