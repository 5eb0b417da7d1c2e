"""The evaluation tasks by name: ``TASKS[type] = module`` with ``DEFAULTS`` and ``run(ctx, task)``.

A task module's ``run(ctx, task) -> {"metrics": {...}, "num_examples": int, ...}`` gets the
``EvalContext`` (model, params, tokenizer, cached features) and the task dict with every key
filled in (common keys: ``COMMON_KEYS``; its own: ``DEFAULTS``). A new task is a module and a line
here.
"""

from __future__ import annotations

from jclip.evals import (
    adversarial,
    calibration,
    corruption,
    counting,
    fewshot,
    linear_probe,
    ood,
    ordinal,
    spurious,
    zeroshot_classification,
    zeroshot_retrieval,
)

TASKS = {
    "zeroshot_classification": zeroshot_classification,
    "zeroshot_retrieval": zeroshot_retrieval,
    "linear_probe": linear_probe,
    "fewshot": fewshot,
    "corruption": corruption,
    "ordinal": ordinal,
    "ood": ood,
    "calibration": calibration,
    "spurious": spurious,
    "counting": counting,
    "adversarial": adversarial,
}

# Keys every task accepts: what to evaluate on, and how the caller names / schedules it.
COMMON_KEYS = {
    "type": None,  # a TASKS name (required)
    "dataset": None,  # a dataset spec, jclip.evals.datasets (required)
    "split": None,  # None: the dataset's evaluation split
    "name": None,  # how results and the trainer's metrics name this task
    "data": None,  # source options, e.g. jclip_shapes' {"label", "num_examples", "seed", "options"}
    "classnames": None,  # class names overriding the dataset's (a list or a file)
    "every": None,  # trainer: evaluate every this many steps (None: the run's eval_every)
}


def task_for_dataset(kind: str) -> str:
    """The default task of a dataset kind (``--task auto``)."""
    return "zeroshot_retrieval" if kind == "retrieval" else "zeroshot_classification"
