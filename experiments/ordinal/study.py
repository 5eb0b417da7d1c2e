"""The ordinal study: which way of reading ranks out of CLIP gives the lowest MAE.

For every task of the config (the scenes' size and brightness levels by default; any ordinal
dataset spec of ``jclip.evals.datasets``) and every seed, on frozen unit image features:

- ``zero_shot``: rank prompts (``jclip.evals.ordinal``), prediction = expectation over ranks;
- ``linear_probe``: logistic regression over the ranks (``jclip.heads.adapt.linear_probe``, L2
  picked on a validation fifth), prediction = expectation of its softmax;
- ``least_squares``: ridge regression of the rank value (``jclip.heads.regression``, L2 picked
  on the same validation fifth), prediction = the regressed value;
- ``coop``: learned context before the rank words, CE (``jclip.heads.prompt_learning``, CoOp),
  prediction = expectation;
- ``ordinalclip``: learned context + ranks interpolated from K base ranks
  (``jclip.heads.ordinalclip``), prediction = expectation;
- ``numclip``: learned context over coarse bins named in language, FCRC CE + KL and the fine
  regression stage (``jclip.heads.numclip``), prediction = the regressed value.

MAE, accuracy and Spearman are of the rank values (1..R unless the task gives ``values``); the
argmax numbers are kept too (``mae_argmax``). The seed draws the training scenes (or the
training subset of a real dataset), the held-out scenes and every initialisation.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from experiments import common

METHODS = ("zero_shot", "linear_probe", "least_squares", "coop", "ordinalclip", "numclip")
_RIDGE_GRID = (0.0, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def check_config(config) -> None:
    """Raises before any work for unknown methods, empty tasks or bad rank / bin settings."""
    from jclip.heads import numclip, ordinalclip

    unknown = [m for m in config.methods if m not in METHODS]
    if unknown or not config.methods:
        raise ValueError(f"unknown methods {unknown} (choose from {METHODS})")
    if not config.tasks:
        raise ValueError("the config names no tasks (config.tasks)")
    if config.primary not in config.tasks:
        raise ValueError(f"primary task {config.primary!r} is not among {list(config.tasks)}")
    for name, task in config.tasks.items():
        numclip.check_edges(task.numclip.edges)
        if len(task.numclip.bin_names) != len(task.numclip.edges) - 1:
            raise ValueError(f"task {name}: {len(task.numclip.bin_names)} bin names for "
                             f"{len(task.numclip.edges) - 1} bins")
        if int(task.num_train) < 10:
            raise ValueError(f"task {name}: num_train must be >= 10, got {task.num_train}")
        if task.rank_names is not None:  # else known once the data is read
            ranks = len(task.rank_names)
            ordinalclip.check_ranks(ranks, int(task.ordinalclip.num_base_ranks))
            numclip.bin_index(_values(task, task.rank_names), task.numclip.edges)


def _values(task, names) -> np.ndarray:
    """Rank values: 1..R (``values`` None), the numbers the rank names spell ("names", e.g.
    age folders "2", "5", "10"), or the listed numbers."""
    from jclip.evals import ordinal

    r = len(names)
    values = task.get("values", None)
    if values is None:
        values = np.arange(1, r + 1)
    elif isinstance(values, str):
        if values != "names":
            raise ValueError(f"values must be None, 'names' or numbers, got {values!r}")
        try:
            values = [float(n) for n in names]
        except ValueError:
            raise ValueError(f"values='names' needs numeric rank names, got {list(names)}"
                             ) from None
    return ordinal.check_rank_values(values, r)


def load_model(config):
    """(model, params, tokenizer, base-model folder or source)."""
    import jclip

    source = config.model or common.base_model(config.base_cache,
                                               steps=config.base_steps or None)
    model, params = jclip.load(source)
    tokenizer = jclip.load_tokenizer(source, context_length=model.config.context_length,
                                     tokenizer=config.tokenizer or None)
    return model, params, tokenizer, source


def trained_words(config) -> set:
    """Words of the captions the base scenes model was trained on (its closed vocabulary holds
    more words than it ever saw in training: those have untrained embeddings)."""
    from experiments.common import CONFIGS_DIR
    from jclip.train import input_pipeline

    base = common.load_config_file(os.path.join(CONFIGS_DIR, "shapes_tiny.py"))
    scenes = input_pipeline.generate_scenes(base.data, 2000, 0)
    return {w for c in scenes["caption"] for w in str(c).split()}


def word_report(config, tokenizer, task) -> dict:
    vocab = getattr(tokenizer, "encoder", None)
    seen = trained_words(config) if not config.model else None
    out = {}
    for name in task.rank_names or ():
        words = name.split()
        out[name] = {"in_vocabulary": None if vocab is None else all(w in vocab for w in words),
                     "seen_in_training": None if seen is None else all(w in seen for w in words)}
    return out


def _features(ctx, task, split, data_opts):
    data = ctx.dataset({"dataset": task.dataset, "data": data_opts or None}, split)
    feats = ctx.image_features(data)
    return data, feats


def _split_data(task, seed, which):
    opts = dict(task.get(f"{which}_data", None) or {})
    if task.dataset.startswith("jclip_shapes/"):
        n = int(task.num_train if which == "train" else task.num_test)
        opts.update(num_examples=n, seed=int(seed))
    return opts


def _softmax(logits):
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def _subset(n, k, rng):
    return np.sort(rng.choice(n, k, replace=False)) if k < n else np.arange(n)


def _zero_shot(d):
    from jclip.evals import ordinal

    logits = ordinal.zeroshot_logits(d["ctx"], d["rank_names"], d["task"].templates, d["xte"])
    return logits.argmax(1), _softmax(logits) @ d["values"]


def _linear_probe(d):
    from jclip.heads import adapt

    fit, val, x, y = d["fit"], d["val"], d["xtr"], d["ytr"]
    probe = adapt.linear_probe(x[fit], y[fit], x[val], y[val], num_classes=len(d["values"]))
    logits = np.asarray(probe(d["xte"]))
    return logits.argmax(1), _softmax(logits) @ d["values"]


def _least_squares(d):
    from jclip.heads import regression

    fit, val, x, v = d["fit"], d["val"], d["xtr"], d["values"][d["ytr"]]
    errs = [np.mean(np.abs(regression.ridge_predict(regression.ridge_fit(x[fit], v[fit], lam),
                                                    x[val]) - v[val])) for lam in _RIDGE_GRID]
    lam = _RIDGE_GRID[int(np.argmin(errs))]
    return None, regression.ridge_predict(regression.ridge_fit(x, v, lam), d["xte"])


def _coop(d):
    import jax
    import jax.numpy as jnp

    from jclip.heads import prompt_learning

    model, params = d["model"], d["params"]
    prompts = prompt_learning.build_prompts(d["tokenizer"], d["rank_names"], model.config,
                                            d["task"].ordinalclip.context)
    ctx, _ = prompt_learning.fit_coop(model, params, prompts, d["xtr"], d["ytr"], **d["steps"])
    features = jax.jit(lambda p, c: prompt_learning.text_features(model, p, prompts, c))
    logits = np.asarray(jnp.exp(params["logit_scale"]) * jnp.asarray(d["xte"])
                        @ features(params, ctx).T)
    return logits.argmax(1), _softmax(logits) @ d["values"]


def _ordinalclip(d):
    import jax
    import jax.numpy as jnp

    from jclip.heads import ordinalclip, prompt_learning

    oc, model, params, tok = d["task"].ordinalclip, d["model"], d["params"], d["tokenizer"]
    r = len(d["values"])
    prompts = prompt_learning.build_prompts(tok, [oc.placeholder] * r, model.config, oc.context)
    base = None if not oc.base_words else np.asarray(tok(list(oc.base_words)))[:, prompts.start]
    head, weights, _ = ordinalclip.fit(model, params, prompts, d["xtr"], d["ytr"],
                                       num_base_ranks=int(oc.num_base_ranks), base_init=base,
                                       **d["steps"])
    logits_of = jax.jit(lambda p, h, x: ordinalclip.logits_of(model, p, prompts, h, weights, x))
    logits = np.asarray(logits_of(params, head, jnp.asarray(d["xte"])))
    return logits.argmax(1), _softmax(logits) @ d["values"]


def _numclip(d):
    import jax
    import jax.numpy as jnp

    from jclip.heads import numclip, prompt_learning

    nc, model, params = d["task"].numclip, d["model"], d["params"]
    ratio = float(nc.adapter_ratio)
    prompts = prompt_learning.build_prompts(d["tokenizer"], nc.bin_names, model.config,
                                            nc.context)
    head, b, _ = numclip.fit(model, params, prompts, d["xtr"], d["values"][d["ytr"]], nc.edges,
                             ratio=ratio, **d["steps"])
    forward = jax.jit(lambda p, h, x: numclip.forward(model, p, prompts, h, x, b, ratio)[1])
    return None, np.asarray(forward(params, head, jnp.asarray(d["xte"])), np.float64)


# method -> fn(data dict) -> (argmax ranks [N] or None, predicted values [N])
_RUN = {"zero_shot": _zero_shot, "linear_probe": _linear_probe,
        "least_squares": _least_squares, "coop": _coop, "ordinalclip": _ordinalclip,
        "numclip": _numclip}


def run_task(config, model, params, tokenizer, ctx, task, seed: int) -> dict:
    """Every method of the config on one task and seed -> {method: metrics (+ predictions)}."""
    from jclip.evals import ordinal
    from jclip.heads import numclip, ordinalclip

    rng = np.random.default_rng(seed)
    train, tr = _features(ctx, task, task.train_split, _split_data(task, seed, "train"))
    test, te = _features(ctx, task, task.split, _split_data(task, seed, "test"))
    ytr, names = ordinal.ranked_labels(train, tr, task.get("order", None))
    yte, _ = ordinal.ranked_labels(test, te, task.get("order", None))
    rank_names = list(task.rank_names or names)
    r, values = len(names), _values(task, names)
    if len(rank_names) != r:
        raise ValueError(f"{len(rank_names)} rank_names for the {r} ranks of {task.dataset}")
    ordinalclip.check_ranks(r, int(task.ordinalclip.num_base_ranks))
    numclip.bin_index(values, task.numclip.edges)
    keep = _subset(len(ytr), int(task.num_train), rng)
    fit, val = _val_split(ytr[keep], rng)
    d = dict(ctx=ctx, model=model, params=params, tokenizer=tokenizer, task=task, values=values,
             rank_names=rank_names,
             xtr=tr.features[keep], ytr=ytr[keep], xte=te.features, fit=fit, val=val,
             steps=dict(steps=int(config.steps), lr=float(config.lr),
                        batch_size=int(config.batch_size), seed=int(seed)))
    out = {}
    for method in config.methods:
        start = time.perf_counter()
        am, ex = _RUN[method](d)
        out[method] = ordinal.metrics_of(yte, am, ex, num_ranks=r, values=values)
        out[method]["seconds"] = time.perf_counter() - start
        out[method]["predictions"] = np.asarray(ex, np.float64).round(4).tolist()
    out["labels"] = yte.tolist()
    out["values"] = values.tolist()
    return out


def _val_split(labels, rng, proportion=0.2):
    from jclip.evals.linear_probe import split_validation

    return split_validation(labels, proportion, int(rng.integers(1 << 30)))


def _headline(result: dict) -> dict:
    """{method: {mae, accuracy, spearman, ...}} without the per-example predictions; the
    per-rank MAE keyed by rank value, so the seed summary averages it."""
    keys = [f"{v:g}" for v in result["values"]]
    out = {}
    for m, r in result.items():
        if m in ("labels", "values"):
            continue
        out[m] = {k: v for k, v in r.items() if k not in ("predictions", "confusion_matrix")}
        out[m]["per_rank_mae"] = dict(zip(keys, r["per_rank_mae"]))
    return out


def run(config, seeds, workdir) -> dict:
    """Runs the study for ``seeds`` into ``workdir`` -> the summary (also summary.json).

    summary["per_seed"][seed] = {method: {mae, accuracy, spearman, ...}} of the primary task,
    plus "tasks": {task: {method: ...}} for every task; "mean" / "std" over the seeds.
    """
    from jclip.evals.encode import EvalContext

    check_config(config)
    seeds = [int(s) for s in seeds]
    os.makedirs(workdir, exist_ok=True)
    model, params, tokenizer, source = load_model(config)
    ctx = EvalContext(model, params, tokenizer, batch_size=int(config.image_batch_size),
                      progress=False)
    words = {name: word_report(config, tokenizer, task) for name, task in config.tasks.items()}
    per_seed, raw = {}, {}
    for seed in seeds:
        tasks = {}
        for name, task in config.tasks.items():
            start = time.perf_counter()
            raw[(seed, name)] = run_task(config, model, params, tokenizer, ctx, task, seed)
            tasks[name] = _headline(raw[(seed, name)])
            maes = ", ".join(f"{m} {v['mae']:.3f}" for m, v in tasks[name].items())
            print(f"[ordinal] seed {seed} {name}: MAE {maes} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
        per_seed[seed] = {**tasks[config.primary], "tasks": tasks}
    summary = common.summarize_seeds(per_seed)
    summary.update(primary=config.primary, model=str(source), words=words,
                   config=json.loads(config.to_json_best_effort()))
    common.write_json(summary, os.path.join(workdir, "summary.json"))
    common.write_json({f"{s}/{t}": v for (s, t), v in raw.items()},
                      os.path.join(workdir, "predictions.json"))
    from experiments.ordinal import plots

    plots.plot_all(raw, config, workdir)
    print(f"[ordinal] wrote {os.path.join(workdir, 'summary.json')}", flush=True)
    return summary
