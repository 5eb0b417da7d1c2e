"""Trainer config of the study's fine-tunes, for ``experiments.train`` directly:

  python -m experiments.train --config experiments/adversarial/configs/finetune.py:fare \
      --config.init_from=results/base/model --workdir DIR

``arg`` is the loss: "tecoa" (default) or "fare", with the study's settings
(``default.get_config().methods``); ``loss.reference`` follows ``init_from``.
"""

from experiments.adversarial.configs import default


def get_config(arg=None):
    name = arg or "tecoa"
    methods = default.get_config().methods
    if name not in methods:
        raise ValueError(f"finetune.py:{name}: expected one of {sorted(methods)}")
    c = default.finetune_config()
    for key, value in dict(methods[name]).items():
        c.loss[key] = value
    return c
