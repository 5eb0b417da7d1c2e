"""Figures of the ordinal study: predicted vs true, per-rank MAE, confusion matrices."""

from __future__ import annotations

import os

import numpy as np

FIGURES = ("ordinal_pred_vs_true.png", "ordinal_per_rank_mae.png", "ordinal_confusion.png")


def _methods(raw):
    first = next(iter(raw.values()))
    return [m for m in first if m not in ("labels", "values")]


def plot_pred_vs_true(raw, task, path):
    import matplotlib.pyplot as plt

    seeds = sorted({s for s, t in raw if t == task})
    methods = _methods(raw)
    fig, axes = plt.subplots(1, len(methods), figsize=(2.6 * len(methods), 2.8), sharey=True)
    axes = np.atleast_1d(axes)
    rng = np.random.default_rng(0)
    values = np.asarray(raw[(seeds[0], task)]["values"])
    jitter = 0.2 * float(np.min(np.diff(values)))
    for ax, m in zip(axes, methods):
        truth = np.concatenate([values[np.asarray(raw[(s, task)]["labels"])] for s in seeds])
        pred = np.concatenate([raw[(s, task)][m]["predictions"] for s in seeds])
        ax.scatter(truth + rng.uniform(-jitter, jitter, truth.shape), pred, s=3, alpha=0.3)
        ax.plot([values[0], values[-1]], [values[0], values[-1]], "k--", lw=0.8)
        mae = np.mean([raw[(s, task)][m]["mae"] for s in seeds])
        ax.set(title=f"{m}\nMAE {mae:.2f}", xlabel="true value")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("predicted")
    fig.suptitle(f"{task}: predicted vs true ({len(seeds)} seed(s))", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_rank_mae(raw, tasks, path):
    import matplotlib.pyplot as plt

    methods = _methods(raw)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.0))
    axes = np.atleast_1d(axes)
    for ax, task in zip(axes, tasks):
        seeds = sorted({s for s, t in raw if t == task})
        width = 0.8 / len(methods)
        for i, m in enumerate(methods):
            per = np.nanmean([raw[(s, task)][m]["per_rank_mae"] for s in seeds], axis=0)
            ax.bar(np.arange(len(per)) + i * width - 0.4 + width / 2, per, width, label=m)
        values = raw[(seeds[0], task)]["values"]
        ax.set_xticks(np.arange(len(values)), [f"{v:g}" for v in values])
        ax.set(title=f"{task}: MAE per true value", xlabel="true value", ylabel="MAE")
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(raw, task, path):
    import matplotlib.pyplot as plt

    seeds = sorted({s for s, t in raw if t == task})
    methods = _methods(raw)
    fig, axes = plt.subplots(1, len(methods), figsize=(2.4 * len(methods), 2.6))
    axes = np.atleast_1d(axes)
    for ax, m in zip(axes, methods):
        matrix = np.sum([raw[(s, task)][m]["confusion_matrix"] for s in seeds], axis=0)
        rows = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
        ax.imshow(rows, vmin=0, vmax=1, cmap="Blues")
        ax.set(title=m, xlabel="predicted", ylabel="true")
    fig.suptitle(f"{task}: confusion (rows normalised; regressions at the nearest rank)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_all(raw, config, workdir) -> list[str]:
    """Writes the three figures of the primary task (per-rank MAE of every task) to workdir."""
    task = config.primary
    paths = [os.path.join(workdir, f) for f in FIGURES]
    plot_pred_vs_true(raw, task, paths[0])
    plot_per_rank_mae(raw, list(config.tasks), paths[1])
    plot_confusion(raw, task, paths[2])
    return paths
