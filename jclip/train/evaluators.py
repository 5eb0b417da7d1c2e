"""Evaluators run during training: zero-shot classification and retrieval on held-out scenes.

The held-out scenes are generated once from a seed stream that training never uses. Zero-shot
classification follows Radford et al. (2021): class embeddings are the normalised mean of the
prompt-template embeddings (``jclip.zeroshot.build_classifier``), the prediction is the argmax of
the cosine similarity. Retrieval (``jclip.metrics.retrieval_recall``) runs on the held-out scenes
whose captions are distinct (the first scene of each caption): with repeated captions a caption
would match several images equally well and recall@1 could not reach 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jclip.train import input_pipeline


def _normalize(z):
    return z / jnp.linalg.norm(z, axis=-1, keepdims=True).clip(1e-12)


class ShapesEvaluator:
    """Zero-shot accuracy per label and image<->text retrieval recall on held-out scenes.

    Each label is evaluated on ``num_examples`` held-out scenes of the first of ``data.sources``
    that has it (e.g. shape and colour on "attributes", count on "counting"). ``run(params)``
    returns {"zeroshot/<label>_accuracy": float, "retrieval/image_to_text@k",
    "retrieval/text_to_image@k"}; ``last_predictions`` keeps the per-label (labels, predictions)
    of the latest run (for confusion matrices) and ``classnames`` the label names.
    """

    def __init__(self, eval_config: ml_collections.ConfigDict, data: ml_collections.ConfigDict,
                 model, tokenizer, seed: int, *, batch_size: int = 256):
        from jclip.data import shapes
        from jclip.preprocessing import normalize

        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.labels = tuple(eval_config.labels)
        self.ks = tuple(eval_config.get("retrieval_ks", (1, 5)))
        sources = tuple(data.sources)
        self.source_of = {}
        for label in self.labels:
            having = [s for s in sources if label in shapes.LABELS[s]]
            if not having:
                raise ValueError(f"No source in data.sources={sources} has the label {label!r}")
            self.source_of[label] = having[0]
        self.images, self.targets, captions = {}, {}, []
        for i, source in enumerate(sources):
            scenes = shapes.generate(
                source, int(eval_config.num_examples),
                input_pipeline.derive_seed(seed, input_pipeline.EVAL_STREAM, i),
                **input_pipeline.source_options(data, source))
            self.images[source] = np.asarray(normalize(scenes["image"], model.config), np.float32)
            captions.append(scenes["caption"])
            for label in self.labels:
                if self.source_of[label] == source:
                    self.targets[label] = np.asarray(scenes[label])
        captions = np.concatenate(captions)
        _, first = np.unique(captions, return_index=True)
        self.retrieval_index = np.sort(first)  # scenes with distinct captions, all sources
        self.captions = [str(captions[i]) for i in self.retrieval_index]
        self.classnames = {
            label: shapes.classnames(self.source_of[label], label, **input_pipeline.source_options(
                data, self.source_of[label])) for label in self.labels}
        self.min_count = shapes.resolve_options("counting", **input_pipeline.source_options(
            data, self.source_of["count"]))["min_count"] if "count" in self.labels else 0
        self.templates = {
            label: shapes.templates(self.source_of[label], label) for label in self.labels}
        self._encode_image = jax.jit(
            lambda p, x: _normalize(model.apply({"params": p}, x, method="encode_image")))
        self._encode_text = jax.jit(
            lambda p, t: _normalize(model.apply({"params": p}, t, method="encode_text")))
        self.last_predictions: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _embed(self, fn, params, inputs):
        return np.concatenate([
            np.asarray(fn(params, inputs[i:i + self.batch_size]))
            for i in range(0, len(inputs), self.batch_size)
        ])

    def run(self, params) -> dict[str, float]:
        from jclip import metrics
        from jclip.heads import zeroshot

        zimg = {source: self._embed(self._encode_image, params, images)
                for source, images in self.images.items()}
        results = {}
        for label in self.labels:
            classifier = zeroshot.build_classifier(
                self.model, params, self.tokenizer, self.classnames[label],
                self.templates[label], batch_size=self.batch_size)
            logits = zimg[self.source_of[label]] @ np.asarray(classifier)
            if label == "count":  # count class ids are the counts: rule out those below min_count
                logits[:, :self.min_count] = -np.inf
            targets = self.targets[label]
            results[f"zeroshot/{label}_accuracy"] = float(
                metrics.accuracy(jnp.asarray(logits), jnp.asarray(targets), k=1))
            self.last_predictions[label] = (targets, logits.argmax(-1))
        all_zimg = np.concatenate(list(zimg.values()))[self.retrieval_index]
        tokens = np.asarray(self.tokenizer(self.captions), np.int32)
        ztxt = self._embed(self._encode_text, params, tokens)
        recall = metrics.retrieval_recall(
            jnp.asarray(all_zimg @ ztxt.T), jnp.arange(len(self.captions)),
            ks=tuple(k for k in self.ks if k <= len(self.captions)))
        results.update({f"retrieval/{k}": float(v) for k, v in recall.items()})
        return results
