"""The trainer's evaluations: ``config.evals.<name>`` tasks run through ``jclip.evals``.

Each entry is a task dict of ``jclip.evals`` plus ``every`` (steps; default the run's
``eval_every``), e.g.::

    c.evals.shape = dict(type="zeroshot_classification", dataset="jclip_shapes/attributes",
                         data=dict(label="shape", num_examples=512))
    c.evals.retrieval = dict(type="zeroshot_retrieval", dataset="jclip_shapes/counting",
                             data=dict(distinct_captions=True), recall_k=(1, 5))

Tasks on the synthetic scenes (``jclip_shapes/<config>``) get the run's scene options
(``config.data.options`` / ``source_options`` of that generator) and a seed from a stream that
training never uses, unless the task sets them. Metrics are logged as ``<name>/<metric>``
(e.g. ``shape/acc1``, ``retrieval/image_retrieval_recall@1``).
"""

from __future__ import annotations

import ml_collections

from jclip.train import input_pipeline


def make_tasks(config: ml_collections.ConfigDict) -> dict[str, dict]:
    """{name: checked task dict with ``every``} from ``config.evals`` (errors name the entry)."""
    from jclip.data import shapes
    from jclip.evals import check_task

    evals = config.get("evals", None) or {}
    tasks = {}
    for index, (name, entry) in enumerate(sorted(dict(evals).items())):
        if not isinstance(entry, (dict, ml_collections.ConfigDict)):
            raise ValueError(f"config.evals.{name} must be a task dict with a 'type' and a "
                             f"'dataset', got {entry!r}")
        task = _plain(entry)
        task.setdefault("name", name)
        every = task.get("every")
        task["every"] = int(config.eval_every if every is None else every)
        dataset = str(task.get("dataset", ""))
        if dataset.startswith("jclip_shapes/"):
            config_name = dataset.removeprefix("jclip_shapes/")
            if config_name not in shapes.NAMED_CONFIGS:
                raise ValueError(f"config.evals.{name}: unknown dataset {dataset!r}; known "
                                 f"scenes: {sorted(shapes.NAMED_CONFIGS)}")
            generator = shapes.NAMED_CONFIGS[config_name][0]
            data = dict(task.get("data") or {})
            data.setdefault("options", input_pipeline.source_options(config.data, generator))
            data.setdefault("seed", input_pipeline.derive_seed(
                int(config.seed), input_pipeline.EVAL_STREAM, index))
            task["data"] = data
        try:
            tasks[name] = check_task(task)
        except (TypeError, ValueError) as e:
            raise type(e)(f"config.evals.{name}: {e}") from None
    return tasks


def due(tasks: dict[str, dict], step: int, total_steps: int) -> dict[str, dict]:
    """The tasks to run after ``step``: those whose ``every`` divides it, all at the end."""
    return {name: t for name, t in tasks.items()
            if t["every"] > 0 and (step % t["every"] == 0 or step == total_steps)}


def run(model, params, tokenizer, tasks: dict[str, dict], *, batch_size: int = 256
        ) -> tuple[dict[str, float], list[dict]]:
    """Runs ``tasks`` on ``params`` -> ({"<name>/<metric>": float}, result dicts)."""
    from jclip import evals

    if not tasks:
        return {}, []
    ctx = evals.EvalContext(model, params, tokenizer, model_name="train", batch_size=batch_size,
                            progress=False, num_workers=0)
    results = evals.evaluate(model, params, tokenizer, list(tasks.values()), context=ctx)
    flat = {}
    for name, result in zip(tasks, results):
        for key, value in result["metrics"].items():
            # acc5 is NaN (undefined, as in CLIP_benchmark) with fewer than 5 classes: not logged.
            if isinstance(value, (int, float)) and not (key.endswith("acc5") and value != value):
                flat[f"{name}/{key}"] = float(value)
    return flat, results


def _plain(value):
    """ConfigDicts / tuples -> plain dicts / lists (task dicts are JSON-like)."""
    if isinstance(value, (dict, ml_collections.ConfigDict)):
        return {k: _plain(v) for k, v in dict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
