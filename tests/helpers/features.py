"""Reference features of the tiny model (tests.helpers.models.tiny_model) in float64: unit image
and text embeddings and CLIP's zero-shot classifier, one prompt at a time."""

import numpy as np

import jclip
from tests.helpers.models import tiny_model


def unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def image_features(images):
    model, params, _ = tiny_model()
    pixels = jclip.preprocess(images, model.config)
    return unit(model.apply({"params": params}, pixels, method="encode_image"))


def text_features(texts):
    model, params, tok = tiny_model()
    return unit(model.apply({"params": params}, tok(list(texts)), method="encode_text"))


def reference_classifier(names, templates):
    """CLIP's prompt ensemble, one prompt at a time, in float64."""
    columns = []
    for name in names:
        z = text_features([t.format(name) for t in templates])
        columns.append(unit(z.mean(0)))
    return np.stack(columns, 1)
