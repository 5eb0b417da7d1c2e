"""Exact resume: a run killed with SIGKILL and restarted logs the same losses as an
uninterrupted run, at every step: on the synthetic scenes and on a folder of real photos
(``pairs`` source, with augmentation and a skipped unreadable image)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from jclip.train import metric_writer
from tests.helpers.files import write_pairs_one_unreadable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--config", "experiments/configs/shapes_micro.py", "--config.total_steps=24",
        "--config.checkpoint_every=4", "--config.log_every=1", "--config.tensorboard=false"]


def _env(devices):
    env = dict(os.environ)
    env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    return env


def _start(workdir, args=ARGS):
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *args, "--workdir", str(workdir)],
        cwd=ROOT, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _last_step(workdir):
    try:
        return max((r["step"] for r in metric_writer.read_metrics(str(workdir))), default=0)
    except ValueError:  # a line being written
        return 0


def _args(source, tmp_path):
    if source == "shapes":
        return ARGS, 24, 8
    folder = write_pairs_one_unreadable(tmp_path / "pairs")
    return ["--config", "experiments/configs/pairs_micro.py", f"--config.data.path={folder}",
            "--config.total_steps=12", "--config.checkpoint_every=4", "--config.log_every=1",
            "--config.tensorboard=false"], 12, 4


@pytest.mark.parametrize("source", ["shapes", "pairs"])
def test_killed_and_resumed_run_matches_an_uninterrupted_run(tmp_path, source):
    args, total, kill_after = _args(source, tmp_path)
    full_dir, killed_dir = tmp_path / "full", tmp_path / "killed"
    full = _start(full_dir, args)
    victim = _start(killed_dir, args)
    deadline = time.time() + 180
    while not ((killed_dir / "checkpoints" / str(kill_after)).exists()
               and _last_step(killed_dir) >= kill_after + 2):
        if victim.poll() is not None or time.time() > deadline:
            full.kill()
            pytest.fail(f"the run ended before it could be killed:\n{victim.stdout.read()}")
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = _last_step(killed_dir)
    assert victim.returncode == -signal.SIGKILL and killed_at < total

    resumed = _start(killed_dir, args)
    out, _ = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, out
    assert f"step 1/{total}" not in out, "the restarted run did not resume from a checkpoint"
    out_full, _ = full.communicate(timeout=180)
    assert full.returncode == 0, out_full

    expected = {r["step"]: r for r in metric_writer.read_metrics(str(full_dir))}
    got = metric_writer.read_metrics(str(killed_dir))
    assert [r["step"] for r in got] == list(range(1, total + 1))
    for record in got:
        ref = expected[record["step"]]
        assert record["loss"] == ref["loss"], record["step"]  # bitwise equal on CPU
        assert record["learning_rate"] == ref["learning_rate"]
        assert record["grad_norm"] == ref["grad_norm"]
        assert record.get("data/skipped") == ref.get("data/skipped")
    if source == "pairs":  # 20 examples, batches of 16: the unreadable one comes up and is skipped
        assert sum(r["data/skipped"] for r in got) >= 1
