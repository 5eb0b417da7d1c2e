"""The counting study as a library function: ``run(config, seeds, workdir) -> summary``.

Per seed: the base model is evaluated, then fine-tuned once per lambda in {0, counting_weight,
*sweep} with the same steps, batches and seed (``config.train``, ``loss.counting_weight`` =
lambda), and every fine-tuned model is evaluated on the same held-out tasks (``config.evals``,
scenes seeded by seed + eval_seed_offset). lambda = 0 is arm ``plain``, lambda =
counting_weight arm ``counting_loss``. ``workdir/summary.json`` holds, per seed and as mean / std
over the seeds, each arm's ``config.summary`` numbers; plots go next to it (``plots.py``).
"""

from __future__ import annotations

import copy
import os
import time

import ml_collections

from experiments import common

ARMS = ("plain", "counting_loss")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check_config(config) -> None:
    """ValueError naming the field, before any training."""
    lam = float(config.counting_weight)
    if not lam > 0:
        raise ValueError(f"counting_weight (lambda of the counting_loss arm) must be > 0, got "
                         f"{config.counting_weight!r}")
    sweep = [float(x) for x in config.sweep]
    if any(x < 0 for x in sweep):
        raise ValueError(f"sweep lambdas must be >= 0, got {tuple(config.sweep)}")
    evals = _plain(config.evals)
    for key, spec in dict(config.summary).items():
        name, _ = spec
        if name not in evals:
            raise ValueError(f"summary.{key} reads eval {name!r}, which config.evals lacks "
                             f"(has {sorted(evals)})")
    if config.confusion_eval not in evals or evals[config.confusion_eval]["type"] != "counting":
        raise ValueError(f"confusion_eval={config.confusion_eval!r} must name a counting eval "
                         f"of config.evals")
    from jclip.evals import runner
    from jclip.train import counting

    for name, task in evals.items():  # unknown task keys / types fail now
        runner.check_task(dict(task, name=name))
    counting.options(config.train.data)


def _plain(tree):
    """ConfigDicts -> plain dicts (task dicts are written to JSON)."""
    return tree.to_dict() if hasattr(tree, "to_dict") else dict(tree)


def lambdas(config) -> list[float]:
    """0 (plain), counting_weight, then the sweep, each once, in that order."""
    out = []
    for x in (0.0, float(config.counting_weight), *map(float, config.sweep)):
        if x not in out:
            out.append(x)
    return out


def base_folder(config) -> str:
    """The model both arms start from: ``init_from``; else ``base_config`` trained for
    ``base_steps`` into ``base_cache`` (reused when trained so); else the shared base model."""
    if config.init_from:
        return str(config.init_from)
    steps = None if int(config.base_steps) < 0 else int(config.base_steps)
    if not config.get("base_config"):
        return common.base_model(config.base_cache, steps=steps)
    import json

    from jclip.train import loop

    path = str(config.base_config)
    if not os.path.isabs(path) and not os.path.isfile(path):  # relative to the repository
        path = os.path.join(ROOT, path)
    t = common.load_config_file(path)
    t.total_steps = t.total_steps if steps is None else steps
    t.optim.warmup_steps = min(int(t.optim.warmup_steps), max(t.total_steps - 1, 0))
    t.eval_every, t.checkpoint_every, t.tensorboard = 0, 0, False
    folder = os.path.join(str(config.base_cache), "model")
    marker = {"config": str(config.base_config), "total_steps": int(t.total_steps)}
    path = os.path.join(folder, "counting_base.json")
    if os.path.isfile(path):
        with open(path) as f:
            if json.load(f) == marker:
                return folder
    if t.total_steps == 0:  # an untrained model of the config (the micro tests' base)
        _save_untrained(t, folder)
    else:
        print(f"[counting] training the base model ({config.base_config}, {t.total_steps} "
              f"steps)", flush=True)
        loop.train(t, str(config.base_cache))
    with open(path, "w") as f:
        json.dump(marker, f)
    return folder


def _save_untrained(t, folder: str) -> None:
    """A freshly initialised model of trainer config ``t`` (with a word tokenizer) in
    ``folder``, as ``jclip.load`` and the trainer's ``init_from`` read it."""
    import jax

    import jclip
    from jclip.train import loop, state

    model, tokenizer, _ = loop.build_model(t)
    params = state.init_params(model, jax.random.key(int(t.seed)))
    jclip.save(folder, model, jax.device_get(params), tokenizer=tokenizer)


