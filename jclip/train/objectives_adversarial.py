"""Adversarial fine-tuning objectives of the loss table: TeCoA and FARE.

Both fine-tune the vision tower of a pretrained CLIP (``config.init_from``) on adversarial
images that l_inf PGD (``jclip.attacks.pgd``) makes inside the jitted train step, keyed by the
step's rng. The batch images arrive normalised; the objective maps them back to [0, 1] pixels
(x01 = image * std + mean), attacks there, and the forward normalises again
(``jclip.attacks.embedding_fn``). The attack sees the current params without gradient; the
loss is then the model's on the (constant) adversarial images, so gradients reach the params
only through that last forward (Madry et al., 2018's min-max training).

- ``tecoa`` (Mao et al., 2023, "Understanding Zero-Shot Adversarial Robustness for Large-Scale
  Models", eq. 3): supervised,
      L = (1/B) sum_i CE(s * <l2(f(x_i + delta_i)), T_c>_c, y_i),
      delta_i = argmax_{||delta||_inf <= eps} of the same CE (PGD from a uniform random start),
  T [C, D] the frozen text classifier of the training classes (prompts "This is a photo of a
  {}", computed once from the reference model's text tower), s = 100. Paper recipe: eps = 1/255,
  2 steps of 1/255. Batches must carry "label" (int class ids [B]).
- ``fare`` (Schlarmann et al., 2024, "Robust CLIP: Unsupervised Adversarial Fine-Tuning of
  Vision Embeddings for Robust Large Vision-Language Models", eq. 3): unsupervised,
      L = (1/B) sum_i ||f(x_i + delta_i) - f_orig(x_i)||_2^2   (unnormalised embeddings),
      delta_i = argmax_{||delta||_inf <= eps} of the same distance (PGD),
  f_orig the frozen vision tower of the reference model (the original, i.e. init_from, params
  kept as a constant). Paper: eps 2/255 or 4/255, 10 PGD steps of 1/255; reduction as the
  official code's ``l2(..., reduction='mean')`` (sum over D, mean over the batch).

Loss config keys: ``reference`` (the frozen original model, a ``jclip.load`` source; configs
link it to ``init_from`` with ``c.get_ref("init_from")``), ``eps``, ``step_size`` (fractions of
the [0, 1] pixel range, e.g. 1/255), ``attack_steps``, ``random_start``; tecoa also
``classnames``, ``templates``, ``scale``. Only the vision tower should train:
``config.locked_towers=("text",)`` (checked by ``check_config``).
"""

from __future__ import annotations

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from jclip import attacks
from jclip.train.config_keys import COMPUTE_OPTIONS, HUB_ID, locked_towers
from jclip.train.objective import Objective

TECOA_TEMPLATE = "This is a photo of a {}"  # Mao et al. (2023)
DEFAULTS = {
    "tecoa": {"eps": 1 / 255, "step_size": 1 / 255, "attack_steps": 2, "scale": 100.0},
    "fare": {"eps": 4 / 255, "step_size": 1 / 255, "attack_steps": 10},
}
# Training sources whose batches can carry class labels (TeCoA).
LABELLED_SOURCES = ("shapes", "classification")


def to_unit_pixels(images, model_config):
    """Normalised model inputs [B, S, S, 3] -> pixels in [0, 1]: clip(x * std + mean, 0, 1)."""
    from jclip.preprocessing import mean_std

    mean, std = mean_std(model_config)
    return jnp.clip(images.astype(jnp.float32) * std + mean, 0.0, 1.0)


@functools.lru_cache(maxsize=4)
def load_reference(source: str):
    """(model, params, tokenizer) of the frozen reference model ``source`` (cached)."""
    import jclip

    model, params = jclip.load(source)
    return model, params, jclip.load_tokenizer(source, context_length=model.config.context_length)


def frozen_classifier(model, params, tokenizer, classnames, templates) -> np.ndarray:
    """Text classifier float32 [C, D] (unit rows) of ``classnames`` by prompt ensembling over
    ``templates`` (``jclip.heads.zeroshot.build_classifier``, transposed)."""
    from jclip.heads import zeroshot

    return np.asarray(zeroshot.build_classifier(
        model, params, tokenizer, list(classnames), list(templates)), np.float32).T


def _setting(loss_config, name: str, key: str):
    value = loss_config.get(key, None)
    return DEFAULTS[name][key] if value is None else value


