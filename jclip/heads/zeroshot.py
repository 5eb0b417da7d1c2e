"""Zero-shot classifiers from prompts: CLIP's prompt ensembling and ZPE prompt weighting.

Typical use::

    from jclip.heads import prompts, zeroshot
    classifier = zeroshot.build_classifier(model, params, tok, prompts.imagenet_classnames(),
                                           prompts.IMAGENET_TEMPLATES)       # [D, C]
    zimg = zeroshot.encode_images(model, params, pixels, batch_size=256)     # [N, D] normalised
    logits = zeroshot.classify(zimg, classifier)                             # [N, C]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jclip.heads.prompts import format_prompts
from jclip.ops import l2_normalize


def encode_prompts(model, params, tokenizer, classnames, templates, *, batch_size: int = 256):
    """L2-normalised text embedding of every (template, class) prompt.

    The prompts are tokenised on the host and encoded in fixed-size jitted batches that stop at
    the longest prompt of each batch (``jclip.models.clip.encode_text_bucketed``), so 1000
    classes x 80 templates compile once or twice.

    Args:
      model, params: a CLIPModel and its params.
      tokenizer: callable list[str] -> int [N, L] ids (``jclip.Tokenizer`` or ``WordTokenizer``).
      classnames: C class names; templates: T strings with "{}" (or callables name -> str).
      batch_size: prompts per text-tower call.
    Returns:
      float32 [T, C, D], unit-norm along D.
    """
    from jclip.models.clip import encode_text_bucketed

    if isinstance(classnames, str):  # list("cat") would be the classes 'c', 'a', 't'
        raise TypeError(f"classnames must be a list of names, got the single string {classnames!r}")
    if isinstance(templates, str):
        raise TypeError(f"templates must be a list of templates, got the single string "
                        f"{templates!r}")
    classnames, templates = list(classnames), list(templates)
    if not classnames or not templates:
        raise ValueError(f"need at least one class name and one template, got "
                         f"{len(classnames)} and {len(templates)}")
    tokens = np.asarray(tokenizer(format_prompts(classnames, templates)))
    z = encode_text_bucketed(model, params, tokens, batch_size=min(batch_size, len(tokens)))
    z = l2_normalize(z.astype(jnp.float32))
    return z.reshape(len(classnames), len(templates), -1).transpose(1, 0, 2)


def ensemble(prompt_embeddings, weights=None):
    """Prompt ensemble: per class the (weighted) mean of the unit prompt embeddings, re-normalised.

    This is the embedding-space ensembling of Radford et al. (2021, section 3.1.4);
    ``weights`` (e.g. from ``zpe_weights``) give the weighted average of Allingham et al. (2023).

    Args:
      prompt_embeddings: [T, C, D] unit-norm embeddings.
      weights: optional [T] non-negative prompt weights (normalised here); None = uniform.
    Returns:
      float32 [D, C] classifier with unit-norm columns.
    """
    z = jnp.asarray(prompt_embeddings, jnp.float32)
    if z.ndim != 3:
        raise ValueError(f"prompt_embeddings must be [T, C, D], got shape {tuple(z.shape)}")
    if weights is None:
        mean = jnp.mean(z, axis=0)
    else:
        weights = jnp.asarray(weights, jnp.float32)
        if weights.shape != (z.shape[0],):
            raise ValueError(f"weights must have shape ({z.shape[0]},), got {weights.shape}")
        mean = jnp.einsum("t,tcd->cd", weights / jnp.sum(weights), z)
    return l2_normalize(mean).T


def build_classifier(model, params, tokenizer, classnames, templates, *, batch_size: int = 256,
                     weights=None):
    """Zero-shot classifier [D, C] by prompt ensembling (Radford et al., 2021).

    For every class c: w_c = normalize(sum_t a_t normalize(f_text(template_t(c)))), a uniform or
    the given per-template ``weights``.

    Args:
      model, params, tokenizer, classnames, templates, batch_size: as in ``encode_prompts``.
      weights: optional [T] template weights (see ``zpe_weights``).
    Returns:
      float32 [D, C], unit-norm columns; ``classify(zimg, classifier)`` gives the logits.
    """
    embeddings = encode_prompts(model, params, tokenizer, classnames, templates,
                                batch_size=batch_size)
    return ensemble(embeddings, weights)


def classify(zimg, classifier, scale: float = 100.0):
    """Zero-shot logits ``scale * normalize(zimg) @ classifier``.

    Args:
      zimg: [N, D] image embeddings (normalised here; already-normalised input is unchanged).
      classifier: [D, C] from ``build_classifier``.
      scale: CLIP's logit scale (100 for the released models); it changes no argmax.
    Returns:
      float32 [N, C].
    """
    zimg = jnp.asarray(zimg, jnp.float32)
    classifier = jnp.asarray(classifier, jnp.float32)
    if zimg.ndim != 2 or classifier.ndim != 2 or zimg.shape[1] != classifier.shape[0]:
        raise ValueError(f"expected zimg [N, D] and classifier [D, C], got {zimg.shape} and "
                         f"{classifier.shape}")
    return scale * l2_normalize(zimg) @ classifier


@functools.lru_cache(maxsize=32)
def _jitted_encode_image(model):
    return jax.jit(lambda p, x: model.apply({"params": p}, x, method="encode_image"))


def encode_images(model, params, images, batch_size: int = 64, *, normalize: bool = True):
    """Image embeddings of a stack of preprocessed images or of an iterable of batches.

    Args:
      model, params: a CLIPModel and its params.
      images: float32 [N, H, W, 3] normalised pixels (``jclip.preprocess``), or an iterable of
        such arrays or of dicts {"image": [B, H, W, 3], "mask": [B] (optional)} as yielded by
        ``jclip.data.eval_dataset``; rows whose mask is False are dropped.
      batch_size: images per call when ``images`` is one array (the last batch is padded, so a
        single compilation serves all batches).
      normalize: return unit-norm embeddings.
    Returns:
      float32 [N, D].
    """
    encode = _jitted_encode_image(model)
    outputs = []
    for batch, keep in _batches(images, batch_size):
        z = encode(params, jnp.asarray(batch, jnp.float32))
        outputs.append(np.asarray(z)[keep])
    if not outputs:
        return jnp.zeros((0, model.config.embed_dim), jnp.float32)
    z = jnp.asarray(np.concatenate(outputs))
    return l2_normalize(z) if normalize else z


def _check_pixels(batch) -> None:
    """Refuses pixels that are clearly not normalised (uint8, or floats in [0, 255])."""
    if not np.issubdtype(batch.dtype, np.floating):
        raise TypeError(f"images have dtype {batch.dtype}: encode_images takes normalised float "
                        "pixels; pass jclip.preprocess(images, model.config) first")
    if batch.size and float(np.max(np.abs(batch))) > 20.0:  # normalised CLIP pixels lie in ~[-2, 3]
        raise ValueError(f"images have values up to {float(np.max(np.abs(batch))):.4g}: they look "
                         "like [0, 255] pixels, not normalised ones; pass "
                         "jclip.preprocess(images, model.config) first")


def _batches(images, batch_size):
    """(batch, rows-to-keep) pairs; pads a single array's last batch to the full size."""
    if isinstance(images, (np.ndarray, jax.Array)):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be [N, H, W, 3], got shape {tuple(images.shape)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        n = images.shape[0]
        for start in range(0, n, batch_size):
            batch = np.asarray(images[start:start + batch_size])
            real = batch.shape[0]
            if real < batch_size and n > batch_size:
                pad = np.zeros((batch_size - real, *batch.shape[1:]), batch.dtype)
                batch = np.concatenate([batch, pad])
            _check_pixels(batch)
            yield batch, np.arange(batch.shape[0]) < real
        return
    for item in images:
        if isinstance(item, dict):
            batch = np.asarray(item["image"])
            keep = np.asarray(item.get("mask", np.ones(batch.shape[0], bool)), bool)
        else:
            batch = np.asarray(item)
            keep = np.ones(batch.shape[0], bool)
        _check_pixels(batch)
        yield batch, keep


def zpe_weights(zimg_test, prompt_embeddings, zimg_reference=None, *, scale: float = 100.0,
                temperature: float = 1.0):
    """Zero-shot prompt-ensemble (ZPE) weights (Allingham et al., 2023, ICML).

    "A Simple Zero-shot Prompt Weighting Technique to Improve Prompt Ensembling in Text-Image
    Models". The score of prompt t is its mean max-logit on the test images minus the same on
    images like the pre-training data, which cancels the prompt's generic bias (some prompts
    give high logits to every image):

      s_t = mean_{x in test} max_c l_tc(x) - mean_{x in reference} max_c l_tc(x),
      l_tc(x) = scale * <x, z_tc>,   w = softmax(s / temperature).

    No labels are used. Without ``zimg_reference`` the second term is dropped (the naive score).

    Args:
      zimg_test: [N, D] image embeddings of the (unlabelled) test set.
      prompt_embeddings: [T, C, D] unit prompt embeddings (``encode_prompts``).
      zimg_reference: optional [M, D] embeddings of pre-training-like images.
      scale, temperature: logit scale and softmax temperature.
    Returns:
      float32 [T] weights summing to 1, for ``ensemble`` / ``build_classifier``.
    """
    z = jnp.asarray(prompt_embeddings, jnp.float32)
    if z.ndim != 3:
        raise ValueError(f"prompt_embeddings must be [T, C, D], got shape {tuple(z.shape)}")

    def mean_max_logit(zimg, name):
        zimg = jnp.asarray(zimg, jnp.float32)
        if zimg.ndim != 2 or zimg.shape[1] != z.shape[2]:
            raise ValueError(f"{name} must be [N, {z.shape[2]}], got {tuple(zimg.shape)}")
        zimg = l2_normalize(zimg)
        # one template at a time: [N, C] logits, never [T, N, C]
        return jax.lax.map(lambda zt: jnp.mean(jnp.max(scale * zimg @ zt.T, axis=1)), z)

    score = mean_max_logit(zimg_test, "zimg_test")
    if zimg_reference is not None:
        score = score - mean_max_logit(zimg_reference, "zimg_reference")
    return jax.nn.softmax(score / temperature)
