"""Evaluation: tasks configured as data, one runner, the ``jclip-eval`` command.

  results = jclip.evals.evaluate(model, params, tok, [
      {"type": "zeroshot_classification", "dataset": "cifar10"},
      {"type": "zeroshot_retrieval", "dataset": "coco_captions", "recall_k": [1, 5, 10]},
  ])

Modules: ``datasets`` (dataset specs -> ``EvalData``), ``encode`` (``EvalContext``: cached image
features, text features, classifiers), one module per task (``zeroshot_classification``,
``zeroshot_retrieval``, ``linear_probe``, ``fewshot``), ``registry`` (``TASKS``), ``runner``
(``evaluate``), ``cli`` (``jclip-eval`` = ``python -m jclip.evals``), ``summarize``.
"""

from jclip._lazy import package_face
from jclip.evals.datasets import EvalData, expand, get_eval_data
from jclip.evals.encode import EvalContext
from jclip.evals.registry import TASKS
from jclip.evals.runner import check_task, evaluate

__all__ = ["TASKS", "EvalContext", "EvalData", "check_task", "evaluate", "expand",
           "get_eval_data"]

__getattr__, __dir__ = package_face(__name__, __path__)  # every submodule, lazily