def _attack_settings(loss_config, name: str) -> dict:
    steps = _setting(loss_config, name, "attack_steps")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"loss.attack_steps must be an int >= 1, got {steps!r}")
    settings = {"eps": float(_setting(loss_config, name, "eps")),
                "step_size": float(_setting(loss_config, name, "step_size")),
                "steps": int(steps), "norm": "linf",
                "random_start": bool(loss_config.get("random_start", True))}
    for key in ("eps", "step_size"):
        if not (math.isfinite(settings[key]) and 0 < settings[key] <= 0.5):
            raise ValueError(f"loss.{key}={settings[key]!r} must be in (0, 0.5]: it is a "
                             f"fraction of the [0, 1] pixel range (write 1/255 for 'eps 1')")
    return settings


def _reference(loss_config, model, name: str):
    """(model, params in ``model``'s layout, tokenizer) of ``loss.reference``; its architecture
    must be the trained model's (compute options aside)."""
    import dataclasses

    from jclip.models.params import to_layout

    source = loss_config.get("reference", "") or ""
    if not source:
        raise ValueError(f"loss.name={name!r} needs loss.reference, the frozen original model "
                         "(normally the same folder as config.init_from)")
    ref_model, params, tokenizer = load_reference(str(source))
    arch = lambda c: {k: v for k, v in dataclasses.asdict(c).items() if k not in COMPUTE_OPTIONS}
    if arch(ref_model.config) != arch(model.config):
        diff = sorted(k for k, v in arch(model.config).items()
                      if arch(ref_model.config).get(k) != v)
        raise ValueError(f"loss.reference={source!r} is another architecture than the model "
                         f"being trained (fields {diff}): use the init_from model")
    return ref_model, to_layout(params, model.config), tokenizer


def _global_mean(values, axis_name):
    """Mean of per-example values [B_local] over the global batch (psum under shard_map)."""
    total, count = jnp.sum(values), jnp.asarray(values.shape[0], jnp.float32)
    if axis_name is not None:
        total, count = jax.lax.psum(total, axis_name), jax.lax.psum(count, axis_name)
    return total / count


def tecoa_loss_of(logits, targets, axis_name=None):
    """(mean CE, adversarial top-1 accuracy) of logits [B, C] and one-hot targets [B, C]."""
    ce = -jnp.sum(targets * jax.nn.log_softmax(logits, axis=-1), axis=-1)
    hit = (jnp.argmax(logits, -1) == jnp.argmax(targets, -1)).astype(jnp.float32)
    return _global_mean(ce, axis_name), _global_mean(hit, axis_name)


def tecoa(loss_config, model) -> Objective:
    """The TeCoA ``Objective`` (module docstring); the classifier is a constant of it."""
    settings = _attack_settings(loss_config, "tecoa")
    scale = float(_setting(loss_config, "tecoa", "scale"))
    classnames = list(loss_config.get("classnames", None) or ())
    templates = list(loss_config.get("templates", None) or (TECOA_TEMPLATE,))
    if not classnames:
        raise ValueError("loss.name='tecoa' needs loss.classnames, the names of the training "
                         "classes (label id = index)")
    _, ref_params, tokenizer = _reference(loss_config, model, "tecoa")
    classifier = jnp.asarray(frozen_classifier(model, ref_params, tokenizer, classnames,
                                               templates))
    num_classes = len(classnames)

    def encode(params, batch, rng):
        if "label" not in batch:
            raise ValueError("loss.name='tecoa' needs class labels in the batch ('label'): "
                             "use data.type='classification', or 'shapes' with data.label")
        x = to_unit_pixels(batch["image"], model.config)
        labels = batch["label"].astype(jnp.int32)
        attacked = attacks.zeroshot_logits_fn(model, jax.lax.stop_gradient(params), classifier,
                                              scale=scale)
        x_adv = jax.lax.stop_gradient(
            attacks.pgd(attacks.cross_entropy(attacked, labels), x, rng, **settings))
        z = attacks.embedding_fn(model, params, normalize=True)(x_adv)
        # One-hot float targets: an embedding leaf that gradient caching can differentiate.
        return {"image": z, "target": jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)}

    def head(params, emb, rng, axis_name):
        del params, rng
        loss, acc = tecoa_loss_of(scale * emb["image"] @ classifier.T, emb["target"], axis_name)
        return loss, {"tecoa_loss": loss, "adv_train_acc1": acc}

    return Objective(encode, head)


def fare_loss_of(z_adv, z_ref, axis_name=None):
    """(1/B) sum_i ||z_adv_i - z_ref_i||_2^2 over the global batch (FARE, eq. 3)."""
    return _global_mean(jnp.sum((z_adv - z_ref) ** 2, axis=-1), axis_name)


