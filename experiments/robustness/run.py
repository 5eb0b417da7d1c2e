"""The robustness study as a library function: ``run(config, seeds, workdir) -> summary``.

Per seed: train (or reuse) the testbed models of ``config.models`` (or load pretrained ones),
run the ``config.tasks`` of ``jclip.evals`` on every model (results under
``workdir/seed_S/evals/<model>/``), then analyse across models: accuracy per corruption and
severity, the spurious drop per training correlation, OOD scores, calibration and effective
robustness (``jclip.metrics.effective_robustness``). ``workdir/summary.json`` holds every seed
and the mean / std over seeds (``experiments.common.summarize_seeds``); plots go next to it.
"""

from __future__ import annotations

import copy
import json
import os
import time

import numpy as np

from experiments import common

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs",
                              "default.py")
TASK_GROUPS = ("shifts", "ood")  # tasks.<group> is a dict name -> task
SINGLE_TASKS = ("id", "corruption", "spurious", "calibration")
_DATA_KEYS = ("data", "ood_data", "validation_data", "easy_data", "hard_data")


# -- configuration -----------------------------------------------------------------------------

def plain(config) -> dict:
    """The config as plain dicts and lists."""
    return config.to_dict() if hasattr(config, "to_dict") else copy.deepcopy(dict(config))


def task_list(tasks: dict) -> list[tuple[str, dict]]:
    """[(key, task)] of every task of the config: "id", "shift/<name>", "ood/<name>", ..."""
    out = []
    for key in SINGLE_TASKS:
        if tasks.get(key):
            out.append((key, dict(tasks[key])))
    for group in TASK_GROUPS:
        for name, task in (tasks.get(group) or {}).items():
            out.append((f"{group}/{name}", dict(task)))
    return out


def seeded(task: dict, seed: int) -> dict:
    """The task with the study seed as the seed of its generated data and corruptions."""
    task = copy.deepcopy(task)
    for key in _DATA_KEYS:
        if isinstance(task.get(key), dict) and "seed" in task[key]:
            task[key]["seed"] = int(seed)
    for shift in task.get("shifts") or ():
        if isinstance(shift, dict) and isinstance(shift.get("data"), dict) \
                and "seed" in shift["data"]:
            shift["data"]["seed"] = int(seed)
    if task.get("type") in ("corruption", "calibration") and "seed" in task:
        task["seed"] = int(seed)
    return task


def check_config(config: dict) -> None:
    """Every problem of a study config that can be found before training (ValueError)."""
    from jclip.evals import datasets, runner

    models = config.get("models") or []
    names = [m.get("name") for m in models]
    if len(models) < 2:
        raise ValueError(f"the robustness study needs at least 2 models (the reference set of "
                         f"the effective-robustness fit), got {len(models)}")
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"model names must be distinct and non-empty, got {names}")
    for m in models:
        if ("train" in m) == ("source" in m):
            raise ValueError(f"model {m.get('name')!r} needs exactly one of 'train' (a testbed "
                             f"model) or 'source' (a jclip.load source)")
        if "train" in m:
            corr, steps = m["train"].get("correlation"), m["train"].get("steps")
            if corr is None or not 0.0 <= float(corr) <= 1.0:
                raise ValueError(f"model {m['name']!r}: train.correlation must be in [0, 1], "
                                 f"got {corr!r}")
            if not isinstance(steps, int) or steps < 1:
                raise ValueError(f"model {m['name']!r}: train.steps must be a positive int, "
                                 f"got {steps!r}")
    if config.get("reference_model") not in names:
        raise ValueError(f"reference_model {config.get('reference_model')!r} is not one of the "
                         f"models {names}")
    tasks = config.get("tasks") or {}
    unknown = set(tasks) - set(SINGLE_TASKS) - set(TASK_GROUPS)
    if unknown:
        raise ValueError(f"unknown task group(s) {sorted(unknown)}; known: "
                         f"{list(SINGLE_TASKS) + list(TASK_GROUPS)}")
    if not tasks.get("id"):
        raise ValueError("the study needs tasks.id (the ID zero-shot classification task)")
    known_shifts = set(tasks.get("shifts") or {}) | ({"corruptions"} if tasks.get("corruption")
                                                     else set())
    for shift in config.get("er_shifts") or ():
        if shift not in known_shifts:
            raise ValueError(f"er_shifts names {shift!r}, which is not a shift of the config "
                             f"(known: {sorted(known_shifts)})")
    if config.get("er_primary") and config["er_primary"] not in (config.get("er_shifts") or ()):
        raise ValueError(f"er_primary {config['er_primary']!r} is not in er_shifts")
    for key, task in task_list(tasks):
        checked = runner.check_task(task)
        datasets.get_eval_data(checked["dataset"], checked["split"],
                               classnames=checked.get("classnames"),
                               **dict(checked.get("data") or {}))
        if checked["type"] == "ood":
            ind = datasets.get_eval_data(checked["dataset"], checked["split"],
                                         **dict(checked.get("data") or {}))
            ood = datasets.get_eval_data(checked["ood_dataset"], checked["ood_split"],
                                         **dict(checked.get("ood_data") or {}))
            if ind.fingerprint == ood.fingerprint and ind.split == ood.split:
                raise ValueError(f"task {key}: the OOD set is the ID set ({ind.name}, "
                                 f"{ind.split}); hold out classes or use another dataset")


