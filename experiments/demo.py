"""The main demo (``make demo``): train a tiny CLIP from scratch on the synthetic scenes, evaluate.

  python -m experiments.demo --workdir results/demo [--config.total_steps=300 ...]

Trains with ``experiments/configs/shapes_tiny.py`` (resuming if the workdir has checkpoints),
then evaluates on held-out scenes through ``jclip.evals`` (the ``config.evals`` tasks): zero-shot
shape / colour / count accuracy and image<->text retrieval recall. Writes to the workdir:
summary.json, results.md (the table printed at the end), loss.png, zeroshot_accuracy.png,
count_confusion.png, the trained model (``jclip.load``-able and ``jclip-eval``-able, under model/)
and everything ``experiments.train`` writes (metrics.jsonl, TensorBoard, checkpoints).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs",
                              "shapes_tiny.py")
# summary.json key -> the trainer's metric (<config.evals name>/<jclip.evals metric>).
SUMMARY_KEYS = {
    "shape_accuracy": "shape/acc1",
    "color_accuracy": "color/acc1",
    "count_accuracy": "count/acc1",
    "image_to_text@1": "retrieval/text_retrieval_recall@1",
    "text_to_image@1": "retrieval/image_retrieval_recall@1",
    "image_to_text@5": "retrieval/text_retrieval_recall@5",
    "text_to_image@5": "retrieval/image_retrieval_recall@5",
}
ACCURACY_EVALS = ("shape", "color", "count")


def plot_loss(records, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["step"] for r in records], [r["loss"] for r in records])
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title="Training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy(records, labels, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label in labels:
        key = f"{label}/acc1"
        points = [(r["step"], r[key]) for r in records if key in r]
        if points:
            ax.plot(*zip(*points), marker="o", label=label)
    ax.set(xlabel="step", ylabel="zero-shot accuracy", ylim=(0, 1.02),
           title="Zero-shot accuracy (held-out scenes)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(matrix, names, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45)
    ax.set_yticks(range(len(names)), names)
    for i, j in np.ndindex(matrix.shape):
        if matrix[i, j]:
            dark = matrix[i, j] > 0.5 * matrix.max()
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set(xlabel="predicted count", ylabel="true count", title="Zero-shot counting")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def results_table(summary: dict) -> str:
    rows = [("zero-shot shape accuracy", "shape_accuracy"),
            ("zero-shot colour accuracy", "color_accuracy"),
            ("zero-shot count accuracy", "count_accuracy"),
            ("image -> text recall@1", "image_to_text@1"),
            ("text -> image recall@1", "text_to_image@1"),
            ("image -> text recall@5", "image_to_text@5"),
            ("text -> image recall@5", "text_to_image@5")]
    lines = ["| metric (held-out scenes) | value |", "|---|---|"]
    lines += [f"| {name} | {100 * summary[key]:.1f}% |" for name, key in rows if key in summary]
    run = (f"{summary['train_seconds']:.0f} s, {summary['steps_per_second']:.2f} steps/s"
           if summary["steps_this_run"] else "restored from the last checkpoint")
    lines.append(f"| training | {summary['total_steps']} steps x batch {summary['batch_size']}, "
                 f"{run} |")
    return "\n".join(lines)


def _parse(argv):
    from jclip.train import config as config_lib

    if not any(a == "--config" or a.startswith("--config=") for a in argv):
        argv = ["--config", DEFAULT_CONFIG, *argv]
    config, flags = config_lib.parse_args(argv)
    unknown = set(flags) - {"workdir"}
    if unknown:
        raise SystemExit(f"Unknown flags {sorted(unknown)}; known: --workdir, --config[.KEY]")
    return config, flags.get("workdir", "results/demo")


def main(argv: list[str]) -> int:
    import jax

    from jclip.train import loop, metric_writer

    config, workdir = _parse(argv)
    os.makedirs(workdir, exist_ok=True)
    if config.eval_every <= 0:
        config.eval_every = config.total_steps  # the demo always evaluates
    trainer = loop.Trainer(config, workdir)
    start = trainer.start_step
    t0 = time.perf_counter()
    try:
        trainer.run()
    except loop.NonFiniteLossError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    finally:
        trainer.close()
    seconds = time.perf_counter() - t0
    steps_run = config.total_steps - start

    records = metric_writer.read_metrics(workdir)
    last = records[-1] if records else {}
    if steps_run and last.get("step") == config.total_steps and trainer.last_eval_results:
        results = last  # the loop just evaluated the final params
    else:
        results = trainer.evaluate()
    windows = [r["steps_per_second"] for r in records[1:] if "steps_per_second" in r]
    summary = {key: results[src] for key, src in SUMMARY_KEYS.items() if src in results}
    summary.update(
        total_steps=int(config.total_steps), batch_size=int(config.batch_size),
        steps_this_run=int(steps_run), train_seconds=seconds,
        steps_per_second=(steps_run / seconds if steps_run else
                          float(np.median(windows)) if windows else 0.0),
        device_count=jax.device_count(), final_loss=records[-1]["loss"] if records else None,
        model=dict(config.model.overrides), data=config.data.to_dict(),
    )
    with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, default=list)

    plot_loss(records, os.path.join(workdir, "loss.png"))
    plot_accuracy(records, [n for n in ACCURACY_EVALS if n in config.evals],
                  os.path.join(workdir, "zeroshot_accuracy.png"))
    count = [r for r in trainer.last_eval_results
             if r["task_config"].get("name") == "count" and "confusion_matrix" in r]
    if count:  # over the counts the scenes can have (min_count..max_count)
        plot_confusion(np.asarray(count[0]["confusion_matrix"]), count[0]["class_names"],
                       os.path.join(workdir, "count_confusion.png"))
    trainer.save_model(os.path.join(workdir, "model"))

    table = results_table(summary)
    with open(os.path.join(workdir, "results.md"), "w") as f:
        f.write(table + "\n")
    print("\n" + table + f"\n\nWrote {workdir}/summary.json and plots.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
