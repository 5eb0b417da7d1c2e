"""Classifiers on frozen CLIP features: zero-shot prompt ensembles, prompt data, GDA, linear probes.

``zeroshot`` builds classifiers from class names and templates, ``prompts`` holds the class names
and templates, ``adapt`` fits GDA and L2-regularised logistic regression on frozen features.
"""
