"""Zero-shot image-text retrieval: recall@k in both directions, CLIP_benchmark's names.

With unit embeddings and s(t, i) = <text_t, image_i> (Radford et al., 2021, section 3.1.4;
the protocol of CLIP_benchmark's zeroshot_retrieval):

  image_retrieval_recall@k = mean_t [image of t is among the k images most similar to t],
  text_retrieval_recall@k  = mean_i [one of i's captions is among the k captions most similar
                                     to i].

The similarity matrix is never materialised (``jclip.metrics.retrieval_recall`` tiles it).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jclip import metrics

DEFAULTS = {"recall_k": (1, 5, 10)}


def run(ctx, task: dict) -> dict:
    data = ctx.dataset(task)
    feats = ctx.image_features(data)
    if feats.captions is None:
        raise ValueError(f"{data.name} has no captions: zeroshot_retrieval needs image-text "
                         "pairs (a retrieval dataset such as coco_captions or pairs:DIR)")
    texts, owner = [], []
    for i, caps in enumerate(feats.captions):
        texts += caps
        owner += [i] * len(caps)
    without = [i for i, caps in enumerate(feats.captions) if not caps]
    if without:
        raise ValueError(f"{data.name}: {len(without)} images have no caption (first: "
                         f"{without[:5]})")
    ks = tuple(int(k) for k in task["recall_k"])
    ztxt = ctx.text_features(texts)
    recall = metrics.retrieval_recall((jnp.asarray(feats.features), jnp.asarray(ztxt)),
                                      jnp.asarray(np.asarray(owner, np.int32)), ks=ks)
    out = {}
    for k in ks:
        out[f"image_retrieval_recall@{k}"] = float(recall[f"text_to_image@{k}"])
        out[f"text_retrieval_recall@{k}"] = float(recall[f"image_to_text@{k}"])
    return {"metrics": out, "num_examples": len(feats.features), "num_texts": len(texts),
            "split": data.split}
