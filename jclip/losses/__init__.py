"""Training objectives of CLIP-style models: pure, jit-able functions of embeddings.

Every loss takes L2-normalised embeddings [B, D] (row i of each modality a matching pair) and
the positive ``scale`` (exp of the learned log-scale), checks its inputs at trace time, and
returns the scalar loss of the global batch. These are the reference implementations that
materialise the logits; ``jclip.kernels`` has memory-flat versions that agree with them.

Distribution. With ``axis_name`` set, a loss runs on per-device shards of the batch (B_local
consecutive rows on each device, the global batch B = N * B_local in device order along the
axis). Each device computes its partial sum of the global loss terms, gathering what it needs
from the others, and the result is ``lax.psum`` of the partials:

- under ``jax.shard_map`` (with its default ``check_vma=True``) the value is the global loss on
  every device and ``jax.grad`` with respect to the local rows equals those rows of the global
  gradient; the gradient of a replicated argument (``scale``, ``bias``) is the global one, and
  parameter gradients summed over devices (what ``shard_map``'s transpose does for replicated
  parameters) are the global gradient;
- under ``jax.pmap`` the value is the same, but pmap transposes ``psum`` into a ``psum``, so the
  per-device gradients are N times the derivative through that device's rows. The usual pmap
  recipe ``grads = lax.pmean(jax.grad(loss_fn)(params, batch), axis_name)`` therefore gives the
  exact global gradient. Do not ``psum`` them (N times too large). ``jax.shard_map`` with
  ``check_vma=False`` transposes collectives the same way and follows this pmap convention.

Gradients flow through every gather (no stop-gradient on gathered shards), except into targets:
``cwcl_loss``'s frozen-modality weights and ``distill_loss``'s teacher.
"""

from jclip._lazy import package_face
from jclip.losses.cloob import cloob_loss, hopfield_retrieval
from jclip.losses.contrastive import CLIP_STRATEGIES, clip_loss, cwcl_loss
from jclip.losses.distill import counting_loss, distill_loss
from jclip.losses.sigmoid import SIGLIP_STRATEGIES, siglip_loss

__all__ = [
    "CLIP_STRATEGIES",
    "SIGLIP_STRATEGIES",
    "clip_loss",
    "cloob_loss",
    "counting_loss",
    "cwcl_loss",
    "distill_loss",
    "hopfield_retrieval",
    "siglip_loss",
]

__getattr__, __dir__ = package_face(__name__, __path__)  # every submodule, lazily
