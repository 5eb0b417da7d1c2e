"""The study's figures, from summary.json and the per-seed eval results.

  robustness_severity.png     accuracy vs severity per corruption (reference model)
  robustness_effective.png    OOD vs ID accuracy on logit axes, the fit and y = x, per shift
  robustness_reliability.png  reliability diagrams before / after temperature scaling
  robustness_ood.png          ID vs OOD score histograms (reference model)
  robustness_spurious.png     easy / hard / drop vs training correlation; hard vs easy + fit
"""

from __future__ import annotations

import json
import os

import numpy as np

from jclip import figures

FIGURES = ("severity", "effective", "reliability", "ood", "spurious")


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_severity(summary: dict, path: str):
    mean, std = summary["mean"], summary["std"]
    acc = mean["corruptions"]
    clean = mean["corruption_severity_mean"]["0"]
    fig, ax = figures.subplots(figsize=(7, 4.2))
    cmap = figures.get_cmap("tab20")
    for i, (name, per) in enumerate(sorted(acc.items())):
        sev = sorted(per, key=int)
        ax.plot([0] + [int(s) for s in sev], [clean] + [per[s] for s in sev], marker=".",
                color=cmap(i % 20), label=name, lw=1)
    avg = mean["corruption_severity_mean"]
    sev = sorted(avg, key=int)
    ax.errorbar([int(s) for s in sev], [avg[s] for s in sev],
                yerr=[std["corruption_severity_mean"][s] for s in sev], color="k", lw=2.5,
                marker="o", label="mean", capsize=3)
    ax.set(xlabel="severity (0 = clean)", ylabel="zero-shot accuracy",
           title=f"Corruptions ({summary['per_seed'][str(summary['seeds'][0])]['reference_model']}"
                 f", {len(summary['seeds'])} seed(s))", ylim=(0, 1.02))
    ax.legend(fontsize=6, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _logit(p):
    p = np.clip(np.asarray(p, np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _spaced(ticks, gap):
    """The ticks (sorted probabilities) thinned so that neighbours lie >= gap apart in logit,
    keeping 0.5 when present."""
    keep = []
    for t in sorted(ticks, key=lambda t: abs(_logit(t))):  # from 0.5 outwards
        if all(abs(_logit(t) - _logit(k)) >= gap for k in keep):
            keep.append(t)
    return np.array(sorted(keep))


def plot_effective(summary: dict, path: str):
    from jclip.metrics import effective_robustness as er

    shifts = list(summary["per_seed"][str(summary["seeds"][0])]
                  ["effective_robustness_by_shift"])
    fig, axes = figures.subplots(1, len(shifts), figsize=(4.3 * len(shifts), 4), squeeze=False)
    ticks = np.array([1e-4, 1e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
                      0.95, 0.98, 0.99, 0.999, 0.9999])
    for ax, shift in zip(axes[0], shifts):
        for k, seed in enumerate(summary["seeds"]):
            entry = summary["per_seed"][str(seed)]["effective_robustness_by_shift"][shift]
            names = list(entry["id"])
            x, y = _logit([entry["id"][n] for n in names]), _logit([entry["ood"][n]
                                                                    for n in names])
            ax.scatter(x, y, s=25, label=f"seed {seed}", zorder=3)
            if k == 0:
                for n, xi, yi in zip(names, x, y):
                    ax.annotate(n, (xi, yi), fontsize=6, xytext=(3, 3),
                                textcoords="offset points")
            fit = entry["fit"]
            if "slope" in fit:
                line = np.linspace(x.min() - 0.3, x.max() + 0.3, 20)
                ax.plot(line, _logit(er.predicted_ood_accuracy(
                    er.sigmoid(line), fit)), lw=1, alpha=0.8)
        lo, hi = ax.get_xlim()
        lo, hi = min(lo, ax.get_ylim()[0]), max(hi, ax.get_ylim()[1])
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
        inside = _spaced(ticks[(_logit(ticks) >= lo) & (_logit(ticks) <= hi)], (hi - lo) / 9)
        ax.set_xticks(_logit(inside), [f"{t:g}" for t in inside], fontsize=7)
        ax.set_yticks(_logit(inside), [f"{t:g}" for t in inside], fontsize=7)
        ax.set(xlabel="ID accuracy (logit axis)", ylabel=f"{shift} accuracy (logit axis)",
               title=f"Effective robustness: {shift}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def _eval_result(workdir: str, seed, model: str, name: str) -> dict | None:
    path = os.path.join(workdir, f"seed_{seed}", "evals", model, f"{name}.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def plot_reliability(summary: dict, workdir: str, path: str):
    seed = summary["seeds"][0]
    ref = summary["per_seed"][str(seed)]["reference_model"]
    result = _eval_result(workdir, seed, ref, "calibration")
    if result is None:
        return None
    sets = list(result["reliability"])
    fig, axes = figures.subplots(1, len(sets), figsize=(3.3 * len(sets), 3.4), squeeze=False)
    for ax, name in zip(axes[0], sets):
        for key, color in (("before", "tab:red"), ("after", "tab:blue")):
            d = result["reliability"][name][key]
            num = lambda v: np.array([np.nan if a is None else a for a in v], float)
            conf, acc, count = num(d["confidence"]), num(d["accuracy"]), num(d["count"])
            seen = count > 0
            ece = result["metrics"][f"{name}/ece" + ("" if key == "before"
                                                     else "_temperature_scaled")]
            t = 1.0 if key == "before" else result["metrics"]["temperature"]
            ax.plot(conf[seen], acc[seen], "-", color=color, lw=1,
                    label=f"T = {t:.2f} (ECE {100 * ece:.1f})")
            ax.scatter(conf[seen], acc[seen], s=8 + 120 * count[seen] / count.sum(),
                       color=color, zorder=3)
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set(xlabel="confidence", ylabel="accuracy", title=name, xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Reliability ({ref}, seed {seed}): accuracy vs mean confidence per bin (15 "
                 "bins, marker area ~ images)", fontsize=9)
    return _save(fig, path)


def plot_ood(summary: dict, workdir: str, path: str):
    seed = summary["seeds"][0]
    entry = summary["per_seed"][str(seed)]
    ref = entry["reference_model"]
    pair = summary.get("config", {}).get("ood_primary")
    result = _eval_result(workdir, seed, ref, f"ood__{pair}") if pair else None
    if result is None:
        return None
    scores = list(result["histograms"])
    fig, axes = figures.subplots(1, len(scores), figsize=(3.2 * len(scores), 3), squeeze=False)
    for ax, score in zip(axes[0], scores):
        h = result["histograms"][score]
        edges = np.asarray(h["edges"])
        width = edges[1] - edges[0]
        ax.bar(edges[:-1], h["id"], width=width, align="edge", alpha=0.5, label="ID")
        ax.bar(edges[:-1], h["ood"], width=width, align="edge", alpha=0.5, label="OOD")
        auroc = result["metrics"][f"{score}/auroc"]
        ax.set(title=f"{score}: AUROC {100 * auroc:.1f}", xlabel="score", ylabel="images")
        ax.legend(fontsize=7)
    fig.suptitle(f"OOD detection, {pair} ({ref}, seed {seed})", fontsize=9)
    return _save(fig, path)


def plot_spurious(summary: dict, path: str):
    mean, std = summary["mean"], summary["std"]
    fig, (a, b) = figures.subplots(1, 2, figsize=(9, 3.8))
    corrs = sorted(mean["spurious"], key=float)
    x = [float(c) for c in corrs]
    for key in ("easy", "hard", "drop"):
        a.errorbar(x, [mean["spurious"][c][key] for c in corrs],
                   yerr=[std["spurious"][c][key] for c in corrs], marker="o", capsize=3,
                   label=key)
    a.axhline(0, color="k", lw=0.8)
    a.set(xlabel="training correlation P(typical background)", ylabel="accuracy / drop",
          title="Common (easy) vs counter (hard) backgrounds")
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    easy, hard = [], []
    for seed in summary["seeds"]:
        models = summary["per_seed"][str(seed)]["models"]
        e = [m["spurious"]["easy"] for m in models.values() if "spurious" in m]
        h = [m["spurious"]["hard"] for m in models.values() if "spurious" in m]
        b.scatter(e, h, s=22, label=f"seed {seed}")
        easy += e
        hard += h
    if len(easy) >= 2 and np.ptp(easy) > 0:
        slope, intercept = np.polyfit(easy, hard, 1)
        line = np.linspace(min(easy), max(easy), 10)
        b.plot(line, slope * line + intercept, "k-", lw=1,
               label=f"fit: hard = {slope:.2f} easy {intercept:+.2f}")
    b.plot([0, 1], [0, 1], "k--", lw=0.8, label="y = x")
    b.set(xlabel="easy accuracy", ylabel="hard accuracy", title="Hard vs easy, every model",
          xlim=(0, 1.02), ylim=(0, 1.02))
    b.grid(alpha=0.3)
    b.legend(fontsize=7)
    return _save(fig, path)


def make_all(summary: dict, workdir: str) -> list[str]:
    """Writes every figure the summary has data for into ``workdir``; returns the paths."""
    mean = summary["mean"]
    out = []
    if "corruptions" in mean:
        out.append(plot_severity(summary, os.path.join(workdir, "robustness_severity.png")))
    if "effective_robustness_by_shift" in summary["per_seed"][str(summary["seeds"][0])]:
        out.append(plot_effective(summary, os.path.join(workdir, "robustness_effective.png")))
    out.append(plot_reliability(summary, workdir,
                                os.path.join(workdir, "robustness_reliability.png")))
    out.append(plot_ood(summary, workdir, os.path.join(workdir, "robustness_ood.png")))
    if "spurious" in mean:
        out.append(plot_spurious(summary, os.path.join(workdir, "robustness_spurious.png")))
    return [p for p in out if p]
