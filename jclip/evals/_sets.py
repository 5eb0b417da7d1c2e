"""Tasks that read more than one dataset (ood, calibration, spurious): a second set is given by
its own (dataset, split, data) keys and resolved through the same ``EvalContext``."""

from __future__ import annotations


def resolve(ctx, dataset, split=None, data=None, classnames=None, *, what: str):
    """The ``EvalData`` of another set of a task; ValueError naming ``what`` if it is missing."""
    if not dataset or not isinstance(dataset, str):
        raise ValueError(f"{what} needs a dataset spec (a non-empty string), got {dataset!r}")
    if data is not None and not isinstance(data, dict):
        raise TypeError(f"{what}: data options must be a dict, got {type(data).__name__}")
    return ctx.dataset({"dataset": dataset, "split": split, "data": data,
                        "classnames": classnames})


def check_distinct(a, b, what: str) -> None:
    """ValueError if two resolved sets are the same data (same spec, split and options)."""
    if a.fingerprint == b.fingerprint and a.split == b.split:
        raise ValueError(f"{what}: {a.name} ({a.split}) is the same data as {b.name} "
                         f"({b.split}); give a different dataset, split or data options")
