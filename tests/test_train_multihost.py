"""Two processes (jax.distributed over 127.0.0.1, gloo CPU collectives), two CPU devices each,
train with the same losses as one process with four devices."""

import os
import socket
import subprocess
import sys

import numpy as np

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


def _command(workdir, *extra):
    return [sys.executable, "-m", "experiments.train", *ARGS, "--workdir", str(workdir), *extra]


def test_two_processes_match_one_process(tmp_path):
    port = _free_port()
    multi = [
        subprocess.Popen(
            _command(tmp_path / "multi", f"--coordinator=127.0.0.1:{port}", "--num_processes=2",
                     f"--process_id={i}"),
            cwd=ROOT, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    single = subprocess.run(_command(tmp_path / "single"), cwd=ROOT, env=_env(4),
                            capture_output=True, text=True, timeout=240)
    outs = [p.communicate(timeout=240)[0] for p in multi]
    assert single.returncode == 0, single.stdout + single.stderr
    for p, out in zip(multi, outs):
        assert p.returncode == 0, out

    one = metric_writer.read_metrics(str(tmp_path / "single"))
    two = metric_writer.read_metrics(str(tmp_path / "multi"))
    assert [r["step"] for r in two] == [r["step"] for r in one] == list(range(1, 5))
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
