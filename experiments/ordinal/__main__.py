"""``python -m experiments.ordinal [--seed S | --seeds S,...] [--workdir DIR] [--config FILE]``."""

from __future__ import annotations

import os
import sys

from experiments.common import parse_study_args

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py")


def main(argv=None) -> int:
    config, seeds, workdir = parse_study_args(sys.argv[1:] if argv is None else argv,
                                              study="ordinal", default_config=DEFAULT_CONFIG)
    from experiments.ordinal import study

    study.run(config, seeds, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
