"""Classifiers on frozen CLIP features: zero-shot prompt ensembles, prompt data, GDA, linear probes.

``zeroshot`` builds classifiers from class names and templates, ``prompts`` holds the class names
and templates, ``adapt`` fits GDA and L2-regularised logistic regression on frozen features.
"""

from jclip._lazy import package_face

__getattr__, __dir__ = package_face(__name__, __path__)  # every submodule, lazily
