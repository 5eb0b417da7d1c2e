"""``evaluate``: run evaluation tasks (dicts) on one model -> one result dict per task.

The command line (``jclip-eval``), the trainer (``config.evals``) and the experiments all call
this, so a number means the same everywhere. Every task is checked, and its dataset resolved,
before any encoding starts; an error names the task and the problem.
"""

from __future__ import annotations

import json
import os
import re
import time

from jclip.evals.encode import EvalContext
from jclip.evals.registry import COMMON_KEYS, TASKS


def check_task(task: dict) -> dict:
    """The task with every key filled in, checked by its module's ``check(task)`` when it has
    one (before any image is encoded: the CLI, ``evaluate`` and the trainer's ``config.evals``
    all come here); ValueError / TypeError naming what is wrong."""
    if not isinstance(task, dict):
        raise TypeError(f"a task must be a dict with a 'type', got {type(task).__name__}")
    task = dict(task)
    kind = task.get("type")
    if kind not in TASKS:
        raise ValueError(f"unknown task type {kind!r}; known tasks: {sorted(TASKS)}")
    if not task.get("dataset"):
        raise ValueError(f"task {kind!r} needs a 'dataset'")
    defaults = {**COMMON_KEYS, **TASKS[kind].DEFAULTS}
    unknown = sorted(set(task) - set(defaults))
    if unknown:
        raise TypeError(f"task {kind!r} got unknown key(s) {unknown}; it accepts "
                        f"{sorted(defaults)}")
    from jclip.heads import prompts

    # Files and names are read now, so that a bad one fails before any encoding.
    if isinstance(task.get("classnames"), str):
        task["classnames"] = list(prompts.load_classnames(task["classnames"]))
    if isinstance(task.get("templates"), str):
        task["templates"] = list(prompts.load_templates(task["templates"]))
    elif task.get("templates") is not None:
        task["templates"] = list(prompts.check_templates(task["templates"]))
    task = {**defaults, **task}
    check = getattr(TASKS[kind], "check", None)  # the task's own checks (attack settings, ...)
    if check is not None:
        check(task)
    return task


def task_name(task: dict) -> str:
    """A file-name-safe name: the task's ``name``, else ``<type>__<dataset>``."""
    name = task.get("name") or f"{task['type']}__{task['dataset']}"
    return re.sub(r"[^\w.@=-]+", "_", name).strip("_")


def run_task(ctx: EvalContext, task: dict) -> dict:
    """One checked task -> its result dict (CLIP_benchmark's keys plus jclip's)."""
    import jclip

    start = time.perf_counter()
    before = dict(ctx.timings)
    out = TASKS[task["type"]].run(ctx, task)
    timings = {k: round(v - before.get(k, 0.0), 4) for k, v in ctx.timings.items()
               if v - before.get(k, 0.0) > 0}
    timings["total_s"] = round(time.perf_counter() - start, 4)
    result = {"dataset": task["dataset"], "model": ctx.model_name, "task": task["type"]}
    result.update(out)
    result.update(jclip_version=jclip.__version__, timings=timings,
                  task_config={k: v for k, v in task.items() if v is not None})
    return result


def evaluate(model, params, tokenizer, tasks, *, workdir: str | None = None,
             context: EvalContext | None = None, **settings) -> list[dict]:
    """Runs ``tasks`` on ``(model, params)``; returns one result dict per task, in order.

    Args:
      model, params, tokenizer: a CLIPModel, its params and a tokenizer (list[str] -> ids).
      tasks: a task dict or a list of them: {"type": a ``TASKS`` name, "dataset": a spec, ...}
        (keys: ``registry.COMMON_KEYS`` and the task module's ``DEFAULTS``).
      workdir: if given, each result is also written to ``workdir/<task_name>.json``.
      context: an ``EvalContext`` to reuse (its cached features); else one is made from
        ``settings`` (model_name, batch_size, precision, cache_dir, data_dir, progress, ...).
    Returns:
      [{"dataset", "model", "task", "metrics": {...}, "num_examples", "split", ...,
        "jclip_version", "timings", "task_config"}].
    """
    tasks = [tasks] if isinstance(tasks, dict) else list(tasks)
    if not tasks:
        raise ValueError("no tasks to evaluate")
    checked = [check_task(t) for t in tasks]
    if context is None:
        context = EvalContext(model, params, tokenizer, **settings)
    elif settings:
        raise TypeError(f"pass settings or a context, not both (got {sorted(settings)})")
    for task in checked:  # resolve every dataset before the long work starts
        context.dataset(task)
    results = []
    for task in checked:
        result = run_task(context, task)
        results.append(result)
        if workdir is not None:
            write_result(result, os.path.join(workdir, task_name(task) + ".json"))
    return results


def write_result(result: dict, path: str) -> str:
    """Writes one result as JSON (atomically) -> path."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2, default=_jsonable)
    os.replace(tmp, path)
    return path


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
