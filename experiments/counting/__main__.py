"""``python -m experiments.counting [--seed S | --seeds S,...] [--workdir DIR] [--config FILE]``."""

import os
import sys

from experiments import common
from experiments.counting import study

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py")


def main(argv=None) -> int:
    config, seeds, workdir = common.parse_study_args(
        sys.argv[1:] if argv is None else argv, study="counting", default_config=DEFAULT_CONFIG)
    summary = study.run(config, seeds, workdir)
    print(study.summary_text(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
