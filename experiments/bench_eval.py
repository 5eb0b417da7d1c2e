"""Benchmark: end-to-end zero-shot classification, jclip.evals against CLIP_benchmark (PyTorch).

    python -m experiments.bench_eval                    # ViT-B/32, 10 classes x 80 templates, 256
    python -m experiments.bench_eval --repeats 3 --classes 10 --templates 80 --images 256
    python -m experiments.bench_eval --inputs files     # each side decodes and preprocesses
    python -m experiments.bench_eval --quick            # a seconds-long smoke run (tiny model)

Both sides evaluate the same weights on the same images in the same process, in fp32:
transformers' PyTorch ``CLIPModel`` at random init (OpenAI ViT-B/32 shapes, ``torch.manual_seed``)
and jclip's model built from that model's state dict. Task 1 is zero-shot classification with
``--templates`` of CLIP's 80 ImageNet templates over ``--classes`` ImageNet class names: the
classifier (every template x class prompt through the text tower), every image through the image
tower, and the metrics (acc1, acc5, mean per-class recall). jclip runs it with
``jclip.evals.evaluate`` on a fresh ``EvalContext``; CLIP_benchmark with its own
``clip_benchmark.metrics.zeroshot_classification.evaluate`` (``amp=False``) on the PyTorch model.
Task 2 is a second zero-shot classification of the same data with CLIP's 7 "simple" templates:
jclip runs it on the same context, which holds the image features of task 1 in memory, so only
the 70 prompts are encoded; CLIP_benchmark has no such cache and re-encodes the images.

Inputs (``--inputs``):
  tensors (default): the photographs are decoded and preprocessed once, before any timing
    (``jclip.preprocess``, equal to transformers' ``CLIPImageProcessor``), and both sides are
    given the same float32 pixels (jclip through an ``EvalData`` source, CLIP_benchmark through
    a torch DataLoader), so the timings are model + classifier + metrics only.
  files: both read the same JPEG files (a folder per class) with their own pipelines: jclip as
    ``folder:DIR`` (PIL decoding and ``jclip.preprocess`` in ``--workers`` threads), CLIP_benchmark
    through a DataLoader (``--workers`` persistent worker processes) that decodes with PIL and
    runs ``CLIPImageProcessorPil``.

Text: one word-level tokenizer over the prompts' words, with CLIP's start / end ids and padding to
77 tokens (as OpenCLIP's tokenizer pads for CLIP_benchmark), serves both sides; jclip's text
encoder stops at the longest prompt's length bucket, PyTorch runs all 77 positions, or with
``--torch-text-length longest`` only up to the longest prompt of each call (a stricter baseline:
what a ``padding="longest"`` tokenizer would give CLIP_benchmark).

Timing: the first evaluation of each side is reported on its own (jclip's includes XLA
compilation). Every repeat then times task 1 and task 2 of both sides, alternating which side goes
first. jclip gets a fresh ``EvalContext`` per repeat, so no features or classifiers are cached
between repeats; its image encoder is jitted per context and its executable served by JAX's
persistent compilation cache (``--no-compile-cache``: compiled again every repeat), its text
encoder is jitted once per process.
Medians are reported with the speed-ups (CLIP_benchmark time / jclip time) against the targets
(>= 2x for task 1, >= 10x for task 2 on cached embeddings), with the CPU model. CPU ratios depend
on the machine and on its load: quote them with the CPU model.

The CLIP_benchmark side lives in experiments/clip_benchmark_reference.py, also the reference
harness of tests/test_evals_clip_benchmark.py.

Writes --output (default results/bench_eval.json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np

from experiments.clip_benchmark_reference import (
    ClipIdWordTokenizer,
    ImageFiles,
    TensorImages,
    TorchCLIP,
    clip_image_processor,
    numpy2_accuracy,
    prompt_words,
    read_rgb,
    torch_tokenizer,
    write_class_folder,
)

TARGETS = {"task1_speedup": 2.0, "task2_speedup": 10.0}
TENSOR_SOURCE = "benchtensors"  # the dataset-spec prefix of --inputs tensors

def build_models(quick: bool, seed: int = 0):
    """transformers' CLIPModel at random init (ViT-B/32, or a tiny one when ``quick``) and jclip's
    model with the same weights -> (hf_model, jclip_model, params)."""
    import jax
    import jax.numpy as jnp
    import torch
    import transformers

    import jclip
    from jclip.pretrained.hf import config_from_hf, hf_key_map
    from jclip.pretrained.load import convert_state_dict

    if quick:
        hf_config = transformers.CLIPConfig(
            text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4),
            vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4, image_size=64, patch_size=16),
            projection_dim=32)
    else:
        hf_config = transformers.CLIPConfig()  # OpenAI ViT-B/32 shapes
    torch.manual_seed(seed)
    hf = transformers.CLIPModel(hf_config).eval()
    config = config_from_hf(hf_config.to_dict())
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    params = convert_state_dict(state, hf_key_map(config), config,
                                ignored=lambda k: k.endswith("position_ids"))
    return hf, jclip.create_model(config), jax.tree.map(jnp.asarray, params)


# ---------------------------------------------------------------------------------------------
# One evaluation of each side.


def tensor_source(pixels: np.ndarray, labels: np.ndarray, classnames, name: str):
    """A ``jclip.evals.datasets.SOURCES`` entry serving preprocessed ``pixels`` [N, S, S, 3] as
    a classification ``EvalData`` (the images are not preprocessed again)."""
    from jclip.data import pipeline
    from jclip.evals.datasets import EvalData, fingerprint

    n = len(labels)
    load = lambda i: {"image": pixels[i], "label": labels[i]}

    def make_batches(preprocess, batch_size, process_index, process_count, num_workers):
        return pipeline.list_batches(list(range(n)), load, preprocess=None,
                                     batch_size=batch_size, process_index=process_index,
                                     process_count=process_count, num_workers=num_workers)

    def source(rest, split, data_dir=None):
        return EvalData(name=f"{name}:{rest}", split=split or "test", kind="classification",
                        classnames=tuple(classnames), templates=None, make_batches=make_batches,
                        fingerprint=fingerprint(name, rest, n), expected_examples=lambda: n)

    return source


def run_jclip(model, params, tok, spec, classnames, templates, second, *, batch_size, workers):
    """Task 1 then task 2 on one fresh EvalContext -> (seconds 1, seconds 2, results)."""
    from jclip import evals

    tasks = [{"type": "zeroshot_classification", "dataset": spec, "classnames": list(classnames),
              "templates": list(t)} for t in (templates, second)]
    start = time.perf_counter()
    ctx = evals.EvalContext(model, params, tok, batch_size=batch_size, num_workers=workers,
                            progress=False)
    first = evals.evaluate(model, params, tok, tasks[0], context=ctx)
    middle = time.perf_counter()
    again = evals.evaluate(model, params, tok, tasks[1], context=ctx)
    end = time.perf_counter()
    return middle - start, end - middle, first + again


def run_clip_benchmark(adapter, loader, tokenize, classnames, templates):
    """CLIP_benchmark's classification ``evaluate`` (fp32) -> (seconds, metrics, breakdown)."""
    from clip_benchmark.metrics import zeroshot_classification

    cb_templates = [t.replace("{}", "{c}") for t in templates]  # its slot is "{c}"
    adapter.seconds = dict.fromkeys(adapter.seconds, 0.0)
    start = time.perf_counter()
    with numpy2_accuracy():
        out = zeroshot_classification.evaluate(adapter, loader, tokenize, list(classnames),
                                               cb_templates, device="cpu", amp=False)
    seconds = time.perf_counter() - start
    return seconds, out, {k: round(v, 4) for k, v in adapter.seconds.items()}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else platform.processor())."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=10, help="first N ImageNet class names")
    parser.add_argument("--templates", type=int, default=80, help="first N of CLIP's 80")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--inputs", choices=("tensors", "files"), default="tensors")
    parser.add_argument("--workers", type=int, default=2,
                        help="jclip loading threads; DataLoader processes with --inputs files")
    parser.add_argument("--torch-text-length", choices=("77", "longest"), default="77",
                        help="CLIP_benchmark's prompts padded to 77 (OpenCLIP's tokenizer) or "
                             "cut after the longest prompt of each class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="no JAX persistent compilation cache: every fresh context compiles")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny model, 6 classes x 4 templates, 24 images, one "
                             "repeat, no compilation cache")
    parser.add_argument("--output", default="results/bench_eval.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.classes, args.templates, args.images, args.repeats = 6, 4, 24, 1
        args.batch_size, args.no_compile_cache = min(args.batch_size, 16), True
    from jclip.heads import prompts

    if not 1 <= args.templates <= len(prompts.IMAGENET_TEMPLATES):
        parser.error(f"--templates must be in 1..{len(prompts.IMAGENET_TEMPLATES)}")
    if not 2 <= args.classes <= 1000:
        parser.error("--classes must be in 2..1000")
    if args.images < args.classes:
        parser.error(f"--images {args.images} < --classes {args.classes}: one image per class "
                     "at least")
    if args.repeats < 1 or args.batch_size < 1 or args.workers < 0:
        parser.error("--repeats and --batch-size must be positive, --workers >= 0")
    return args


def _no_progress(iterable, *args, **kwargs):
    return iterable


@contextlib.contextmanager
def _environment(args):
    """A scratch folder for the images; CLIP_benchmark's progress bars off (its modules'
    ``tqdm``); JAX's persistent compilation cache on (unless --no-compile-cache). Undone on
    exit, so that ``main`` can run inside another program (the tests)."""
    import shutil

    import jax
    from clip_benchmark.metrics import zeroshot_classification

    workdir = tempfile.mkdtemp(prefix="bench_eval_")
    saved_tqdm = zeroshot_classification.tqdm
    zeroshot_classification.tqdm = _no_progress
    saved_cache = None
    if not args.no_compile_cache:
        names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                 "jax_persistent_cache_min_entry_size_bytes")
        saved_cache = {n: getattr(jax.config, n) for n in names}
        values = (os.path.join(workdir, "jax_cache"), 0.0, 0)
        for name, value in zip(names, values):
            jax.config.update(name, value)
    try:
        yield workdir
    finally:
        if saved_cache is not None:
            for name, value in saved_cache.items():
                jax.config.update(name, value)
        zeroshot_classification.tqdm = saved_tqdm
        shutil.rmtree(workdir, ignore_errors=True)