def finetune(config, base: str, seed: int, lam: float, workdir: str) -> tuple[str, float]:
    """Fine-tunes ``base`` with lambda ``lam`` -> (model folder, seconds)."""
    from jclip.train import loop

    t = ml_collections.ConfigDict(copy.deepcopy(config.train.to_dict()))
    t.init_from = base
    t.seed = int(seed)
    t.loss.counting_weight = float(lam)
    if t.get("tokenizer", "word") == "from_init":
        t.tokenizer = base
    start = time.perf_counter()
    loop.train(t, workdir)
    return os.path.join(workdir, "model"), time.perf_counter() - start


def evaluate(config, folder: str, seed: int, workdir: str) -> dict:
    """{eval name: result} of the model in ``folder`` on ``config.evals``."""
    import jclip
    from jclip.evals import runner

    model, params = jclip.load(folder)
    tokenizer = jclip.load_tokenizer(folder, context_length=model.config.context_length)
    tasks = []
    for name, task in _plain(config.evals).items():
        task = copy.deepcopy(task)
        task["name"] = name
        if task.get("data") is not None and str(task["dataset"]).startswith("jclip_shapes/"):
            task["data"] = dict(task["data"], seed=int(seed) + int(config.eval_seed_offset))
        tasks.append(task)
    results = runner.evaluate(model, params, tokenizer, tasks, workdir=workdir, progress=False,
                              data_dir=config.eval_data_dir or None)
    return {t["name"]: r for t, r in zip(tasks, results)}


def numbers(config, results: dict) -> dict:
    """The ``config.summary`` numbers of one model's eval results."""
    return {key: float(results[name]["metrics"][metric])
            for key, (name, metric) in dict(config.summary).items()}


def run_seed(config, seed: int, base: str, workdir: str) -> dict:
    out, sweep, curves = {}, {}, {}
    print(f"[counting] seed {seed}: evaluating the base model", flush=True)
    base_results = evaluate(config, base, seed, os.path.join(workdir, "base"))
    out["base"] = numbers(config, base_results)
    cname = config.confusion_eval
    confusion = {"base": base_results[cname]["confusion_matrix"]}
    per_count = {"base": base_results[cname]["per_count_accuracy"]}
    counts = base_results[cname]["counts"]
    for lam in lambdas(config):
        print(f"[counting] seed {seed}: fine-tuning with lambda = {lam:g}", flush=True)
        folder, seconds = finetune(config, base, seed, lam, os.path.join(workdir, f"lam_{lam:g}"))
        results = evaluate(config, folder, seed, os.path.join(workdir, f"lam_{lam:g}", "evals"))
        sweep[f"{lam:g}"] = dict(numbers(config, results), train_seconds=round(seconds, 1))
        arm = "plain" if lam == 0 else (
            "counting_loss" if lam == float(config.counting_weight) else None)
        if arm:
            out[arm] = numbers(config, results)
            confusion[arm] = results[cname]["confusion_matrix"]
            per_count[arm] = results[cname]["per_count_accuracy"]
        curves[f"{lam:g}"] = sweep[f"{lam:g}"]["count_accuracy"] if \
            "count_accuracy" in sweep[f"{lam:g}"] else None
        print(f"[counting] seed {seed}, lambda {lam:g}: {numbers(config, results)} "
              f"({seconds:.0f} s)", flush=True)
    out["lift"] = {k: out["counting_loss"][k] - out["plain"][k] for k in out["plain"]}
    out["lambda_sweep"] = sweep
    out["confusion"] = {"counts": counts, **confusion}
    out["per_count_accuracy"] = per_count
    return out


def run(config, seeds, workdir: str) -> dict:
    """Runs every seed and writes ``workdir/summary.json`` and the plots; returns the summary."""
    from experiments.counting import plots

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("run needs at least one seed")
    check_config(config)
    start = time.perf_counter()
    base = base_folder(config)
    per_seed = {s: run_seed(config, s, base, os.path.join(workdir, f"seed_{s}")) for s in seeds}
    summary = common.summarize_seeds(per_seed)
    summary["lambdas"] = lambdas(config)
    summary["counting_weight"] = float(config.counting_weight)
    summary["base_model"] = base
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    common.write_json(summary, os.path.join(workdir, "summary.json"))
    summary["plots"] = plots.plot_all(summary, workdir)
    common.write_json(summary, os.path.join(workdir, "summary.json"))
    return summary


def summary_text(summary: dict) -> str:
    """A few lines: each arm's numbers as mean ± std over the seeds (percent; MAE plain)."""
    lines = [f"seeds {summary['seeds']} ({summary['wall_seconds']} s)"]
    for arm in ("base", *ARMS):
        parts = []
        for key in summary["mean"][arm]:
            mae = key.endswith("mae")
            text = common.mean_std_text(summary, arm, key, scale=1.0 if mae else 100.0,
                                        digits=2 if mae else 1)
            parts.append(f"{key} {text}")
        lines.append(f"{arm:14s} " + ", ".join(parts))
    return "\n".join(lines)
