"""The training loop: build everything from the config, resume, train, evaluate, checkpoint.

``train(config, workdir)`` is what ``python -m experiments.train`` runs. Restarting it with the
same workdir resumes from the last checkpoint (state, RNG key and data position), so an
interrupted run continues with exactly the losses of an uninterrupted one. A non-finite loss stops
the run with ``NonFiniteLossError`` before anything is checkpointed after it.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time

import jax
import ml_collections
import numpy as np

from jclip.train import checkpointing, evaluators, input_pipeline, metric_writer, optim, sources
from jclip.train import sharding as sharding_lib
from jclip.train import state as state_lib
from jclip.train import step as step_lib
from jclip.train.config import ConfigError, check_config, check_model, check_overrides


class NonFiniteLossError(RuntimeError):
    """The training loss became nan or inf."""


def to_host(x) -> np.ndarray:
    """A replicated global array as numpy, also when it spans several processes."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.asarray(x.addressable_data(0))
    return np.asarray(x)


def build_model(config: ml_collections.ConfigDict):
    """Returns (model, tokenizer, params or None) from ``config.model`` / ``config.init_from``.

    From scratch, the preset ``model.name`` gets ``model.overrides`` and the tokenizer's
    vocabulary size, context length and special ids. With ``init_from``, the model and its
    params come from ``jclip.load(init_from)`` (fine-tuning): ``model.overrides`` may set the
    compute options (dtype, scan_layers, remat); an architecture field that differs from the
    checkpoint's, or a tokenizer that does not fit the model, is a ``ConfigError``.
    """
    import jclip

    tok_source = config.get("tokenizer", "word")
    context_length = int(config.model.get("context_length", 16))
    if tok_source == "word":
        tokenizer = input_pipeline.make_word_tokenizer(context_length)
    elif tok_source == "from_init":  # the tokenizer saved with the init_from model
        if not config.get("init_from"):
            raise ConfigError("tokenizer='from_init' needs init_from (the model folder whose "
                              "tokenizer to use)")
        tokenizer = jclip.load_tokenizer(str(config.init_from), context_length=context_length)
    else:  # a hub id, a tokenizer folder, or a model folder with its tokenizer
        tokenizer = jclip.load_tokenizer(tok_source, context_length=context_length)
    if config.get("init_from"):
        source = str(config.init_from)
        model, params = jclip.load(source)  # the checkpoint's architecture, checked here
        options = check_overrides(dict(config.model.get("overrides", {})), model.config, source)
        _check_tokenizer(tokenizer, model.config, source)
        check_model(config, model.config)
        if options:  # compute options: as jclip.load(source, **options) would apply them
            import dataclasses

            from jclip.models.configs import check_config as check_model_config
            from jclip.models.params import to_layout

            model_config = check_model_config(dataclasses.replace(model.config, **options))
            model = jclip.create_model(model_config)
            params = jax.tree.map(jax.numpy.asarray, to_layout(params, model_config))
        return model, tokenizer, params
    overrides = dict(config.model.get("overrides", {}))
    overrides.update(vocab_size=tokenizer.vocab_size, context_length=tokenizer.context_length,
                     eos_token_id=tokenizer.eos_id, pad_token_id=tokenizer.pad_id)
    model_config = jclip.get_config(config.model.name, **overrides)
    check_model(config, model_config)
    return jclip.create_model(model_config), tokenizer, None


def _check_tokenizer(tokenizer, model_config, source: str) -> None:
    """A fine-tuning tokenizer must fit the loaded text tower (ids, length, end-of-text id)."""
    fix = (f"use the checkpoint's tokenizer (--config.tokenizer={source}) or a matching "
           "config.model.context_length")
    if model_config.vocab_size < tokenizer.vocab_size:
        raise ConfigError(f"The tokenizer has {tokenizer.vocab_size} ids but the model of "
                          f"init_from={source!r} only {model_config.vocab_size}: {fix}")
    if tokenizer.context_length > model_config.context_length:
        raise ConfigError(f"config.model.context_length={tokenizer.context_length} exceeds the "
                          f"{model_config.context_length} positions of init_from={source!r}: "
                          f"set --config.model.context_length={model_config.context_length}")
    if model_config.kind == "clip" and tokenizer.eos_id != model_config.eos_token_id:
        raise ConfigError(f"The tokenizer's end-of-text id {tokenizer.eos_id} differs from the "
                          f"{model_config.eos_token_id} the model of init_from={source!r} pools "
                          f"at: {fix}")


