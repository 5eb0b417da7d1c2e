"""Figures of the counting study from its summary: confusion matrices side by side (base,
plain, counting loss), per-count accuracy of the arms, and count accuracy vs lambda."""

from __future__ import annotations

import os

import numpy as np

from jclip import figures


def _seeds(summary):
    return [summary["per_seed"][str(s)] for s in summary["seeds"]]


def plot_confusions(summary: dict, path: str) -> str:
    """Row-normalised confusion matrices (summed over seeds) of base, plain and counting_loss."""
    seeds = _seeds(summary)
    counts = seeds[0]["confusion"]["counts"]
    arms = [a for a in ("base", "plain", "counting_loss") if a in seeds[0]["confusion"]]
    fig, axes = figures.subplots(1, len(arms), figsize=(3.3 * len(arms), 3.2))
    for ax, arm in zip(np.atleast_1d(axes), arms):
        m = np.sum([np.asarray(s["confusion"][arm], np.float64) for s in seeds], 0)
        ax.imshow(m / np.maximum(m.sum(1, keepdims=True), 1), vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(counts)), counts)
        ax.set_yticks(range(len(counts)), counts)
        acc = np.trace(m) / max(m.sum(), 1)
        ax.set_title(f"{arm} (acc {100 * acc:.1f}%)", fontsize=9)
        ax.set_xlabel("predicted count")
    np.atleast_1d(axes)[0].set_ylabel("true count")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def plot_per_count(summary: dict, path: str) -> str:
    """Per-count accuracy (mean over seeds) of each arm, grouped bars."""
    seeds = _seeds(summary)
    counts = seeds[0]["confusion"]["counts"]
    arms = [a for a in ("base", "plain", "counting_loss") if a in seeds[0]["per_count_accuracy"]]
    fig, ax = figures.subplots(figsize=(5.5, 3))
    width = 0.8 / len(arms)
    for k, arm in enumerate(arms):
        acc = [np.nanmean([np.nan if s["per_count_accuracy"][arm][str(c)] is None
                           else s["per_count_accuracy"][arm][str(c)] for s in seeds])
               for c in counts]
        ax.bar(np.arange(len(counts)) + (k - (len(arms) - 1) / 2) * width, acc, width,
               label=arm)
    ax.set_xticks(range(len(counts)), counts)
    ax.set_ylim(0, 1)
    ax.set_xlabel("true count")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def plot_lambda(summary: dict, path: str) -> str:
    """Count, unseen-shape count, shape and colour accuracy vs lambda (mean ± std over seeds)."""
    seeds = _seeds(summary)
    lams = summary["lambdas"]
    order = np.argsort(lams)
    fig, ax = figures.subplots(figsize=(5, 3))
    keys = [k for k in ("count_accuracy", "unseen_count_accuracy", "shape_accuracy",
                        "color_accuracy") if k in seeds[0]["lambda_sweep"][f"{lams[0]:g}"]]
    for key in keys:
        values = np.array([[s["lambda_sweep"][f"{lams[i]:g}"][key] for i in order]
                           for s in seeds])
        ax.errorbar(np.asarray(lams)[order], values.mean(0), yerr=values.std(0), marker="o",
                    capsize=3, label=key.replace("_accuracy", ""))
    ax.set_xlabel("lambda (weight of the counting loss)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def plot_all(summary: dict, workdir: str) -> list[str]:
    os.makedirs(workdir, exist_ok=True)
    return [plot_confusions(summary, os.path.join(workdir, "counting_confusion.png")),
            plot_per_count(summary, os.path.join(workdir, "counting_per_count.png")),
            plot_lambda(summary, os.path.join(workdir, "counting_lambda.png"))]


def merge_sweeps(*summaries) -> dict:
    """One summary-like dict whose ``lambda_sweep`` per seed is the union of several runs'
    (e.g. the 3-seed runs with ``:nosweep`` and ``:lambda=2``), over the seeds they share, for
    ``plot_lambda``. Runs of the same seed agree on lambda 0 (same base, batches and seed)."""
    seeds = sorted(set.intersection(*(set(s["seeds"]) for s in summaries)))
    if not seeds:
        raise ValueError("the summaries share no seed")
    per_seed = {str(k): {"lambda_sweep": {}} for k in seeds}
    for s in summaries:
        for k in seeds:
            per_seed[str(k)]["lambda_sweep"].update(s["per_seed"][str(k)]["lambda_sweep"])
    lams = sorted({float(x) for s in summaries for x in s["lambdas"]})
    return {"seeds": seeds, "per_seed": per_seed, "lambdas": lams}