def _inputs(args, workdir, model, classnames):
    """Writes the images -> (jclip dataset spec, CLIP_benchmark DataLoader, description)."""
    import torch

    import jclip
    from jclip.evals import datasets

    files, labels = write_class_folder(os.path.join(workdir, "images"), args.classes,
                                       args.images, args.seed)
    if args.inputs == "tensors":
        pixels = jclip.preprocess([read_rgb(f) for f in files], model.config)
        datasets.SOURCES[TENSOR_SOURCE] = tensor_source(pixels, labels, classnames,
                                                        TENSOR_SOURCE)
        loader = torch.utils.data.DataLoader(TensorImages(pixels, labels, classnames),
                                             batch_size=args.batch_size, num_workers=0)
        return f"{TENSOR_SOURCE}:photos", loader, (
            "both sides are given the same preprocessed float32 pixels (jclip.preprocess, "
            "equal to CLIPImageProcessor), decoded and preprocessed before any timing")
    dataset = ImageFiles(files, labels, classnames,
                         clip_image_processor(model.config.image_size))
    # Worker processes from a fork server, not forked from this process (which runs JAX's
    # threads), kept across evaluations: their start-up falls in the first run only.
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, num_workers=args.workers,
        multiprocessing_context="forkserver" if args.workers else None,
        persistent_workers=args.workers > 0)
    return f"folder:{os.path.join(workdir, 'images')}", loader, (
        "both sides read the same JPEG files with their own pipelines: jclip folder:DIR (PIL "
        "+ jclip.preprocess in threads), CLIP_benchmark a DataLoader (PIL + transformers' "
        "CLIPImageProcessorPil in worker processes)")


