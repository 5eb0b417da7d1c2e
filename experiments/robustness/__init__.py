"""The robustness study: distribution shift, effective robustness, calibration, OOD detection and
spurious features, every number through ``jclip.evals`` tasks (see README.md)."""
