"""The trainer config's shared keys and error type (a leaf module: the config checks, the loss
table and the loop share them without importing one another)."""

from __future__ import annotations

import re

# Keys every training config must define (the loop reads them directly).
REQUIRED_KEYS = ("total_steps", "batch_size", "seed", "log_every", "eval_every",
                 "checkpoint_every")
# Optional top-level keys that ``load_config`` adds when a config file leaves them out, so that
# they can be overridden from the command line: {key: (default, comment)}.
OPTIONAL_KEYS = {
    "init_from": ("", "a jclip.load source to fine-tune (HF folder / hub id, OpenCLIP file, "
                      "jclip folder)"),
    "locked_towers": ((), 'towers that get no updates, e.g. ("vision",) for LiT'),
    "wise_ft_alpha": (None, "with init_from: save (1 - a) * init + a * fine-tuned as the final "
                            "model (WiSE-FT); None: off"),
}
TOWERS = ("vision", "text")
LOSS_IMPLS = ("xla", "kernel")
# ModelConfig fields a fine-tuning run may still set in model.overrides: they change how the model
# computes, not its parameters.
COMPUTE_OPTIONS = ("dtype", "scan_layers", "remat")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ConfigError(ValueError):
    """A training config that cannot run; the message names the field and the fix."""


def locked_towers(config) -> tuple[str, ...]:
    """``config.locked_towers`` as a tuple (a single name is accepted)."""
    locked = config.get("locked_towers", ()) or ()
    return (locked,) if isinstance(locked, str) else tuple(locked)
