"""Differentiable forwards from [0, 1] pixels, for the attacks.

Attacks perturb raw pixels in [0, 1]; resizing to the model's input size and the model's
normalisation ``(x - mean) / std`` (the mean / std of ``jclip.preprocessing.mean_std``, as
``jclip.preprocess`` uses) happen inside these functions, so gradients reach the pixels.

Resizing (only when the pixels are not already ``image_size`` square) follows the geometry of
``jclip.preprocess`` (shortest side to ``image_size``, centre crop; SigLIP straight to the square)
with ``jax.image.resize`` bicubic with antialiasing, a differentiable stand-in for PIL's bicubic
(not bit-identical to it). Evaluations feed pixels already resized on the host, so no resize runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jclip.attacks.checks import check_pixels
from jclip.models.configs import get_config
from jclip.ops import l2_normalize
from jclip.preprocessing import mean_std, resized_shape


def to_model_input(x01: jax.Array, config) -> jax.Array:
    """[B, H, W, 3] pixels in [0, 1] -> normalised float32 [B, S, S, 3] (differentiable)."""
    config = get_config(config)
    size = config.image_size
    x = x01.astype(jnp.float32)
    b, h, w, _ = x.shape
    if (h, w) != (size, size):
        rh, rw = resized_shape(h, w, config)
        x = jax.image.resize(x, (b, rh, rw, 3), method="bicubic", antialias=True)
        top, left = (rh - size) // 2, (rw - size) // 2
        x = x[:, top:top + size, left:left + size]
    mean, std = mean_std(config)
    return (x - mean) / std


def embedding_fn(model, params, *, normalize: bool = False, model_name_or_config=None):
    """fn(x01 [B, H, W, 3] in [0, 1]) -> image embeddings [B, D].

    Unnormalised by default (the projected features FARE and test-time counterattacks compare);
    ``normalize=True`` L2-normalises them. ``model_name_or_config`` defaults to ``model.config``.
    Pixel values are checked when concrete (not under jit).
    """
    config = get_config(model_name_or_config if model_name_or_config is not None
                        else model.config)

    def fn(x01):
        check_pixels(x01)
        z = model.apply({"params": params}, to_model_input(x01, config), method="encode_image")
        return l2_normalize(z) if normalize else z

    return fn


def zeroshot_logits_fn(model, params, classifier, *, model_name_or_config=None,
                       scale: float = 100.0):
    """fn(x01 [B, H, W, 3] in [0, 1]) -> zero-shot logits [B, C].

    logits = scale * normalize(encode_image(normalise(resize(x01)))) @ classifier.T, with
    ``classifier`` the [C, D] L2-normalised class text embeddings (``EvalContext.classifier`` /
    ``jclip.zeroshot``) and scale = 100 as CLIP's zero-shot evaluation and TeCoA use.
    """
    classifier = jnp.asarray(classifier)
    if classifier.ndim != 2:
        raise ValueError(f"classifier must be [C, D] class embeddings, got shape "
                         f"{tuple(classifier.shape)}")
    embed = embedding_fn(model, params, normalize=True, model_name_or_config=model_name_or_config)

    def fn(x01):
        z = embed(x01)
        if z.shape[-1] != classifier.shape[-1]:
            raise ValueError(f"classifier has dimension {classifier.shape[-1]} but the image "
                             f"embeddings have {z.shape[-1]}")
        return scale * z @ classifier.T

    fn.num_classes = classifier.shape[0]
    return fn
