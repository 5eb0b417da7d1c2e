"""Benchmark of the scalable metrics on CPU (or whatever jax.devices() offers).

  python -m experiments.bench_metrics                 # Vendi 1M, RKE 100k, COCO-size retrieval
  python -m experiments.bench_metrics --only retrieval_large   # 50k images x 250k captions
  python -m experiments.bench_metrics --only imagenet_classifier --classes 100   # ViT-B/32 text

Targets on a 2-core CPU: cosine Vendi of 1,000,000 x 512 features in <= 10 s; exact Gaussian
RKE of 100,000 samples in <= 60 s; retrieval recall at COCO size (5k x 25k) in a few seconds,
and at 50k x 250k without materialising the similarity matrix (its peak memory is reported).
Each line printed is a JSON record; --out also writes them to a file.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from jclip import metrics


def _timed(fn, *args, repeats=1, **kwargs):
    """(result, seconds of the first call incl. compilation, median of further calls or None)."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args, **kwargs))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats - 1):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args, **kwargs))
        times.append(time.perf_counter() - start)
    return out, first, (float(np.median(times)) if times else None)


def _peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _clustered(seed, n, d, modes=50, spread=0.5, chunk=100_000):
    """[n, d] float32 points around `modes` centres, generated in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(modes, d)).astype(np.float32)
    x = np.empty((n, d), np.float32)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        x[start:start + rows] = centers[rng.integers(0, modes, rows)]
        x[start:start + rows] += spread * rng.standard_normal((rows, d), np.float32)
    return jnp.asarray(x)


def _gram_matmul(x):
    return jnp.dot(x.T, x)


def bench_vendi(n, d):
    x = jax.block_until_ready(_clustered(0, n, d))
    score, first, steady = _timed(metrics.vendi_score, x, q=1.0, repeats=3)
    # the same run's plain X^T X (one XLA matmul, no normalisation): the floor on this machine
    _, _, matmul = _timed(jax.jit(_gram_matmul), x, repeats=3)
    return {"bench": "vendi_cosine", "n": n, "d": d, "vendi_q1": float(score),
            "first_call_s": first, "steady_s": steady, "plain_xtx_matmul_s": matmul,
            "peak_rss_gb": _peak_rss_gb()}


def bench_rke(n, d, sigma):
    x = jax.block_until_ready(_clustered(1, n, d))
    count, first, _ = _timed(metrics.rke_mode_count, x, sigma)
    return {"bench": "rke_exact", "n": n, "d": d, "sigma": sigma, "mode_count": float(count),
            "first_call_s": first, "peak_rss_gb": _peak_rss_gb()}


def bench_retrieval(n_img, captions_per_image, d, repeats):
    n_txt = n_img * captions_per_image
    key_i, key_t = jax.random.split(jax.random.key(2))
    zimg = jax.random.normal(key_i, (n_img, d))
    t2i = np.repeat(np.arange(n_img), captions_per_image).astype(np.int32)
    # captions are noisy copies of their image, so recall is neither 0 nor 1
    ztxt = zimg[t2i] + 6.0 * jax.random.normal(key_t, (n_txt, d))
    zimg = zimg / jnp.linalg.norm(zimg, axis=1, keepdims=True)
    ztxt = ztxt / jnp.linalg.norm(ztxt, axis=1, keepdims=True)
    jax.block_until_ready((zimg, ztxt))
    recall, first, steady = _timed(metrics.retrieval_recall, (zimg, ztxt), t2i,
                                   repeats=repeats)
    matmul = None
    if n_img * n_txt <= 2**28:  # the same run's dense similarity matmul, for reference
        _, _, matmul = _timed(jax.jit(lambda a, b: a @ b.T), zimg, ztxt, repeats=3)
    return {"bench": "retrieval_recall", "n_img": n_img, "n_txt": n_txt, "d": d,
            "recall": {k: round(float(v), 4) for k, v in recall.items()},
            "first_call_s": first, "steady_s": steady, "dense_similarity_matmul_s": matmul,
            "similarity_matrix_gb_if_materialised": n_img * n_txt * 4 / 2**30,
            "peak_rss_gb": _peak_rss_gb()}


def bench_imagenet_classifier(num_classes, templates_name, batch_size):
    """build_classifier for ViT-B/32's text tower (random weights: no downloads here).

    The real CLIP BPE vocabulary is not available offline, so a word-level tokenizer over the
    prompts' own words stands in; its prompts are about as long as BPE ones after bucketing.
    """
    import re

    import jclip
    from jclip.heads import prompts, zeroshot
    from jclip.tokenizer import WordTokenizer

    classnames = prompts.imagenet_classnames()[:num_classes]
    templates = (prompts.IMAGENET_TEMPLATES if templates_name == "80"
                 else prompts.SIMPLE_IMAGENET_TEMPLATES)
    texts = prompts.format_prompts(classnames, templates)
    words = sorted({w for t in texts for w in re.findall(r"[^\s.,;:!?\"()]+", t.lower())})
    tok = WordTokenizer([*words, "."], context_length=77)
    model = jclip.create_model("ViT-B-32", vocab_size=tok.vocab_size,
                               eos_token_id=tok.vocab_size - 1)
    init = jax.jit(lambda key, ids: model.init(key, ids, method="encode_text"))
    params = init(jax.random.key(0), jnp.asarray(tok(texts[:2])))["params"]
    classifier, first, _ = _timed(zeroshot.build_classifier, model, params, tok, classnames,
                                  templates, batch_size=batch_size)
    return {"bench": "build_classifier_vit_b32", "classes": num_classes,
            "templates": len(templates), "prompts": len(texts), "seconds": first,
            "prompts_per_s": len(texts) / first, "shape": list(classifier.shape),
            "eta_1000x80_s": 80_000 / (len(texts) / first)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=["vendi", "rke", "retrieval"],
                        choices=["vendi", "rke", "retrieval", "retrieval_large",
                                 "imagenet_classifier"])
    parser.add_argument("--vendi-n", type=int, default=1_000_000)
    parser.add_argument("--rke-n", type=int, default=100_000)
    parser.add_argument("--rke-d", type=int, default=64)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=1000, help="imagenet_classifier classes")
    parser.add_argument("--templates", default="80", choices=["80", "7"])
    parser.add_argument("--out", default=None, help="also write the JSON records here")
    args = parser.parse_args(argv)
    print(json.dumps({"devices": [str(dev) for dev in jax.devices()]}), flush=True)
    records = []
    for name in args.only:
        if name == "vendi":
            rec = bench_vendi(args.vendi_n, args.dim)
        elif name == "rke":
            rec = bench_rke(args.rke_n, args.rke_d, sigma=float(np.sqrt(args.rke_d)))
        elif name == "retrieval":
            rec = bench_retrieval(5_000, 5, args.dim, repeats=3)
        elif name == "retrieval_large":
            rec = bench_retrieval(50_000, 5, args.dim, repeats=1)
        else:
            rec = bench_imagenet_classifier(args.classes, args.templates, batch_size=256)
        records.append(rec)
        print(json.dumps(rec), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