def _measure(args, run_jclip_once, run_cb_once, templates, second):
    """First runs, then ``args.repeats`` rounds alternating which side goes first."""
    first_j1, first_j2, results = run_jclip_once()
    first_cb, cb_metrics, _ = run_cb_once(templates)
    print(f"first runs: jclip {first_j1:.2f} s (+ {first_j2:.2f} s task 2), CLIP_benchmark "
          f"{first_cb:.2f} s", flush=True)
    times = {k: [] for k in ("jclip_task1", "jclip_task2", "cb_task1", "cb_task2")}
    parts = {}
    for r in range(args.repeats):
        for side in (("jclip", "cb") if r % 2 == 0 else ("cb", "jclip")):
            if side == "jclip":
                t1, t2, results = run_jclip_once()
                times["jclip_task1"].append(t1)
                times["jclip_task2"].append(t2)
                parts["jclip_task1"], parts["jclip_task2"] = (r["timings"] for r in results)
                continue
            for key, chosen in (("cb_task1", templates), ("cb_task2", second)):
                seconds, metrics, parts[key] = run_cb_once(chosen)
                times[key].append(seconds)
                cb_metrics = metrics if key == "cb_task1" else cb_metrics
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              flush=True)
    first = {"jclip_task1": round(first_j1, 4), "jclip_task2": round(first_j2, 4),
             "cb_task1": round(first_cb, 4)}
    return first, times, parts, results[0]["metrics"], cb_metrics


