"""Two processes (jax.distributed over 127.0.0.1, gloo CPU collectives), two CPU devices each,
train with the same losses as one process with four devices: on the scenes (all_gather loss,
fsdp over the processes, evaluations) and on a folder of real photos read per process with the
memory-flat kernels' ring loss."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from jclip.train import metric_writer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--config", "experiments/configs/shapes_micro.py", "--config.total_steps=4",
        "--config.checkpoint_every=2", "--config.log_every=1", "--config.tensorboard=false",
        "--config.mesh.fsdp=2", "--config.mesh.min_shard_size=256", "--config.eval_every=4",
        "--config.evals.shape.every=0", "--config.evals.count.every=0"]


def _env(devices):
    env = dict(os.environ)
    env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(workdir, *extra, args=ARGS):
    return [sys.executable, "-m", "experiments.train", *args, "--workdir", str(workdir), *extra]


def _pairs_args(tmp_path):
    from tests.helpers.files import write_pairs_one_unreadable

    folder = write_pairs_one_unreadable(tmp_path / "pairs")
    return ["--config", "experiments/configs/pairs_micro.py", f"--config.data.path={folder}",
            "--config.total_steps=4", "--config.checkpoint_every=2", "--config.log_every=1",
            "--config.tensorboard=false", "--config.loss.impl=kernel",
            "--config.data.augment=false"]


@pytest.mark.parametrize("source", ["shapes", "pairs_kernel_ring"])
def test_two_processes_match_one_process(tmp_path, source):
    args = ARGS if source == "shapes" else _pairs_args(tmp_path)
    port = _free_port()
    multi = [
        subprocess.Popen(
            _command(tmp_path / "multi", f"--coordinator=127.0.0.1:{port}", "--num_processes=2",
                     f"--process_id={i}", args=args),
            cwd=ROOT, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    outs = [p.communicate(timeout=240)[0] for p in multi]
    for p, out in zip(multi, outs):
        assert p.returncode == 0, out
    two = metric_writer.read_metrics(str(tmp_path / "multi"))
    assert [r["step"] for r in two] == list(range(1, 5))
    if source != "shapes":
        # Each process reads only its shard of the folder, so the global batches depend on the
        # process count (a 1-process run sees other data): the 2-process step-1 loss is checked
        # against one device on the batch the two shards make together.
        want = _one_device_loss_of_the_two_shards(args, tmp_path)
        assert abs(two[0]["loss"] - want) <= 1e-5 * abs(want), (two[0]["loss"], want)
        return
    single = subprocess.run(_command(tmp_path / "single", args=args), cwd=ROOT, env=_env(4),
                            capture_output=True, text=True, timeout=240)
    assert single.returncode == 0, single.stdout + single.stderr
    one = metric_writer.read_metrics(str(tmp_path / "single"))
    assert [r["step"] for r in one] == list(range(1, 5))
    np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-5)
    np.testing.assert_allclose([r["grad_norm"] for r in two], [r["grad_norm"] for r in one],
                               rtol=1e-4)
    # The evaluations (each process encodes its part of the scenes, then all gather) give the
    # same numbers as one process; the tasks set to every=0 do not run.
    for key in ("color/acc1", "color/mean_per_class_recall", "retrieval/image_retrieval_recall@1",
                "retrieval/text_retrieval_recall@5"):
        assert two[-1][key] == one[-1][key]
    assert "shape/acc1" not in two[-1] and "count/acc1" not in two[-1]
    # Both processes took part in the checkpoint (orbax writes one directory per step).
    assert sorted(p.name for p in (tmp_path / "multi" / "checkpoints").iterdir()
                  if p.name.isdigit()) == ["2", "4"]


def _one_device_loss_of_the_two_shards(args, tmp_path):
    import jax

    from jclip.train import config as config_lib
    from jclip.train import loop, sources, step

    config, _ = config_lib.parse_args(args)
    trainer = loop.Trainer(config, str(tmp_path / "init"))  # the same init params (seed)
    parts = []
    for index in range(2):
        config.data.process_index, config.data.process_count = index, 2
        batches = sources.make_batches(config, trainer.tokenizer, trainer.model.config)
        parts.append(next(iter(batches.iterate(0, 1))))
    batch = {k: np.concatenate([p[k] for p in parts]) for k in ("image", "tokens")}
    params = jax.device_get(trainer.state["params"])
    trainer.close()
    loss_fn = step.make_loss_fn(config.loss, trainer.model)
    loss, _ = jax.jit(loss_fn)(params, batch, jax.random.PRNGKey(0))
    return float(loss)
