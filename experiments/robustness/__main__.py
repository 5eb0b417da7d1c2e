"""python -m experiments.robustness [--seed S | --seeds S,...] [--workdir DIR] [--config FILE]"""

import sys

from experiments.robustness.run import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
