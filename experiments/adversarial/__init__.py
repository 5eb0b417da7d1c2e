"""The adversarial-robustness study (README.md here): ``run(config, seeds, workdir)``."""

from experiments.adversarial.study import METHODS, run

__all__ = ["METHODS", "run"]
