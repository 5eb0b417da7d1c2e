"""``python -m experiments.adversarial [--seed S | --seeds S,...] [--workdir DIR] [--config FILE]``

Runs the adversarial-robustness study (``experiments.adversarial.study.run``; README.md beside
this file) and prints the mean (± std over seeds) clean and robust accuracy of every method.
"""

from __future__ import annotations

import os
import sys

from experiments import common
from experiments.adversarial import study

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs",
                              "default.py")


def table(summary: dict) -> str:
    """Markdown table: method, clean, robust at each eps (percent, mean ± std over seeds)."""
    eps = list(summary["mean"]["vanilla"]["robust"])
    lines = ["| method | clean | " + " | ".join(f"eps {e}/255" for e in eps) + " |",
             "|---" * (2 + len(eps)) + "|"]
    for method in study.METHODS:
        cells = [common.mean_std_text(summary, method, "clean")]
        cells += [common.mean_std_text(summary, method, "robust", e) for e in eps]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    try:
        config, seeds, workdir = common.parse_study_args(
            argv, study="adversarial", default_config=DEFAULT_CONFIG)
        study.check(config)
    except (ValueError, FileNotFoundError, TypeError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    summary = study.run(config, seeds, workdir)
    print(f"seeds {summary['seeds']} (accuracy %, mean ± std over seeds):")
    print(table(summary))
    print(f"wrote {os.path.join(workdir, 'summary.json')} and the plots")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