def fare(loss_config, model) -> Objective:
    """The FARE ``Objective`` (module docstring); f_orig's params are a constant of it."""
    settings = _attack_settings(loss_config, "fare")
    _, ref_params, _ = _reference(loss_config, model, "fare")
    original = attacks.embedding_fn(model, jax.tree.map(jnp.asarray, ref_params))

    def encode(params, batch, rng):
        x = to_unit_pixels(batch["image"], model.config)
        z_ref = jax.lax.stop_gradient(original(x))
        attacked = attacks.embedding_fn(model, jax.lax.stop_gradient(params))
        x_adv = jax.lax.stop_gradient(
            attacks.pgd(attacks.embedding_distance(attacked, z_ref), x, rng, **settings))
        return {"image": attacks.embedding_fn(model, params)(x_adv), "reference": z_ref}

    def head(params, emb, rng, axis_name):
        del params, rng
        loss = fare_loss_of(emb["image"], emb["reference"], axis_name)
        return loss, {"fare_loss": loss}

    return Objective(encode, head)


FACTORIES = {"tecoa": tecoa, "fare": fare}


def check_config(config) -> None:
    """Checks a training config whose loss is tecoa or fare (before anything is built).

    Raises ValueError naming the field and the fix: no ``init_from`` / ``loss.reference``, the
    text tower not locked, additive terms, bad eps / steps; tecoa without ``loss.classnames``,
    with a data source that has no labels, or (shapes) without ``data.label`` or with a class
    count that differs from the label's.
    """
    loss = config.get("loss", {})
    name = loss.get("name")
    if name not in FACTORIES:
        return
    if not config.get("init_from"):
        raise ValueError(f"loss.name={name!r} fine-tunes a pretrained model: set "
                         "config.init_from (e.g. --config.init_from=results/base/model)")
    if not loss.get("reference", ""):
        raise ValueError(f"loss.name={name!r} needs config.loss.reference, the frozen original "
                         "model (normally config.init_from; in a config file: "
                         "c.loss.reference = c.get_ref('init_from'))")

    reference = os.fspath(loss.reference)
    if (reference != os.fspath(config.init_from) and not os.path.exists(reference)
            and not HUB_ID.match(reference.removeprefix("hf-hub:"))):
        raise ValueError(f"config.loss.reference={reference!r} does not exist (current "
                         f"directory {os.getcwd()}): give the frozen original model, normally "
                         "config.init_from")
    if "text" not in locked_towers(config):
        raise ValueError(f"loss.name={name!r} trains the vision tower only: set "
                         "config.locked_towers=('text',)")
    if "vision" in locked_towers(config):
        raise ValueError(f"loss.name={name!r} trains the vision tower: remove 'vision' from "
                         "config.locked_towers")
    if float(loss.get("counting_weight", 0.0) or 0.0) > 0:
        raise ValueError(f"loss.name={name!r} takes no additive terms: set "
                         "loss.counting_weight=0")
    _attack_settings(loss, name)
    if name == "tecoa":
        _check_tecoa_data(config, list(loss.get("classnames", None) or ()))


def _check_tecoa_data(config, classnames) -> None:
    if not classnames or any(not isinstance(c, str) or not c for c in classnames):
        raise ValueError("loss.name='tecoa' needs loss.classnames, a list of the training "
                         f"classes' names (label id = index), got {classnames!r}")
    data = config.get("data", {})
    kind = data.get("type", "shapes")
    if kind not in LABELLED_SOURCES:
        raise ValueError(f"loss.name='tecoa' needs class labels; data.type={kind!r} has none: "
                         f"use one of {LABELLED_SOURCES}")
    if kind != "shapes":
        return
    from jclip.data import shapes
    from jclip.train.input_pipeline import source_options

    label = data.get("label", None)
    if not label:
        raise ValueError("loss.name='tecoa' on data.type='shapes' needs data.label, the scene "
                         "label to classify (e.g. --config.data.label=shape)")
    for source in tuple(data.get("sources", ())):
        if label not in shapes.LABELS.get(source, ()):
            raise ValueError(f"data.label={label!r} is not a label of the {source!r} scenes "
                             f"(labels {shapes.LABELS.get(source)})")
        names = shapes.classnames(source, label, **source_options(data, source))
        if len(names) != len(classnames):
            raise ValueError(f"loss.classnames has {len(classnames)} classes but data.label="
                             f"{label!r} of the {source!r} scenes has {len(names)}: {names}")
