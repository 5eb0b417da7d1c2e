"""The adversarial-robustness study: vanilla vs TeCoA vs FARE fine-tunes vs test-time
counterattacks, clean and robust zero-shot accuracy over eps.

Per seed: fine-tune the base model's vision tower with TeCoA (Mao et al., 2023) and FARE
(Schlarmann et al., 2024) through the trainer (``jclip.train.objectives_adversarial``), then run
the ``adversarial`` eval task (``jclip.evals``) at every eps on the held-out scenes: the three
models undefended, and the vanilla model with test-time counterattacks (Xing et al., 2025)
against the attack made on the base model (``ttc``) and against the attack through the
counterattack (``ttc_adaptive``). The seed sets the fine-tunes' seed, the attack keys and the
evaluation scenes. ``run`` returns and writes ``summary.json``:
{"seeds", "per_seed": {seed: result}, "mean", "std"} with result =
{method: {"clean": acc, "robust": {eps: acc}}} for ``METHODS``.
"""

from __future__ import annotations

import copy
import json
import os
import time

import ml_collections
import numpy as np

from experiments import common

METHODS = ("vanilla", "tecoa", "fare", "ttc", "ttc_adaptive")
FINETUNES = ("tecoa", "fare")
EVAL_SEED_OFFSET = 1000  # eval scenes of seed s: jclip_shapes seed 1000 + s (test split)


def eps_key(eps) -> str:
    """'1', '2', '0.5': the summary's key of an eps given in /255 units."""
    return f"{float(eps):g}"


def finetune_config(config, method: str, seed: int, base: str) -> ml_collections.ConfigDict:
    """The trainer config of one fine-tune: ``config.finetune`` with ``config.methods[method]``
    as its loss, ``init_from`` = ``loss.reference`` = the base model, and the seed."""
    c = copy.deepcopy(config.finetune)
    c.seed = int(seed)
    c.init_from = base
    c.loss = ml_collections.ConfigDict(dict(config.methods[method]))
    c.loss.reference = base
    return c


def finetune(config, method: str, seed: int, base: str, workdir: str) -> tuple[str, dict]:
    """Trains one fine-tune into ``workdir`` -> (model folder, {"seconds", "final_loss"})."""
    from jclip.train import loop

    c = finetune_config(config, method, seed, base)
    start = time.perf_counter()
    loop.train(c, workdir)
    info = {"seconds": round(time.perf_counter() - start, 1), "steps": int(c.total_steps)}
    metrics = os.path.join(workdir, "metrics.jsonl")
    if os.path.isfile(metrics):
        with open(metrics) as f:
            records = [json.loads(line) for line in f if line.strip()]
        info["first_loss"], info["final_loss"] = records[0]["loss"], records[-1]["loss"]
    return os.path.join(workdir, "model"), info


def datasets(config) -> tuple[str, ...]:
    """The evaluation datasets: ``eval.datasets`` (real data) or the one ``eval.dataset``."""
    e = config.eval
    return tuple(e.get("datasets", None) or (e.dataset,))


def eval_tasks(config, seed: int, *, defense=None, adaptive: bool = False) -> list[dict]:
    """One ``adversarial`` task per (dataset, eps) of ``config.eval``; the synthetic scenes of
    seed s are generated with seed ``EVAL_SEED_OFFSET + s``."""
    e = config.eval
    out = []
    for dataset in datasets(config):
        data = dict(e.get("data", None) or {})
        if dataset.startswith("jclip_shapes/"):
            data.update(label=e.label, num_examples=int(e.num_examples),
                        seed=EVAL_SEED_OFFSET + int(seed), options=dict(e.options))
        for eps in e.eps:
            task = dict(type="adversarial", dataset=dataset, attack=e.attack, eps=float(eps),
                        steps=int(e.steps), step_size=float(e.step_size) * float(eps),
                        units="255", defense=defense, adaptive=bool(adaptive), data=data,
                        seed=int(seed),
                        name=f"{dataset}_{defense or 'none'}{'_adaptive' if adaptive else ''}"
                             f"_eps{eps_key(eps)}")
            if not dataset.startswith("jclip_shapes/"):
                task["num_examples"] = int(e.num_examples)
            if defense == "ttc":  # the counterattack's budget, /255 (Xing et al., 2025)
                task.update({f"ttc_{k}": v for k, v in dict(config.ttc).items()})
            if e.get("templates", None):
                task["templates"] = list(e.templates)
            if e.get("split", None):
                task["split"] = e.split
            task.update(dict(config.get("task_options", None) or {}))
            out.append(task)
    return out


def load(folder: str):
    """(model, params, tokenizer) of a model folder."""
    import jclip

    model, params = jclip.load(folder)
    return model, params, jclip.load_tokenizer(folder, context_length=model.config.context_length)


def evaluate(folder: str, tasks: list[dict], batch_size: int) -> list[dict]:
    from jclip.evals import runner

    model, params, tok = load(folder)
    return runner.evaluate(model, params, tok, tasks, batch_size=batch_size, progress=False)


def _curve(results: list[dict], clean_key: str, robust_key: str) -> dict:
    """{"clean", "robust": {eps: acc}} of the per-(dataset, eps) task results, averaged over the
    datasets (the papers' average over datasets), with "per_dataset" when there are several."""
    by_dataset = {}
    for r in results:
        d = by_dataset.setdefault(r["dataset"], {"clean": float(r["metrics"][clean_key]),
                                                 "robust": {}})
        d["robust"][eps_key(r["task_config"]["eps"])] = float(r["metrics"][robust_key])
    curves = list(by_dataset.values())
    out = {"clean": float(np.mean([c["clean"] for c in curves])),
           "robust": {k: float(np.mean([c["robust"][k] for c in curves]))
                      for k in curves[0]["robust"]}}
    if len(curves) > 1:
        out["per_dataset"] = by_dataset
    return out


