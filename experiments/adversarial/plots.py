"""Plots of the adversarial study's summary.json: robust accuracy vs eps per method, and the
clean vs robust trade-off (means with ± std bars over the seeds)."""

from __future__ import annotations

import os

from jclip import figures

LABELS = {"vanilla": "vanilla", "tecoa": "TeCoA", "fare": "FARE", "ttc": "TTC (non-adaptive)",
          "ttc_adaptive": "TTC (adaptive attack)"}
MARKERS = {"vanilla": "o", "tecoa": "s", "fare": "^", "ttc": "D", "ttc_adaptive": "x"}


def curves(summary: dict, method: str):
    """(eps [0, e1, ...], mean accuracies, std) of a method: clean first, then each eps."""
    mean, std = summary["mean"][method], summary["std"][method]
    eps = list(mean["robust"])
    return ([0.0] + [float(e) for e in eps], [mean["clean"]] + [mean["robust"][e] for e in eps],
            [std["clean"]] + [std["robust"][e] for e in eps])


def plot_robust_vs_eps(summary: dict, path: str) -> None:
    fig, ax = figures.subplots(figsize=(5.2, 3.6))
    for method in summary["mean"]:
        if method not in LABELS:
            continue
        x, y, s = curves(summary, method)
        ax.errorbar(x, y, yerr=s, marker=MARKERS[method], capsize=3, label=LABELS[method])
    ax.set(xlabel="PGD eps (/255; 0 = clean)", ylabel="zero-shot accuracy", ylim=(-0.02, 1.02),
           title=f"Robust accuracy vs eps ({len(summary['seeds'])} seed(s))")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_tradeoff(summary: dict, path: str) -> None:
    methods = [m for m in summary["mean"] if m in LABELS]
    eps = list(summary["mean"][methods[0]]["robust"])
    fig, axes = figures.subplots(1, len(eps), figsize=(3.2 * len(eps), 3.2), squeeze=False)
    for ax, e in zip(axes[0], eps):
        for method in methods:
            m, s = summary["mean"][method], summary["std"][method]
            ax.errorbar(m["clean"], m["robust"][e], xerr=s["clean"], yerr=s["robust"][e],
                        marker=MARKERS[method], capsize=3, linestyle="none",
                        label=LABELS[method])
        ax.set(xlabel="clean accuracy", title=f"eps {e}/255", xlim=(-0.02, 1.02),
               ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("robust accuracy")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_all(summary: dict, workdir: str) -> list[str]:
    """Writes robust_vs_eps.png and tradeoff.png into ``workdir``; returns their paths."""
    paths = [os.path.join(workdir, "robust_vs_eps.png"), os.path.join(workdir, "tradeoff.png")]
    plot_robust_vs_eps(summary, paths[0])
    plot_tradeoff(summary, paths[1])
    return paths