def main(argv=None):
    """Runs the benchmark (see the module docstring) -> the report written to --output."""
    args = parse_args(argv)
    try:
        import clip_benchmark.metrics.zeroshot_classification  # noqa: F401
        import torch
    except ImportError as e:
        raise SystemExit(f"bench_eval needs torch and clip-benchmark ({e}); install them with "
                         "`pip install torch` and `pip install --no-deps clip-benchmark`") from None
    import jax

    from jclip.evals import datasets
    from jclip.heads import prompts

    classnames = prompts.imagenet_classnames()[: args.classes]
    templates = list(prompts.IMAGENET_TEMPLATES[: args.templates])
    second = list(prompts.SIMPLE_IMAGENET_TEMPLATES)
    tok = ClipIdWordTokenizer(prompt_words(prompts.format_prompts(classnames,
                                                                  templates + second)))
    hf, model, params = build_models(args.quick, args.seed)
    adapter = TorchCLIP(hf)
    tokenize = torch_tokenizer(tok, trim=args.torch_text_length == "longest")
    load_before = os.getloadavg()[0]
    with _environment(args) as workdir:
        try:
            spec, loader, inputs_note = _inputs(args, workdir, model, classnames)
            print(f"{args.images} images, {args.classes} classes x {args.templates} templates, "
                  f"inputs={args.inputs}, {'tiny model' if args.quick else 'ViT-B/32'}",
                  flush=True)
            first, times, parts, jm, cm = _measure(
                args,
                lambda: run_jclip(model, params, tok, spec, classnames, templates, second,
                                  batch_size=args.batch_size, workers=args.workers),
                lambda t: run_clip_benchmark(adapter, loader, tokenize, classnames, t),
                templates, second)
        finally:
            datasets.SOURCES.pop(TENSOR_SOURCE, None)
    medians = {f"{k}_s": round(statistics.median(v), 4) for k, v in times.items()}
    speedups = {
        "task1_speedup": round(medians["cb_task1_s"] / medians["jclip_task1_s"], 2),
        "task2_speedup": round(medians["cb_task2_s"] / medians["jclip_task2_s"], 2),
        "first_run_task1_speedup": round(first["cb_task1"] / first["jclip_task1"], 2),
    }
    keys = [k for k in ("acc1", "acc5", "mean_per_class_recall") if not np.isnan(jm[k])]
    report = {
        "meta": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
                 "torch_threads": torch.get_num_threads(), "jax": jax.__version__,
                 "backend": jax.default_backend(), "torch": torch.__version__,
                 "machine": platform.machine(),
                 "loadavg_1min": {"before": load_before, "after": os.getloadavg()[0]}},
        "setup": {"model": "tiny CLIP (quick)" if args.quick else "ViT-B/32 at random init",
                  "precision": "fp32", "classes": args.classes, "templates": args.templates,
                  "second_task_templates": len(second), "images": args.images,
                  "batch_size": args.batch_size, "inputs": args.inputs,
                  "inputs_note": inputs_note, "workers": args.workers,
                  "repeats": args.repeats, "compile_cache": not args.no_compile_cache,
                  "text": "one word tokenizer padded to 77 for both; jclip encodes up to the "
                          "longest prompt's length bucket, PyTorch "
                          + ("all 77 positions" if args.torch_text_length == "77" else
                             "up to the longest prompt of each class (padding='longest')")},
        "first_run_s": first,
        "median_s": medians,
        "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "breakdown_last_repeat": parts,
        "speedups": speedups,
        "targets": TARGETS,
        "meets_targets": {k: speedups[k] >= v for k, v in TARGETS.items()},
        "metrics": {"jclip": jm, "clip_benchmark": cm,
                    "max_abs_diff": max(abs(jm[k] - cm[k]) for k in keys)},
    }
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({"median_s": medians, "speedups": speedups,
                      "cpu": report["meta"]["cpu_model"]}))
    print(f"wrote {args.output}")
    return report


if __name__ == "__main__":
    main()