# -- models ------------------------------------------------------------------------------------

def train_config(spec: dict, train: dict, seed: int):
    """The trainer config (``experiments/configs/shapes_tiny.py`` adapted) of a testbed model."""
    config = common.load_config_file(os.path.join(common.CONFIGS_DIR, "shapes_tiny.py"))
    config.seed = int(seed)
    config.total_steps = int(spec["train"]["steps"])
    config.batch_size = int(train["batch_size"])
    config.log_every = max(1, config.total_steps // 3)
    config.eval_every = 0
    config.checkpoint_every = 0
    config.tensorboard = False
    config.optim.lr = float(train["lr"])
    config.optim.warmup_steps = min(int(train["warmup_steps"]), config.total_steps // 2)
    config.model.context_length = int(train["context_length"])
    config.model.overrides = dict(train["model"])
    config.data.sources = ("spurious",)
    config.data.options = dict(train["options"])
    config.data.source_options = dict(spurious=dict(
        correlation=float(spec["train"]["correlation"]), split="train"))
    config.evals = {}
    return config


def testbed_model(spec: dict, train: dict, seed: int, folder: str) -> str:
    """Trains a testbed model into ``folder`` (its model under folder/model), or reuses a model
    trained there with the same config; returns the model folder."""
    from jclip.train import loop

    config = train_config(spec, train, seed)
    marker = os.path.join(folder, "model", "robustness_model.json")
    wanted = json.loads(config.to_json_best_effort())
    if os.path.isfile(marker):
        with open(marker) as f:
            if json.load(f) == wanted:
                print(f"  reusing {folder}/model", flush=True)
                return os.path.join(folder, "model")
    if os.path.isdir(folder):
        import shutil

        shutil.rmtree(folder)  # another config's run: start over
    start = time.perf_counter()
    loop.train(config, folder)
    with open(marker, "w") as f:
        json.dump(wanted, f)
    print(f"  trained {spec['name']} ({config.total_steps} steps, correlation "
          f"{spec['train']['correlation']:.2f}) in {time.perf_counter() - start:.0f} s",
          flush=True)
    return os.path.join(folder, "model")


def load_model(source: str, tokenizer: str | None = None):
    """(model, params, tokenizer) of a jclip.load source (a folder, hub id, ...)."""
    import jclip

    model, params = jclip.load(source)
    return model, params, jclip.load_tokenizer(
        source, context_length=model.config.context_length, tokenizer=tokenizer)


# -- one seed ----------------------------------------------------------------------------------

def evaluate_models(config: dict, seed: int, workdir: str) -> dict:
    """{model name: {task key: result}} for every model of the config at ``seed``."""
    from jclip import evals

    tasks = [(key, seeded(task, seed)) for key, task in task_list(config["tasks"])]
    results = {}
    for spec in config["models"]:
        name = spec["name"]
        print(f"[seed {seed}] {name}", flush=True)
        if "train" in spec:
            folder = testbed_model(spec, config["train"], seed,
                                   os.path.join(workdir, "models", name))
            model, params, tok = load_model(folder)
        else:
            model, params, tok = load_model(spec["source"], spec.get("tokenizer"))
        start = time.perf_counter()
        named = [dict(task, name=key.replace("/", "__")) for key, task in tasks]
        out = evals.evaluate(model, params, tok, named, workdir=os.path.join(
            workdir, "evals", name), model_name=name, progress=False,
            batch_size=int(config.get("eval_batch_size", 256)))
        results[name] = {key: r for (key, _), r in zip(tasks, out)}
        print(f"  evaluated {name} in {time.perf_counter() - start:.0f} s", flush=True)
    return results


def _shift_accuracy(result: dict, shift: str) -> float:
    if shift == "corruptions":
        return result["corruption"]["metrics"]["mean/acc1"]
    return result[f"shifts/{shift}"]["metrics"]["acc1"]


def effective_robustness(results: dict, shifts, names) -> dict:
    """{shift: {"fit": {slope, intercept, r, num_models}, "er": {model: ER}, "id", "ood"}} with
    every model of the testbed as the reference set."""
    from jclip.metrics import effective_robustness as er

    acc_id = [results[n]["id"]["metrics"]["acc1"] for n in names]
    out = {}
    for shift in shifts:
        acc_ood = [_shift_accuracy(results[n], shift) for n in names]
        try:
            fit = er.logit_linear_fit(acc_id, acc_ood)
            values = er.effective_robustness(acc_id, acc_ood, fit)
        except ValueError as e:  # e.g. every model at the same ID accuracy: no line
            print(f"  effective robustness on {shift}: {e}", flush=True)
            fit, values = {"error": str(e)}, [float("nan")] * len(names)
        out[shift] = {"fit": fit, "er": dict(zip(names, map(float, values))),
                      "id": dict(zip(names, acc_id)), "ood": dict(zip(names, acc_ood))}
    return out


def _linear_fit(x, y) -> dict:
    from scipy import stats

    if len(x) < 2 or np.ptp(x) == 0:
        return {"error": "needs at least 2 models with different easy accuracies"}
    fit = stats.linregress(x, y)
    return {"slope": float(fit.slope), "intercept": float(fit.intercept),
            "r": float(fit.rvalue)}


def model_table(spec: dict, r: dict, config: dict) -> dict:
    """The per-model numbers of the summary."""
    row = {"id_acc1": r["id"]["metrics"]["acc1"]}
    if "train" in spec:
        row["train"] = dict(spec["train"])
    row["shifts"] = {k.split("/", 1)[1]: v["metrics"]["acc1"] for k, v in r.items()
                     if k.startswith("shifts/")}
    if "corruption" in r:
        row["corruption_mean_acc1"] = r["corruption"]["metrics"]["mean/acc1"]
    if "spurious" in r:
        m = r["spurious"]["metrics"]
        row["spurious"] = {"easy": m["easy/acc1"], "hard": m["hard/acc1"], "drop": m["drop"],
                           "per_class": r["spurious"]["per_class"]}
    row["ood"] = {k.split("/", 1)[1]: _ood_table(v) for k, v in r.items()
                  if k.startswith("ood/")}
    if "calibration" in r:
        row["calibration"] = _calibration_table(r["calibration"])
    return row


def _ood_table(result: dict) -> dict:
    out = {}
    for key, value in result["metrics"].items():
        if "/" in key:
            score, metric = key.split("/", 1)
            out.setdefault(score, {})[metric] = value
    return out


def _calibration_table(result: dict) -> dict:
    m = result["metrics"]
    sets = [name for name in result["set_sizes"] if name != "id"]
    keys = ("ece", "ece_temperature_scaled", "nll", "nll_temperature_scaled", "acc1")
    out = {k: m[f"id/{k}"] for k in keys}
    out["temperature"] = m["temperature"]
    out["shifts"] = {s: {k: m[f"{s}/{k}"] for k in keys} for s in sets}
    return out


def analyse(config: dict, results: dict, seconds: dict) -> dict:
    """The seed's summary entry from the per-model task results."""
    specs = {m["name"]: m for m in config["models"]}
    names = [m["name"] for m in config["models"]]
    ref = config["reference_model"]
    models = {n: model_table(specs[n], results[n], config) for n in names}
    out = {"models": models, "reference_model": ref, "timings": seconds}
    r = results[ref]
    if "corruption" in r:
        acc = r["corruption"]["accuracy"]
        out["corruptions"] = acc
        severities = sorted({s for per in acc.values() for s in per}, key=int)
        out["corruption_severity_mean"] = {
            "0": r["corruption"]["metrics"]["clean/acc1"],
            **{s: float(np.mean([per[s] for per in acc.values() if s in per]))
               for s in severities}}
    trained = [n for n in names if "train" in specs[n] and "spurious" in models[n]]
    if trained:  # per training correlation, the model with the largest budget
        best = {}
        for n in trained:
            corr = f"{specs[n]['train']['correlation']:.2f}"
            if corr not in best or specs[n]["train"]["steps"] > specs[best[corr]]["train"][
                    "steps"]:
                best[corr] = n
        out["spurious"] = {c: {k: models[n]["spurious"][k] for k in ("easy", "hard", "drop")}
                           for c, n in sorted(best.items())}
    if all("spurious" in models[n] for n in names):
        out["spurious_fit"] = _linear_fit([models[n]["spurious"]["easy"] for n in names],
                                          [models[n]["spurious"]["hard"] for n in names])
    pair = config.get("ood_primary")
    if pair and pair in models[ref]["ood"]:
        out["ood"] = {s: {k: v[k] for k in ("auroc", "fpr95", "aupr_in", "aupr_out",
                                              "fpr95_ood_positive")}
                      for s, v in models[ref]["ood"][pair].items()}
    shifts = list(config.get("er_shifts") or ())
    if shifts:
        by_shift = effective_robustness(results, shifts, names)
        out["effective_robustness_by_shift"] = by_shift
        primary = config.get("er_primary") or shifts[0]
        out["effective_robustness"] = by_shift[primary]["er"]
        out["effective_robustness_fit"] = by_shift[primary]["fit"]
    if "calibration" in models[ref]:
        out["calibration"] = models[ref]["calibration"]
    return out


def run_seed(config: dict, seed: int, workdir: str) -> dict:
    start = time.perf_counter()
    results = evaluate_models(config, seed, workdir)
    seconds = {"total_s": time.perf_counter() - start}
    result = analyse(config, results, seconds)
    common.write_json(result, os.path.join(workdir, "result.json"))
    return result


def run(config, seeds, workdir: str) -> dict:
    """Runs the study for ``seeds`` into ``workdir``; returns (and writes) the summary."""
    from experiments.robustness import plots

    config = plain(config)
    check_config(config)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("no seeds to run")
    os.makedirs(workdir, exist_ok=True)
    per_seed = {}
    for seed in seeds:
        per_seed[seed] = run_seed(config, seed, os.path.join(workdir, f"seed_{seed}"))
    summary = common.summarize_seeds(per_seed)
    summary["config"] = config
    common.write_json(summary, os.path.join(workdir, "summary.json"))
    plots.make_all(summary, workdir)
    with open(os.path.join(workdir, "results.md"), "w") as f:
        f.write(results_table(summary))
    print(report(summary), flush=True)
    return summary


def report(summary: dict) -> str:
    """A short text table of the headline numbers (mean ± std over seeds)."""
    mean, std = summary["mean"], summary["std"]
    lines = [f"Robustness study, seeds {summary['seeds']}"]
    if "corruption_severity_mean" in mean:
        sev = mean["corruption_severity_mean"]
        lines.append("mean accuracy over corruptions by severity (0 = clean): " + ", ".join(
            f"{s}: {100 * sev[s]:.1f} ± {100 * std['corruption_severity_mean'][s]:.1f}"
            for s in sorted(sev, key=int)))
    for corr, v in (mean.get("spurious") or {}).items():
        lines.append(f"train correlation {corr}: easy {100 * v['easy']:.1f}, hard "
                     f"{100 * v['hard']:.1f}, drop {100 * v['drop']:.1f} ± "
                     f"{100 * std['spurious'][corr]['drop']:.1f}")
    for score, v in (mean.get("ood") or {}).items():
        lines.append(f"OOD {score}: AUROC {100 * v['auroc']:.1f} ± "
                     f"{100 * std['ood'][score]['auroc']:.1f}, FPR95 {100 * v['fpr95']:.1f}")
    for model, v in (mean.get("effective_robustness") or {}).items():
        lines.append(f"ER {model}: {100 * v:+.1f} ± "
                     f"{100 * std['effective_robustness'][model]:.1f}")
    if "calibration" in mean:
        c = mean["calibration"]
        lines.append(f"ECE (ID) {100 * c['ece']:.1f} -> {100 * c['ece_temperature_scaled']:.1f} "
                     f"after temperature scaling (T = {c['temperature']:.2f})")
    return "\n".join(lines)


def _pm(summary, *path, scale=100.0, digits=1, sign=False) -> str:
    m, s = summary["mean"], summary["std"]
    for k in path:
        m, s = m[k], s[k]
    return f"{scale * m:{'+' if sign else ''}.{digits}f} ± {scale * s:.{digits}f}"


def results_table(summary: dict) -> str:
    """Markdown tables of the summary (mean ± std over the seeds, percent)."""
    mean = summary["mean"]
    out = [f"Seeds {summary['seeds']}; mean ± std over seeds, in percent.", ""]
    if "corruptions" in mean:
        sev = sorted(mean["corruption_severity_mean"], key=int)
        out += ["| corruption | " + " | ".join(f"severity {s}" if s != "0" else "clean"
                                             for s in sev) + " |",
                "|---" * (len(sev) + 1) + "|",
                "| **mean** | " + " | ".join(_pm(summary, "corruption_severity_mean", s)
                                           for s in sev) + " |"]
        for name in sorted(mean["corruptions"]):
            out.append(f"| {name} | {_pm(summary, 'corruption_severity_mean', '0')} | "
                       + " | ".join(_pm(summary, "corruptions", name, s) for s in sev[1:])
                       + " |")
        out.append("")
    if "spurious" in mean:
        out += ["| train correlation | easy | hard | drop |", "|---|---|---|---|"]
        out += [f"| {c} | {_pm(summary, 'spurious', c, 'easy')} | "
                f"{_pm(summary, 'spurious', c, 'hard')} | {_pm(summary, 'spurious', c, 'drop')} |"
                for c in sorted(mean["spurious"], key=float)]
        out.append("")
    if "ood" in mean:
        out += ["| OOD score | AUROC | AUPR-in | FPR95 | FPR95 (OOD positive) |",
                "|---|---|---|---|---|"]
        out += [f"| {s} | {_pm(summary, 'ood', s, 'auroc')} | "
                f"{_pm(summary, 'ood', s, 'aupr_in')} | {_pm(summary, 'ood', s, 'fpr95')} | "
                f"{_pm(summary, 'ood', s, 'fpr95_ood_positive')} |" for s in mean["ood"]]
        out.append("")
    if "effective_robustness" in mean:
        shift = summary.get("config", {}).get("er_primary")
        out += [f"| model | ID acc | {shift} acc | ER |", "|---|---|---|---|"]
        for model in mean["effective_robustness"]:
            out.append(f"| {model} | {_pm(summary, 'models', model, 'id_acc1')} | "
                       f"{_pm(summary, 'effective_robustness_by_shift', shift, 'ood', model)} |"
                       f" {_pm(summary, 'effective_robustness', model, sign=True)} |")
        fit = mean.get("effective_robustness_fit") or {}
        if "slope" in fit:
            term = lambda k: _pm(summary, "effective_robustness_fit", k, scale=1, digits=2)
            out.append(f"\nFit: logit(OOD) = ({term('slope')}) logit(ID) + ({term('intercept')})"
                       f", r = {term('r')}.")
        out.append("")
    if "calibration" in mean:
        cal = mean["calibration"]
        out += [f"Temperature fitted on ID validation: T = "
                f"{_pm(summary, 'calibration', 'temperature', scale=1, digits=1)}.", "",
                "| set | acc | ECE | ECE (T-scaled) | NLL | NLL (T-scaled) |",
                "|---|---|---|---|---|---|"]
        rows = [("id", ("calibration",))] + [(n, ("calibration", "shifts", n))
                                             for n in cal.get("shifts", {})]
        for name, path in rows:
            out.append(f"| {name} | {_pm(summary, *path, 'acc1')} | {_pm(summary, *path, 'ece')}"
                       f" | {_pm(summary, *path, 'ece_temperature_scaled')} | "
                       f"{_pm(summary, *path, 'nll', scale=1, digits=2)} | "
                       f"{_pm(summary, *path, 'nll_temperature_scaled', scale=1, digits=2)} |")
    return "\n".join(out) + "\n"


def main(argv) -> int:
    config, seeds, workdir = common.parse_study_args(
        argv, study="robustness", default_config=DEFAULT_CONFIG)
    start = time.perf_counter()
    run(config, seeds, workdir)
    print(f"Wrote {workdir}/summary.json and plots in {time.perf_counter() - start:.0f} s.",
          flush=True)
    return 0
