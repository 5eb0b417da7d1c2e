"""Fault injection for the trainer: SIGKILL at random points (during steps, checkpoint writes and
metrics writes), a flipped bit and a truncated file in the newest checkpoint, a cut metrics line
and a full disk. After each the run resumes bit-exactly from the newest intact state, and no
record written earlier is lost (metrics.jsonl or its .bak copies hold every one)."""

import errno
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from jclip.train import metric_writer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOTAL = 16
ARGS = ["--config", "experiments/configs/shapes_micro.py", f"--config.total_steps={TOTAL}",
        "--config.checkpoint_every=2", "--config.keep_checkpoints=2", "--config.log_every=1",
        "--config.tensorboard=false"]


def _env():
    env = dict(os.environ)
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
               TF_CPP_MIN_LOG_LEVEL="3")
    return env


def _start(workdir):
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *ARGS, "--workdir", str(workdir)],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc, timeout=240):
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def _last_step(workdir):
    return max((r["step"] for r in metric_writer.read_metrics(str(workdir))), default=0)


def _all_records(workdir):
    """Every record ever written: metrics.jsonl and its .bak copies."""
    found = list(metric_writer.read_metrics(str(workdir)))
    for path in sorted(glob.glob(os.path.join(workdir, "metrics.jsonl.*.bak"))):
        with open(path) as f:
            for line in f:
                try:
                    found.append(json.loads(line))
                except ValueError:  # the line a kill cut off
                    pass
    return found


def _assert_matches(workdir, reference):
    got = metric_writer.read_metrics(str(workdir))
    assert [r["step"] for r in got] == list(range(1, TOTAL + 1))
    for r in got:
        ref = reference[r["step"]]
        assert (r["loss"], r["grad_norm"]) == (ref["loss"], ref["grad_norm"]), r["step"]


def _biggest_array_file(step_dir):
    files = [p for p in glob.glob(os.path.join(step_dir, "state", "**", "*"), recursive=True)
             if os.path.isfile(p) and "/d/" in p]
    return max(files, key=os.path.getsize)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reference")
    code, out = _finish(_start(workdir))
    assert code == 0, out
    return {r["step"]: r for r in metric_writer.read_metrics(str(workdir))}


def test_random_kills_then_bit_flip_resume_bit_exactly_and_lose_no_record(tmp_path, reference):
    workdir = tmp_path / "run"
    rng = random.Random(0)
    written_before_kills = []
    for _ in range(3):  # kill at a random step, at a random moment inside it
        target = _last_step(workdir) + rng.randint(1, 4)
        victim = _start(workdir)
        deadline = time.time() + 180
        while _last_step(workdir) < target and victim.poll() is None:
            assert time.time() < deadline, "the run made no progress"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.3))  # lands in a step, a checkpoint or a metrics write
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        written_before_kills += metric_writer.read_metrics(str(workdir))
        if _last_step(workdir) >= TOTAL:
            break
    code, out = _finish(_start(workdir))
    assert code == 0, out
    _assert_matches(workdir, reference)
    everything = {json.dumps(r, sort_keys=True) for r in _all_records(workdir)}
    assert all(json.dumps(r, sort_keys=True) in everything for r in written_before_kills)

    # A flipped bit in the newest checkpoint: reported, set aside, the older one is used.
    newest = os.path.join(workdir, "checkpoints", str(TOTAL))
    victim_file = _biggest_array_file(newest)
    data = bytearray(open(victim_file, "rb").read())
    data[len(data) // 2] ^= 0x10
    open(victim_file, "wb").write(bytes(data))
    code, out = _finish(_start(workdir))
    assert code == 0, out
    assert f"checkpoint step {TOTAL}" in out and "does not match its checksum" in out, out
    assert f"resumed from step {TOTAL - 2}" in out, out
    assert os.path.isdir(os.path.join(f"{workdir}/checkpoints.corrupt", str(TOTAL)))
    _assert_matches(workdir, reference)


def test_a_full_disk_stops_the_run_and_the_rerun_resumes_bit_exactly(tmp_path, reference):
    mount = tmp_path / "small_disk"
    mount.mkdir()
    # A real full disk: a 1.5 MB tmpfs holds about two checkpoints of this model.
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); "
                    "test_a_failing_metrics_write_keeps_the_run_resumable covers the fallback")
    try:
        code, out = _finish(_start(mount / "run"))
        assert code != 0 and "No space left on device" in out, out
        assert "Rerun the same command" in out or "ENOSPC" in out or "Errno 28" in out, out
        shutil.copytree(mount / "run", tmp_path / "run")  # the user frees space
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    before = metric_writer.read_metrics(str(tmp_path / "run"), warn=print)
    code, out = _finish(_start(tmp_path / "run"))
    assert code == 0, out
    _assert_matches(tmp_path / "run", reference)
    kept = {json.dumps(r, sort_keys=True) for r in _all_records(tmp_path / "run")}
    assert all(json.dumps(r, sort_keys=True) in kept for r in before)


def test_a_failing_metrics_write_keeps_the_run_resumable(tmp_path, monkeypatch):
    from experiments import train as train_cli

    args = ["--config", "experiments/configs/shapes_micro.py", "--config.total_steps=6",
            "--config.checkpoint_every=2", "--config.tensorboard=false",
            "--workdir", str(tmp_path)]
    real_open = open

    def full_disk_at_step_5(path, mode="r", *a, **kw):
        if str(path).endswith("metrics.jsonl") and "a" in mode and _last_step(tmp_path) >= 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr("builtins.open", full_disk_at_step_5)
    assert train_cli.main(args) == 1
    monkeypatch.undo()
    assert [r["step"] for r in metric_writer.read_metrics(str(tmp_path))] == [1, 2, 3, 4]
    assert train_cli.main(args) == 0
    assert [r["step"] for r in metric_writer.read_metrics(str(tmp_path))] == list(range(1, 7))