def _locked(config) -> tuple[str, ...]:
    locked = config.get("locked_towers", ())
    return (locked,) if isinstance(locked, str) else tuple(locked)


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes the resolved config to ``workdir/config.json`` (process 0)."""
    if jax.process_index() != 0:
        return
    import json

    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=1, sort_keys=True, default=repr)
        f.write("\n")


def _jsonable(value):
    """Plain JSON types (tuples -> lists), as checkpoint metadata stores them."""
    import json

    return json.loads(json.dumps(value, default=repr))


class Trainer:
    """Everything a run needs, built from the config; ``run()`` trains to ``total_steps``."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: str):
        check_config(config)
        self.config = config
        self.workdir = workdir
        self.mesh = sharding_lib.make_mesh(config.mesh.data, config.mesh.fsdp)
        if config.batch_size % self.mesh.size:
            raise ValueError(
                f"batch_size={config.batch_size} is not divisible by the {self.mesh.size} devices"
            )
        self.model, self.tokenizer, init_params = build_model(config)
        write_config(config, workdir)
        rng = jax.random.PRNGKey(config.seed)
        abstract_params = jax.eval_shape(
            functools.partial(state_lib.init_params, self.model), rng)
        self.optimizer, self.schedule = optim.make_optimizer(
            config.optim, config.total_steps, abstract_params, locked=_locked(config))
        self.state, self.shardings = state_lib.create_train_state(
            functools.partial(state_lib.init_params, self.model), self.optimizer, self.mesh, rng,
            min_shard_size=int(config.mesh.get("min_shard_size", 2**10)), params=init_params)
        loss_fn = step_lib.make_objective(  # the loss under shard_map over (data, fsdp)
            config.loss, self.model, locked=_locked(config), mesh=self.mesh)
        self.train_step = step_lib.jit_train_step(
            step_lib.make_train_step(
                loss_fn, self.optimizer, self.schedule,
                accum_steps=int(config.optim.get("accum_steps", 1)), mesh=self.mesh,
                nan_at_step=int(config.get("debug_nan_at_step", -1))),
            self.shardings, self.mesh)
        self.batches = sources.make_batches(
            config, self.tokenizer, self.model.config,
            counterfactual=float(config.loss.get("counting_weight", 0.0)) > 0)
        self.eval_tasks = evaluators.make_tasks(config)
        self.last_eval_results: list[dict] = []  # result dicts of the latest evaluation
        self.checkpointer = None
        if config.checkpoint_every > 0:
            self.checkpointer = checkpointing.Checkpointer(
                os.path.join(workdir, "checkpoints"), keep=int(config.get("keep_checkpoints", 3)))
        self.start_step = self._maybe_resume()
        self.writer = metric_writer.MetricWriter(
            workdir, resume_step=self.start_step, enabled=jax.process_index() == 0,
            tensorboard=bool(config.get("tensorboard", True)))

    def _maybe_resume(self) -> int:
        """Restores the newest intact checkpoint (corrupt ones are reported and set aside, see
        jclip.train.checkpointing); returns its data position, 0 when there is none."""
        if self.checkpointer is None or self.checkpointer.latest_step() is None:
            return 0
        target = state_lib.abstract_state(self.state, self.shardings)
        found = self.checkpointer.restore_latest(target, check_meta=self._check_same_model)
        if found is None:
            return 0
        step, self.state, meta = found
        if jax.process_index() == 0:
            print(f"resumed from step {step} (checkpoint "
                  f"{os.path.join(self.checkpointer.directory, str(step))})", flush=True)
        return int(meta["data_position"])

    def _check_same_model(self, meta: dict, step: int) -> None:
        """Refuses to resume a workdir whose checkpoints hold another model (before any array is
        read: orbax would fail on the first mismatched shape with its own message)."""
        saved = (meta or {}).get("config") or {}
        ours = self.config.to_dict()
        diff = [f"{key}: checkpoint {saved[key]!r}, config {ours.get(key)!r}"
                for key in ("model", "init_from", "tokenizer")
                if key in saved and _jsonable(saved[key]) != _jsonable(ours.get(key))]
        if diff:
            from jclip.train.config import ConfigError

            raise ConfigError(
                f"{self.workdir} holds checkpoints of another model (step {step}; "
                f"{'; '.join(diff)}): use a new --workdir, or the config of that run")

    def evaluate(self, step: int | None = None) -> dict[str, float]:
        """Runs the eval tasks due at ``step`` (all when None) on the current params;
        every process gets the same numbers. Returns {"<name>/<metric>": value}."""
        tasks = (self.eval_tasks if step is None else
                 evaluators.due(self.eval_tasks, step, int(self.config.total_steps)))
        if not tasks:
            return {}
        # The params as they are, sharded (over several processes too: jclip.evals encodes
        # with global batches over their mesh; no host gathers a copy).
        params = self.state["params"]
        flat, self.last_eval_results = evaluators.run(self.model, params, self.tokenizer, tasks)
        return flat

    def save_model(self, directory: str) -> str:
        """Writes the current params as a ``jclip.load``-able folder, with the tokenizer
        (``jclip.load_tokenizer`` reads it) so that ``jclip-eval --model <workdir>`` finds both."""
        import jclip

        params = self.state["params"]
        if not all(x.is_fully_addressable for x in jax.tree.leaves(params)):
            from jax.experimental import multihost_utils

            params = multihost_utils.process_allgather(params, tiled=True)
        if jax.process_index() != 0:
            return directory
        # The run owns its model folder: a rerun or the WiSE-FT model replaces it.
        jclip.save(directory, self.model, jax.device_get(params), tokenizer=self.tokenizer,
                   overwrite=True)
        return directory

    def _check_finite(self, step: int, metrics: dict) -> dict:
        host = {k: float(to_host(v)) for k, v in metrics.items()}
        if not math.isfinite(host["loss"]):
            last = self.checkpointer.latest_step() if self.checkpointer else None
            where = (f"the last good checkpoint is step {last} in "
                     f"{self.checkpointer.directory}" if last is not None else
                     "no checkpoint was written")
            raise NonFiniteLossError(
                f"Loss is {host['loss']} at step {step}: training stopped; {where}. Lower the "
                f"learning rate or check the data."
            )
        return host

    def run(self) -> list[dict]:
        """Trains from ``start_step`` to ``total_steps``; returns the logged records."""
        config = self.config
        total = int(config.total_steps)
        records = []
        progress = None
        if jax.process_index() == 0 and sys.stderr.isatty():
            from tqdm import tqdm

            progress = tqdm(total=total, initial=self.start_step, desc="train", unit="step")
        pending = None  # (step, device metrics): fetched one step late to keep the device busy
        window_start, window_steps = time.perf_counter(), 0

        def finish(step, metrics):
            nonlocal window_start, window_steps
            host = self._check_finite(step, metrics)
            window_steps += 1
            evaluate = bool(evaluators.due(self.eval_tasks, step, total))
            if not (evaluate or step % config.log_every == 0 or step in (1, total)):
                return
            elapsed = time.perf_counter() - window_start
            host["steps_per_second"] = window_steps / elapsed
            host["examples_per_second"] = window_steps * config.batch_size / elapsed
            if evaluate:
                results = self.evaluate(step)
                host.update(results)
                if jax.process_index() == 0:
                    line = f"eval step {step}: " + " ".join(
                        f"{k} {v:.4f}" for k, v in sorted(results.items()))
                    (progress.write if progress is not None else print)(line)
            self.writer.write(step, host)
            records.append({"step": step, **host})
            if progress is not None:
                progress.set_postfix(loss=f"{host['loss']:.4f}",
                                     ex_per_s=f"{host['examples_per_second']:.0f}")
            elif jax.process_index() == 0:
                print(f"step {step}/{total} loss {host['loss']:.4f} "
                      f"lr {host['learning_rate']:.2e} "
                      f"{host['examples_per_second']:.1f} ex/s", flush=True)
            window_start, window_steps = time.perf_counter(), 0

        try:
            batches = self.batches.iterate(self.start_step, total)
            for step, batch in zip(range(self.start_step + 1, total + 1), batches):
                arrays, data_metrics = self.batches.to_global(batch, self.mesh)
                self.state, metrics = self.train_step(self.state, arrays)
                metrics = {**metrics, **data_metrics}
                if pending is not None:
                    finish(*pending)
                pending = (step, metrics)
                if progress is not None:
                    progress.update(1)
                if self.checkpointer and (step % config.checkpoint_every == 0 or step == total):
                    finish(*pending)
                    pending = None
                    self.checkpointer.save(
                        step, self.state, {"data_position": step, "config": config.to_dict()})
            if pending is not None:
                finish(*pending)
        finally:
            if progress is not None:
                progress.close()
            if self.checkpointer is not None:
                self.checkpointer.wait()
            self.writer.close()
        return records

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()


def train(config: ml_collections.ConfigDict, workdir: str, trainer: Trainer | None = None
          ) -> Trainer:
    """Builds a ``Trainer`` (or takes one built from ``config``), resumes if ``workdir`` has
    checkpoints, trains, writes the final model to ``workdir/model`` (``jclip.load`` /
    ``jclip-eval --model workdir``); returns it."""
    from jclip.train import finetune

    trainer = Trainer(config, workdir) if trainer is None else trainer
    try:
        trainer.run()
        # With init_from and wise_ft_alpha: the WiSE-FT interpolation is what gets saved.
        finetune.save_wise_ft_model(trainer, os.path.join(workdir, "model"))
    finally:
        trainer.close()
    return trainer