def run_seed(config, seed: int, base: str, workdir: str, log=print) -> dict:
    """The result dict of one seed (module docstring), plus "finetune" and "seconds"."""
    start = time.perf_counter()
    batch = int(config.get("batch_size", 256))
    folders = {"vanilla": base}
    info = {}
    for method in FINETUNES:
        log(f"[seed {seed}] fine-tuning {method} ({config.finetune.total_steps} steps) ...")
        folders[method], info[method] = finetune(config, method, seed, base,
                                                 os.path.join(workdir, f"seed_{seed}", method))
        log(f"[seed {seed}] {method}: {info[method]}")
    result = {}
    for method in ("vanilla", *FINETUNES):
        log(f"[seed {seed}] evaluating {method} ...")
        result[method] = _curve(evaluate(folders[method], eval_tasks(config, seed), batch),
                                "clean_acc1", "robust_acc1")
    for name, adaptive in (("ttc", False), ("ttc_adaptive", True)):
        log(f"[seed {seed}] evaluating {name} ...")
        result[name] = _curve(evaluate(base, eval_tasks(config, seed, defense="ttc",
                                                        adaptive=adaptive), batch),
                              "clean_ttc_acc1", "robust_ttc_acc1")
    for method in METHODS:
        log(f"[seed {seed}] {method:13s} clean {result[method]['clean']:.3f} robust "
            + " ".join(f"eps{k} {v:.3f}" for k, v in result[method]["robust"].items()))
    result["finetune"] = info
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def fingerprint(config, base: str) -> str:
    """Hash of the study config and the base model's path (what a seed's result depends on)."""
    import hashlib

    text = json.dumps([config.to_dict(), base], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_seed(config, seed: int, base: str, workdir: str, log=print) -> dict:
    """``run_seed``, or the result a previous run of the same config wrote to
    ``workdir/seed_<s>/result.json`` (so seeds run as separate processes can be summarised)."""
    path = os.path.join(workdir, f"seed_{seed}", "result.json")
    key = fingerprint(config, base)
    if os.path.isfile(path):
        with open(path) as f:
            saved = json.load(f)
        if saved.get("fingerprint") == key:
            log(f"[seed {seed}] reusing {path}")
            return saved["result"]
    result = run_seed(config, seed, base, workdir, log)
    common.write_json({"fingerprint": key, "result": result}, path)
    return result


def base_folder(config, workdir: str, log=print) -> str:
    """The base model: ``config.base_model``, else ``config.base_train`` (a trainer config,
    trained once into workdir/base), else the demo's (``experiments.common.base_model``)."""
    if config.get("base_model", ""):
        return str(config.base_model)
    train = config.get("base_train", None)
    if train is None:
        return common.base_model(steps=config.get("base_steps", None))
    folder = os.path.join(workdir, "base", "model")
    if not os.path.isfile(os.path.join(folder, "params.msgpack")):
        from jclip.train import loop

        log(f"training the base model ({train.total_steps} steps) into {folder} ...")
        loop.train(copy.deepcopy(train), os.path.join(workdir, "base"))
    return folder


def check(config) -> None:
    """Checks the study config before any training (ValueError naming the field)."""
    from jclip.train.config import check_config

    e = config.eval
    if not e.eps or any(float(x) <= 0 for x in e.eps):
        raise ValueError(f"eval.eps must be positive numbers in /255 units, got {e.eps!r}")
    if any(float(x) > 64 for x in e.eps):
        raise ValueError(f"eval.eps={e.eps!r} is in /255 units (4 means 4/255): values above "
                         "64 are not meaningful")
    if int(e.steps) < 1 or float(e.step_size) <= 0:
        raise ValueError(f"eval.steps must be >= 1 and eval.step_size > 0, got {e.steps!r}, "
                         f"{e.step_size!r}")
    if int(e.num_examples) < 1:
        raise ValueError(f"eval.num_examples must be >= 1, got {e.num_examples!r}")
    missing = [m for m in FINETUNES if m not in config.methods]
    if missing:
        raise ValueError(f"config.methods lacks {missing}; it needs a loss block for each of "
                         f"{FINETUNES}")
    for method in FINETUNES:
        loss = config.methods[method]
        if loss.get("name") != method:
            raise ValueError(f"config.methods.{method}.name must be {method!r}, got "
                             f"{loss.get('name')!r}")
        # The base may not exist yet: everything but its path is checked now.
        c = finetune_config(config, method, 0, os.curdir)
        try:
            check_config(c)
        except ValueError as err:
            raise ValueError(f"config.methods.{method}: {err}") from None


def run(config, seeds, workdir: str, log=print) -> dict:
    """Every seed -> ``workdir/summary.json`` (module docstring) and the plots; returns it."""
    from experiments.adversarial import plots

    check(config)
    seeds = [int(s) for s in seeds]
    base = base_folder(config, workdir, log)
    per_seed = {}
    for seed in seeds:
        per_seed[seed] = cached_seed(config, seed, base, workdir, log)
        common.write_json(common.summarize_seeds(per_seed), os.path.join(workdir,
                                                                         "summary.json"))
    summary = common.summarize_seeds(per_seed)
    summary["base_model"] = base
    summary["methods"] = list(METHODS)
    common.write_json(summary, os.path.join(workdir, "summary.json"))
    plots.plot_all(summary, workdir)
    return summary
