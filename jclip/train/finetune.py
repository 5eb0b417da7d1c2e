"""Fine-tuning helpers: WiSE-FT weight-space ensembling of a zero-shot and a fine-tuned model.

``wise_ft`` is a pure function of two param trees. The trainer applies it to the final model when
``config.init_from`` is set and ``config.wise_ft_alpha`` is not None (``save_wise_ft_model``):
``workdir/model`` then holds the interpolated weights, while the checkpoints keep the fine-tuned
ones, so another alpha can be computed later with ``wise_ft`` from the checkpoint and the
``init_from`` source.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np


def wise_ft(params_zeroshot, params_finetuned, alpha: float):
    """Weight-space ensemble of WiSE-FT (Wortsman et al., 2022, "Robust fine-tuning of zero-shot
    models", eq. 1).

    theta_alpha = (1 - alpha) * theta_0 + alpha * theta_1, leaf by leaf,

    with theta_0 the zero-shot (pre-trained) params and theta_1 the params fine-tuned from them.
    alpha = 0 gives the zero-shot model, alpha = 1 the fine-tuned one; the paper finds that
    intermediate alphas (e.g. 0.5) keep most of the fine-tuned accuracy on the target data and
    the zero-shot robustness under distribution shift.

    Args:
      params_zeroshot: param tree theta_0 (numpy or jax arrays).
      params_finetuned: param tree theta_1 with the same structure, shapes and dtypes.
      alpha: mixing coefficient in [0, 1].
    Returns:
      The interpolated tree, each leaf in the dtype of theta_1 (computed in float32 or wider).
    Raises:
      ValueError: alpha outside [0, 1] or not finite; the trees differ in structure or in a
        leaf's shape (the message names the paths).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(f"WiSE-FT alpha must be a number in [0, 1], got {alpha!r}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:  # also rejects nan
        raise ValueError(f"WiSE-FT alpha must be in [0, 1] (0: zero-shot, 1: fine-tuned), "
                         f"got {alpha}")
    zs, zs_def = jax.tree_util.tree_flatten_with_path(params_zeroshot)
    ft, ft_def = jax.tree_util.tree_flatten_with_path(params_finetuned)
    if zs_def != ft_def:
        zs_paths = {jax.tree_util.keystr(p) for p, _ in zs}
        ft_paths = {jax.tree_util.keystr(p) for p, _ in ft}
        only_zs, only_ft = sorted(zs_paths - ft_paths)[:5], sorted(ft_paths - zs_paths)[:5]
        raise ValueError(
            "WiSE-FT needs two param trees of the same model: the trees differ (only in the "
            f"zero-shot params: {only_zs or 'none'}; only in the fine-tuned params: "
            f"{only_ft or 'none'}). Load theta_0 with the layout options (scan_layers) of the run."
        )
    bad = [f"{jax.tree_util.keystr(p)} {np.shape(a)} vs {np.shape(b)}"
           for (p, a), (_, b) in zip(zs, ft) if np.shape(a) != np.shape(b)]
    if bad:
        raise ValueError(f"WiSE-FT params differ in shape at {bad[:5]}: they are not the same "
                         "architecture")

    def mix(theta0, theta1):
        xp = np if isinstance(theta1, np.ndarray) else jnp
        dtype = xp.promote_types(theta1.dtype, xp.float32)
        out = (1.0 - alpha) * xp.asarray(theta0, dtype) + alpha * xp.asarray(theta1, dtype)
        return out.astype(theta1.dtype)

    return jax.tree.map(mix, params_zeroshot, params_finetuned)


def load_zeroshot_params(config, model) -> dict:
    """theta_0 of a run: the params of ``config.init_from`` in the layout of ``model``."""
    import jclip

    options = {k: getattr(model.config, k) for k in ("dtype", "scan_layers", "remat")}
    _, params = jclip.load(config.init_from, **options)
    return params


def save_wise_ft_model(trainer, directory: str) -> str:
    """Writes the final model of ``trainer`` to ``directory`` with ``trainer.save_model``.

    With ``config.init_from`` and ``config.wise_ft_alpha`` set, the saved params are
    ``wise_ft(init_from params, fine-tuned params, alpha)``; the train state itself is left as it
    was (its params are swapped back after saving). The run's eval tasks are run on the
    interpolated params too: printed and written to ``<workdir>/wise_ft_eval.json`` (the loop's
    metrics.jsonl holds the fine-tuned params' results). Otherwise this is ``save_model``.
    """
    config = trainer.config
    alpha = config.get("wise_ft_alpha", None)
    if alpha is None or not config.get("init_from"):
        return trainer.save_model(directory)
    finetuned = trainer.state["params"]
    host = finetuned
    if not all(x.is_fully_addressable for x in jax.tree.leaves(finetuned)):
        from jax.experimental import multihost_utils

        host = multihost_utils.process_allgather(finetuned, tiled=True)
    zeroshot = jax.device_get(load_zeroshot_params(config, trainer.model))
    mixed = wise_ft(zeroshot, jax.device_get(host), alpha)
    trainer.state = {**trainer.state, "params": jax.tree.map(jnp.asarray, mixed)}
    try:
        path = trainer.save_model(directory)
        if trainer.eval_tasks:  # the saved (interpolated) model is the one to report
            results = trainer.evaluate()
            if jax.process_index() == 0:
                import json
                import os

                print(f"eval of the WiSE-FT model (alpha={alpha}): " + " ".join(
                    f"{k} {v:.4f}" for k, v in sorted(results.items())), flush=True)
                out = os.path.join(trainer.workdir, "wise_ft_eval.json")
                with open(out, "w") as f:
                    json.dump({"alpha": alpha, "metrics": results}, f, indent=1)
        return path
    finally:
        trainer.state = {**trainer.state, "params": finetuned}
