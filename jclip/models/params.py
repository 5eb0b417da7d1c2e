"""The param tree of a ``ModelConfig``: its shapes, its two layouts, and a shape check.

The canonical layout has one subtree per block (``encoder/block_0`` ...); with
``config.scan_layers`` the blocks are stacked along a leading axis (``encoder/blocks``).
Loaders (``jclip.pretrained``) build the canonical layout and convert with ``to_layout``.
"""

from __future__ import annotations

import dataclasses

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jclip.models.clip import create_model
from jclip.models.configs import ModelConfig
from jclip.models.layers import stack_blocks, unstack_blocks


def param_shapes(config: ModelConfig) -> dict:
    """Nested dict of the parameter shapes of ``config`` in the per-layer (unscanned) layout."""
    model = create_model(config, scan_layers=False)
    images = jax.ShapeDtypeStruct((1, config.image_size, config.image_size, 3), jnp.float32)
    tokens = jax.ShapeDtypeStruct((1, config.context_length), jnp.int32)
    init = lambda i, t: model.init(jax.random.key(0), i, t)["params"]
    shapes = jax.eval_shape(init, images, tokens)
    return jax.tree.map(lambda s: tuple(s.shape), flax.core.unfreeze(shapes))


def to_layout(params: dict, config: ModelConfig) -> dict:
    """Converts params between the per-layer and the scanned layout to match ``config``."""
    params = dict(params)
    for tower, layers in (("vision", config.vision_layers), ("text", config.text_layers)):
        tree = dict(params[tower])
        encoder = tree["encoder"]
        if config.scan_layers and "blocks" not in encoder:
            tree["encoder"] = stack_blocks(encoder, layers)
        elif not config.scan_layers and "blocks" in encoder:
            tree["encoder"] = unstack_blocks(encoder)
        params[tower] = tree
    return params


def flatten(tree: dict, prefix=()) -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, prefix + (key,)))
        else:
            out[prefix + (key,)] = value
    return out


def unflatten(flat: dict) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def listing(items, limit=12) -> str:
    items = list(dict.fromkeys(items))
    more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def check_params(params: dict, config: ModelConfig) -> None:
    """Raises ValueError if ``params`` do not have exactly the shapes ``config`` needs."""
    canonical = to_layout(params, dataclasses.replace(config, scan_layers=False))
    got = {k: tuple(np.shape(v)) for k, v in flatten(canonical).items()}
    expected = flatten(param_shapes(config))
    missing = ["/".join(k) for k in expected if k not in got]
    unexpected = ["/".join(k) for k in got if k not in expected]
    misshaped = [f"{'/'.join(k)} {got[k]}, expected {s}" for k, s in expected.items()
                 if k in got and got[k] != s]
    if missing or unexpected or misshaped:
        parts = [f"{name}: {listing(v)}" for name, v in
                 (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if v]
        raise ValueError("params do not fit the model config: " + "; ".join(parts))
