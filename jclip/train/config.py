"""Training configs: Python files with ``get_config()``, overridable from the command line.

A config file defines ``get_config(arg=None)`` returning an ``ml_collections.ConfigDict``
(big_vision / flax-examples style). ``--config path.py:arg`` passes ``arg`` to ``get_config`` and
``--config.optim.lr=3e-4`` overrides one field. Override values are parsed according to the type
of the field they replace, so ``--config.batch_size=64`` stays an int and
``--config.data.shapes="('circle','square')"`` becomes a tuple.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
import re

import ml_collections

from jclip.pretrained.load import FILE_EXTENSIONS
from jclip.train import evaluators, objectives, sources
from jclip.train.config_keys import (  # noqa: F401 (re-exported: config.ConfigError, ...)
    COMPUTE_OPTIONS,
    HUB_ID,
    LOSS_IMPLS,
    OPTIONAL_KEYS,
    REQUIRED_KEYS,
    TOWERS,
    ConfigError,
    locked_towers,
)


def load_config(spec: str) -> ml_collections.ConfigDict:
    """Loads ``path.py`` or ``path.py:arg`` by calling the file's ``get_config([arg])``."""
    path, _, arg = spec.partition(":")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file {path!r} does not exist")
    module_spec = importlib.util.spec_from_file_location("_jclip_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"Config file {path!r} defines no get_config()")
    config = module.get_config(arg) if arg else module.get_config()
    if not isinstance(config, ml_collections.ConfigDict):
        raise TypeError(
            f"get_config() in {path!r} must return an ml_collections.ConfigDict, "
            f"got {type(config).__name__}"
        )
    _check_required(config)
    with config.unlocked():
        for key, (default, _) in OPTIONAL_KEYS.items():
            if key not in config:
                config[key] = default
    return config


def _check_required(config: ml_collections.ConfigDict) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise ConfigError(f"Training config lacks the required keys {missing}")


def check_config(config: ml_collections.ConfigDict, num_devices: int | None = None) -> None:
    """Checks the whole config before anything is built or compiled.

    Checks the required keys, step counts, the batch size (positive, divisible by
    ``optim.accum_steps`` and by ``num_devices`` when given), the loss name and impl,
    ``locked_towers``, ``init_from`` (exists, or looks like a hub id), ``wise_ft_alpha`` and every
    ``config.evals`` task (``evaluators.make_tasks``). The checks that need the model (e.g. the
    siglip loss on a CLIP model) are in ``check_model``. Raises ConfigError (a ValueError) naming
    the field and the fix.
    """
    _check_required(config)
    for key in ("total_steps", "batch_size"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise ConfigError(f"config.{key} must be a positive int, got {config[key]!r}")
    _check_counts(config, num_devices)
    lr = config.get("optim", {}).get("lr", None)
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"config.optim.lr={lr!r} must be a positive finite number (a negative "
                          "learning rate would climb the loss): e.g. --config.optim.lr=1e-4")
    warmup = config.get("optim", {}).get("warmup_steps", 0)
    if warmup >= config.total_steps:
        raise ConfigError(f"config.optim.warmup_steps={warmup} must be below total_steps="
                          f"{config.total_steps}: lower it (e.g. --config.optim.warmup_steps="
                          f"{config.total_steps // 10})")
    batch = config.batch_size
    accum = int(config.get("optim", {}).get("accum_steps", 1))
    if accum < 1 or batch % accum:
        raise ConfigError(f"config.batch_size={batch} is not divisible by optim.accum_steps="
                          f"{accum}: choose a batch size that is a multiple of it")
    if num_devices is not None and batch % num_devices:
        suggestion = num_devices * max(1, batch // num_devices)
        raise ConfigError(
            f"config.batch_size={batch} is not divisible by the {num_devices} devices: use a "
            f"multiple of {num_devices} (e.g. --config.batch_size={suggestion})")
    if num_devices is not None and accum > 1 and (batch // accum) % num_devices:
        raise ConfigError(
            f"config.batch_size={batch} / optim.accum_steps={accum} = {batch // accum} examples "
            f"per micro-batch is not divisible by the {num_devices} devices")
    _check_loss(config)
    bad = [t for t in locked_towers(config) if t not in TOWERS]
    if bad:
        raise ConfigError(f"config.locked_towers has unknown towers {bad}; the towers are "
                          f"{TOWERS} (e.g. --config.locked_towers=vision for LiT)")
    _check_init_from(config)
    alpha = config.get("wise_ft_alpha", None)
    if alpha is not None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ConfigError(f"config.wise_ft_alpha must be None or a number in [0, 1], got "
                              f"{alpha!r}")
        if not config.get("init_from"):
            raise ConfigError("config.wise_ft_alpha interpolates the fine-tuned weights with "
                              "those of config.init_from: set init_from, or wise_ft_alpha=None")
    try:
        evaluators.make_tasks(config)
    except (TypeError, ValueError, FileNotFoundError) as e:
        raise ConfigError(str(e)) from None


# (field, smallest allowed value, what it means): a 0 here would divide by zero or never log.
_COUNTS = (("log_every", 1, "steps between log lines"),
           ("checkpoint_every", 0, "steps between checkpoints (0: none)"),
           ("eval_every", 0, "steps between evaluations (0: none)"),
           ("keep_checkpoints", 1, "checkpoints kept"),
           ("optim.warmup_steps", 0, "warmup steps"),
           ("optim.accum_steps", 1, "micro-batches per step"))


def _check_counts(config, num_devices) -> None:
    for field, lowest, meaning in _COUNTS:
        group, _, key = field.rpartition(".")
        holder = config.get(group, {}) if group else config
        if key not in holder:
            continue
        value = holder[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            raise ConfigError(f"config.{field} ({meaning}) must be an int >= {lowest}, got "
                              f"{value!r}")
    decay = config.get("optim", {}).get("weight_decay", 0.0)
    if not (isinstance(decay, (int, float)) and math.isfinite(decay) and decay >= 0):
        raise ConfigError(f"config.optim.weight_decay must be a finite number >= 0, got {decay!r}")
    kind = config.get("data", {}).get("type", None)
    if kind is not None:
        if kind not in sources.SOURCES:
            raise ConfigError(f"Unknown config.data.type={kind!r}; known data types: "
                              f"{sorted(sources.SOURCES)}")
    mesh = config.get("mesh", {})
    data, fsdp = mesh.get("data", -1), mesh.get("fsdp", 1)
    if num_devices is not None and -1 not in (data, fsdp) and data * fsdp != num_devices:
        raise ConfigError(f"config.mesh.data={data} x mesh.fsdp={fsdp} does not match the "
                          f"{num_devices} devices: set one of them to -1 (the rest)")
    if num_devices is not None and fsdp not in (-1, 0) and fsdp > 0 and num_devices % fsdp:
        raise ConfigError(f"config.mesh.fsdp={fsdp} does not divide the {num_devices} devices")


def _check_loss(config) -> None:
    loss = config.get("loss", {})
    name = loss.get("name", "clip")
    if name not in objectives.LOSSES:
        raise ConfigError(f"Unknown loss config.loss.name={name!r}; expected one of "
                          f"{sorted(objectives.LOSSES)}")
    impl = loss.get("impl", "xla")
    if impl not in LOSS_IMPLS:
        raise ConfigError(f"config.loss.impl must be one of {LOSS_IMPLS}, got {impl!r}")
    if impl == "kernel" and name not in ("clip", "siglip"):
        raise ConfigError(f"config.loss.impl='kernel' exists for the clip and siglip losses, not "
                          f"{name!r}: use --config.loss.impl=xla")
    if name in ("tecoa", "fare"):  # adversarial fine-tunes: jclip.train.objectives_adversarial
        try:
            objectives.objectives_adversarial.check_config(config)
        except ValueError as e:
            raise ConfigError(str(e)) from None


def _check_init_from(config) -> None:
    source = config.get("init_from", "")
    if not source:
        return
    source = os.fspath(source)
    if os.path.exists(source):
        return
    if not HUB_ID.match(source.removeprefix("hf-hub:")) or source.lower().endswith(
            FILE_EXTENSIONS):
        raise ConfigError(
            f"config.init_from={source!r} does not exist (current directory {os.getcwd()}): give "
            "a jclip.load source: a local HF / OpenCLIP / jclip folder, a checkpoint file or a "
            "hub id 'org/name'")


def check_model(config: ml_collections.ConfigDict, model_config) -> None:
    """The checks of ``config`` that need the model's ``ModelConfig`` (before compilation)."""
    name = config.get("loss", {}).get("name", "clip")
    if name == "siglip" and model_config.kind != "siglip":
        raise ConfigError(
            "config.loss.name='siglip' needs a SigLIP model (one with a logit_bias), but the "
            "model is a CLIP model: use --config.loss.name=clip, or a SigLIP model "
            "(--config.model.overrides.kind=siglip from scratch, or init_from a SigLIP checkpoint)")


def check_overrides(overrides: dict, model_config, source: str) -> dict:
    """Splits fine-tuning ``model.overrides`` -> the compute options for ``jclip.load``.

    Overrides of architecture fields must equal the checkpoint's values (a fine-tuned model has
    the checkpoint's architecture); any that differ raise ConfigError naming them.
    """
    import dataclasses

    fields = {f.name for f in dataclasses.fields(model_config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"config.model.overrides has unknown ModelConfig fields {unknown}")
    conflicts = [f"{k}={v!r} (checkpoint: {getattr(model_config, k)!r})"
                 for k, v in sorted(overrides.items())
                 if k not in COMPUTE_OPTIONS and v != getattr(model_config, k)]
    if conflicts:
        raise ConfigError(
            f"config.model.overrides conflict with the architecture of init_from={source!r}: "
            f"{', '.join(conflicts)}. A fine-tuned model keeps the checkpoint's architecture: "
            "drop these overrides (e.g. --config.model.overrides={}); only the compute options "
            f"{COMPUTE_OPTIONS} may be set")
    return {k: v for k, v in overrides.items() if k in COMPUTE_OPTIONS}


def _parse_value(text: str, current):
    """Parses ``text`` into the type of ``current`` (the value being overridden)."""
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"Expected a boolean (true/false), got {text!r}")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if current is None:
            return text  # a free-form string for a field that defaults to None
        if isinstance(current, tuple | list):
            return tuple(part.strip() for part in text.split(",") if part.strip())  # a,b -> strs
        raise ValueError(
            f"Cannot parse {text!r} as a {type(current).__name__} (use Python literal syntax)"
        ) from None
    if isinstance(current, tuple) and isinstance(value, list | tuple):
        return tuple(value)
    if isinstance(current, tuple) and not isinstance(value, tuple):
        return (value,)
    return value


def apply_override(config: ml_collections.ConfigDict, key: str, text: str) -> None:
    """Sets the dotted ``key`` of ``config`` (in place) to ``text`` parsed like its old value."""
    *parents, leaf = key.split(".")
    node = config
    for i, part in enumerate(parents):
        if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
            raise ValueError(f"Unknown config key {'.'.join(parents[: i + 1])!r} in {key!r}")
        node = node[part]
    if leaf not in node:
        raise ValueError(
            f"Unknown config key {key!r}; known keys here: {sorted(node.keys())}"
        )
    current = node[leaf]
    if isinstance(current, ml_collections.ConfigDict):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if not isinstance(value, dict):
            raise ValueError(
                f"Config key {key!r} is a group: override one of its fields or give a dict literal"
            )
        node[leaf] = ml_collections.ConfigDict(value)
        return
    try:
        value = _parse_value(text, current)
    except ValueError as e:
        raise ValueError(f"Bad value for --config.{key}: {e}") from None
    with node.ignore_type():
        node[leaf] = value


def parse_args(argv: list[str]) -> tuple[ml_collections.ConfigDict, dict[str, str]]:
    """Parses ``--config FILE[:ARG] [--config.KEY=VALUE ...] [--NAME=VALUE ...]``.

    Returns the config with overrides applied and a dict of the other ``--name value`` flags
    (e.g. ``workdir``). Both ``--flag=value`` and ``--flag value`` forms are accepted.
    """
    pairs = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise ValueError(f"Unexpected positional argument {arg!r}")
        if "=" in arg:
            name, value = arg[2:].split("=", 1)
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            name, value = arg[2:], argv[i + 1]
            i += 1
        else:
            raise ValueError(f"Flag {arg!r} needs a value")
        pairs.append((name, value))
        i += 1
    specs = [v for n, v in pairs if n == "config"]
    if len(specs) != 1:
        raise ValueError("Give exactly one --config path/to/config.py")
    config = load_config(specs[0])
    flags = {}
    for name, value in pairs:
        if name.startswith("config."):
            apply_override(config, name[len("config."):], value)
        elif name != "config":
            flags[name] = value
    return config, flags


def config_comments(path: str) -> dict[str, str]:
    """{dotted key: comment} from the inline comments of ``c.key = value  # comment`` lines in
    the config file at ``path`` and in the config modules it imports from its own folder."""
    comments: dict[str, str] = {}
    folder = os.path.dirname(os.path.abspath(path))
    seen, todo = set(), [os.path.abspath(path)]
    while todo:
        file = todo.pop()
        if file in seen or not os.path.isfile(file):
            continue
        seen.add(file)
        with open(file) as f:
            source = f.read()
        for match in re.finditer(r"from\s+[\w.]+\s+import\s+([\w, ]+)|^import\s+[\w.]*?(\w+)$",
                                 source, re.M):
            for name in (match.group(1) or match.group(2) or "").split(","):
                todo.append(os.path.join(folder, name.strip() + ".py"))
        for match in re.finditer(r"^\s*\w+((?:\.\w+)+)\s*=[^#\n]*#\s*(.+)$", source, re.M):
            comments.setdefault(match.group(1)[1:], match.group(2).strip())
    return comments


def describe(config: ml_collections.ConfigDict, path: str | None = None) -> str:
    """The config's fields as ``--config.KEY=VALUE  # comment`` lines (``--help``)."""
    comments = config_comments(path) if path else {}
    comments.update({k: c for k, (_, c) in OPTIONAL_KEYS.items() if k not in comments})
    lines = []

    def walk(node, prefix):
        for key in node.keys():
            value = node[key]
            dotted = f"{prefix}{key}"
            if isinstance(value, ml_collections.ConfigDict):
                walk(value, dotted + ".")
                continue
            line = f"  --config.{dotted}={value!r}"
            if dotted in comments:
                line = f"{line:<60}  # {comments[dotted]}"
            lines.append(line)

    walk(config, "")
    return "\n".join(lines)
