"""The ``Objective`` type of the trainer's loss table (a leaf module: the table in
``objectives`` and the entries with their own encoders share it)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import jax
from jax.sharding import PartitionSpec as P

from jclip.train import sharding as sharding_lib

# CLIP clamps the learnable logit scale so that exp(logit_scale) <= 100 (Radford et al., 2021).
MAX_LOG_SCALE = math.log(100.0)


@dataclasses.dataclass(frozen=True)
class Objective:
    """encode + head (see the module docstring) and the mesh the head is distributed over."""

    encode: Callable
    head: Callable
    mesh: object = None

    @property
    def axis_name(self):
        return None if self.mesh is None else sharding_lib.BATCH_AXES

    def loss_of_embeddings(self, params, emb, rng):
        """(loss, aux) of the global batch from its embeddings; under shard_map with a mesh."""
        if self.mesh is None:
            return self.head(params, emb, rng, None)
        # Only the small top-level leaves (logit scale / bias) enter the loss, replicated; the
        # towers' (fsdp-sharded) params stay outside the shard_map.
        scalars = {k: v for k, v in params.items() if not isinstance(v, Mapping)}
        batch_spec = P(sharding_lib.BATCH_AXES)
        fn = jax.shard_map(
            lambda s, e, r: self.head(s, e, r, sharding_lib.BATCH_AXES),
            mesh=self.mesh,
            in_specs=(P(), jax.tree.map(lambda _: batch_spec, emb), P()),
            out_specs=P(),
        )
        return fn(scalars, emb, rng)

    def loss_fn(self, params, batch, rng):
        enc_rng, head_rng = jax.random.split(rng)
        return self.loss_of_embeddings(params, self.encode(params, batch, enc_rng), head_rng)
