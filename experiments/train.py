r"""Train or fine-tune a CLIP / SigLIP model from a config file.

  python -m experiments.train --config experiments/configs/shapes_tiny.py --workdir DIR \
      [--config.KEY=VALUE ...]
  python -m experiments.train --config experiments/configs/shapes_tiny.py --help   # the fields

DIR receives config.json (the resolved config), metrics.jsonl, TensorBoard events, orbax
checkpoints and the final model (DIR/model); rerunning with the same DIR resumes. Fine-tune with
``--config.init_from=SOURCE`` (any ``jclip.load`` source; ``--config.wise_ft_alpha=0.5`` saves the
WiSE-FT interpolation). For several processes (one per host), pass --coordinator HOST:PORT
--num_processes N --process_id I (or set them up through the environment of a TPU pod / SLURM,
where ``jax.distributed.initialize()`` finds them itself: --distributed=true).

Exit codes: 0 done, 1 the loss became non-finite or a write failed (e.g. a full disk), 2 a bad
config or command line (the message names the field and the fix; nothing was compiled), 3 the
workdir has checkpoints but none of them is intact (each one's reason is printed).
"""

from __future__ import annotations

import sys

KNOWN_FLAGS = ("workdir", "coordinator", "num_processes", "process_id", "distributed")
# Errors of a config that cannot run, raised while the run is checked and built (before any
# training step): reported as "ERROR: ..." with exit code 2.
CONFIG_ERRORS = (ValueError, TypeError, FileNotFoundError)


def initialize_distributed(flags: dict[str, str]) -> None:
    """Starts jax.distributed from the flags; CPU processes talk through gloo."""
    import jax

    if "coordinator" in flags:
        # CPU processes exchange collectives through gloo; the setting only affects CPU.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=flags["coordinator"],
            num_processes=int(flags["num_processes"]),
            process_id=int(flags["process_id"]),
        )
    elif flags.get("distributed", "false").lower() == "true":
        jax.distributed.initialize()


def print_help(argv: list[str]) -> int:
    """Prints the usage and, with --config, the config's fields, values and comments."""
    from jclip.train import config as config_lib

    print(__doc__.strip())
    rest = [a for a in argv if a not in ("--help", "-h")]
    if not any(a == "--config" or a.startswith("--config=") for a in rest):
        print("\nGive --config FILE with --help to list its fields.")
        return 0
    try:
        config, _ = config_lib.parse_args(rest)
    except CONFIG_ERRORS as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    spec = next(a.split("=", 1)[1] if "=" in a else rest[i + 1]
                for i, a in enumerate(rest) if a == "--config" or a.startswith("--config="))
    print(f"\nFields of {spec} (override any with --config.KEY=VALUE):")
    print(config_lib.describe(config, spec.partition(":")[0]))
    return 0


def main(argv: list[str]) -> int:
    """Runs the command line ``argv``; returns the exit code (see the module docstring)."""
    from jclip.train import config as config_lib

    if "--help" in argv or "-h" in argv:
        return print_help(argv)
    try:
        config, flags = config_lib.parse_args(argv)
    except CONFIG_ERRORS as e:
        print(f"ERROR: {e}", file=sys.stderr, flush=True)
        return 2
    unknown = set(flags) - set(KNOWN_FLAGS)
    if unknown:
        raise SystemExit(f"Unknown flags {sorted(unknown)}; known: --config, --config.KEY, "
                         f"{', '.join('--' + k for k in sorted(KNOWN_FLAGS))}")
    if "workdir" not in flags:
        raise SystemExit("--workdir DIR is required")
    initialize_distributed(flags)

    import jax

    from jclip.train import checkpointing, loop

    try:
        config_lib.check_config(config, num_devices=jax.device_count())
        trainer = loop.Trainer(config, flags["workdir"])
    except CONFIG_ERRORS as e:
        print(f"ERROR: bad config: {e}", file=sys.stderr, flush=True)
        return 2
    except checkpointing.CheckpointError as e:
        print(f"ERROR: {e}", file=sys.stderr, flush=True)
        return 3
    try:
        loop.train(config, flags["workdir"], trainer=trainer)
    except loop.NonFiniteLossError as e:
        print(f"ERROR: {e}", file=sys.stderr, flush=True)
        return 1
    except OSError as e:  # e.g. a full disk: what is on disk stays resumable
        print(f"ERROR: {e}. Rerun the same command when it is fixed: the run resumes from its "
              "newest intact checkpoint and keeps every record.", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
