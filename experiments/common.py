"""What the study scripts (robustness, adversarial, counting, ordinal) share: their command line,
the base model they start from, and the seed summary they write.

Every study runs as ``python -m experiments.<study> [--seed S | --seeds S,...] [--workdir DIR]
[--config FILE]``; ``parse_study_args`` reads exactly that. ``base_model`` gives the tiny CLIP of
``make demo`` (trained on the synthetic scenes), reusing a trained copy when there is one.
``summarize_seeds`` turns {seed: result dict} into the ``summary.json`` layout every study writes:
``{"seeds": [...], "per_seed": {seed: result}, "mean": ..., "std": ...}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
from collections.abc import Mapping

import numpy as np

CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
# Where ``make demo`` leaves its model; a study reuses it instead of training a new one.
DEMO_MODEL = os.path.join("results", "demo", "model")
BASE_DIR = os.path.join("results", "base")  # base_model's cache when there is no demo model


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; distinct non-negative integers, else a ValueError naming the text."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds takes comma-separated integers such as 0,1,2, got {text!r}"
                         ) from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"--seeds needs distinct non-negative integers, got {text!r}")
    return seeds


def load_config_file(path: str, arg: str | None = None):
    """``get_config(arg)`` of a Python config file (big_vision style)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} does not exist "
                                f"(current directory {os.getcwd()})")
    spec = importlib.util.spec_from_file_location(
        "study_config_" + os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {path!r} defines no get_config()")
    return module.get_config(arg)


def parse_study_args(argv: list[str], *, study: str, default_config: str,
                     default_workdir: str | None = None):
    """The study command line -> (config, seeds, workdir).

    ``--config FILE[:ARG]`` (default ``default_config``) is a Python file whose ``get_config(ARG)``
    returns the study's config; ``--seed S`` runs one seed, ``--seeds 0,1,2`` several (default:
    seed 0); the workdir defaults to ``results/<study>``. Bad flags exit with code 2 through
    argparse; a bad seed list or config file raises ValueError / FileNotFoundError.
    """
    parser = argparse.ArgumentParser(prog=f"python -m experiments.{study}",
                                     description=f"The {study} study (see experiments/{study}/).")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seed", type=int, default=None, help="run one seed (default 0)")
    group.add_argument("--seeds", type=str, default=None, help="several seeds, e.g. 0,1,2")
    parser.add_argument("--workdir", default=default_workdir or os.path.join("results", study))
    parser.add_argument("--config", default=default_config,
                        help="a config file (FILE or FILE:ARG, get_config(ARG))")
    args = parser.parse_args(argv)
    if args.seeds is not None:
        seeds = parse_seeds(args.seeds)
    else:
        seeds = [0 if args.seed is None else args.seed]
        if seeds[0] < 0:
            raise ValueError(f"--seed must be >= 0, got {seeds[0]}")
    path, _, arg = args.config.partition(":")
    config = load_config_file(path, arg or None)
    return config, seeds, args.workdir


def base_model(cache_dir: str = BASE_DIR, *, steps: int | None = None, seed: int = 0) -> str:
    """A folder holding the demo's tiny scenes CLIP (``jclip.load``-able, with tokenizer.json).

    Reuses ``results/demo/model`` (``make demo``) or ``cache_dir/model`` when present and
    trained with the same steps and seed; otherwise trains ``configs/shapes_tiny.py`` (the demo's
    config, ``steps`` overriding its total_steps) into ``cache_dir`` first (about three minutes on
    2 CPU cores at the default 500 steps). Every study shares the one cached base model.
    """
    from jclip.train import loop

    config = load_config_file(os.path.join(CONFIGS_DIR, "shapes_tiny.py"))
    if steps is not None:
        config.total_steps = int(steps)
        config.optim.warmup_steps = min(int(config.optim.warmup_steps), max(0, int(steps) - 1))
    config.seed = int(seed)
    base = cache_dir
    for folder in (DEMO_MODEL, os.path.join(base, "model")):
        if _trained_as(folder, config):
            return folder
    print(f"Training the base model (shapes_tiny, {config.total_steps} steps) into {base} ...",
          flush=True)
    config.eval_every = 0
    config.checkpoint_every = 0
    loop.train(config, base)
    with open(os.path.join(base, "model", "base_model.json"), "w") as f:
        json.dump({"total_steps": int(config.total_steps), "seed": int(config.seed)}, f)
    return os.path.join(base, "model")


def _trained_as(folder: str, config) -> bool:
    if not os.path.isfile(os.path.join(folder, "params.msgpack")):
        return False
    marker = os.path.join(folder, "base_model.json")
    if os.path.isfile(marker):
        with open(marker) as f:
            meta = json.load(f)
        return meta == {"total_steps": int(config.total_steps), "seed": int(config.seed)}
    # The demo's folder: its config.json sits next to it.
    run_config = os.path.join(os.path.dirname(folder), "config.json")
    if not os.path.isfile(run_config):
        return False
    with open(run_config) as f:
        run = json.load(f)
    return (run.get("total_steps") == int(config.total_steps)
            and run.get("seed") == int(config.seed)
            and run.get("model", {}).get("overrides") == dict(config.model.overrides))


def _numeric_leaves(tree, prefix=()):
    if isinstance(tree, Mapping):
        for k, v in tree.items():
            yield from _numeric_leaves(v, prefix + (str(k),))
    elif isinstance(tree, (int, float, np.integer, np.floating)) and not isinstance(tree, bool):
        yield prefix, float(tree)


def _set(tree: dict, path, value) -> None:
    for k in path[:-1]:
        tree = tree.setdefault(k, {})
    tree[path[-1]] = value


def summarize_seeds(per_seed: Mapping[int, Mapping]) -> dict:
    """{seed: nested result dict} -> {"seeds", "per_seed", "mean", "std"}.

    ``mean`` and ``std`` have the nested layout of the results, over the numeric leaves that
    every seed has (std is the population std over seeds, 0 for a single seed; NaN leaves stay
    NaN so a failed number is not averaged away).
    """
    if not per_seed:
        raise ValueError("summarize_seeds needs the results of at least one seed")
    seeds = sorted(per_seed)
    leaves = [dict(_numeric_leaves(per_seed[s])) for s in seeds]
    common = [p for p in leaves[0] if all(p in x for x in leaves[1:])]
    mean, std = {}, {}
    for path in common:
        values = np.array([x[path] for x in leaves], dtype=np.float64)
        _set(mean, path, float(values.mean()))
        _set(std, path, float(values.std()))
    return {"seeds": seeds, "per_seed": {str(s): per_seed[s] for s in seeds},
            "mean": mean, "std": std}


def write_json(obj, path: str) -> None:
    """Writes ``obj`` as indented JSON (NaN written as null), creating the folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def clean(x):
        if isinstance(x, Mapping):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, np.ndarray):
            return clean(x.tolist())
        if isinstance(x, (np.floating, float)):
            return None if not math.isfinite(float(x)) else float(x)
        if isinstance(x, np.integer):
            return int(x)
        return x

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(clean(obj), f, indent=2)
    os.replace(tmp, path)


def mean_std_text(summary: dict, *path: str, scale: float = 100.0, digits: int = 1) -> str:
    """'61.7 ± 2.3' for a leaf of a ``summarize_seeds`` result (scaled, e.g. to percent)."""
    m, s = summary["mean"], summary["std"]
    for k in path:
        m, s = m[k], s[k]
    return f"{scale * m:.{digits}f} ± {scale * s:.{digits}f}"
