"""Metrics sinks of a run: ``metrics.jsonl`` (one JSON object per logged step) and TensorBoard.

Only process 0 of a multi-host run writes. On resume from step ``s`` the records of steps after
``s`` (written before the interruption and about to be recomputed) leave metrics.jsonl, so that
it reads as one uninterrupted run, but no record is ever lost: the whole earlier file is first
copied to ``metrics.jsonl.<k>.bak`` (k = 1, 2, ...), and the run says so. The same holds for a
rerun from step 0 of a workdir that has records (e.g. with checkpoints off). A last line cut by a
kill mid-write is dropped with a message (it stays in the copy); a damaged line elsewhere is an
error naming its line number.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys


def _cut(path: str) -> bool:
    """Whether the file's last line is unterminated (a write was cut off)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def read_metrics(workdir: str, *, warn=None) -> list[dict]:
    """All records of ``workdir/metrics.jsonl`` in order ([] if there is none).

    A cut last line (a kill mid-write) is skipped (``warn(message)`` is called when given);
    an unparsable line before the last raises ValueError naming the file and line.
    """
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [(i + 1, line) for i, line in enumerate(f) if line.strip()]
    records = []
    for k, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "step" not in record:
                raise ValueError("not a record with a step")
        except ValueError as e:
            if k == len(lines) - 1:
                if warn is not None:
                    warn(f"{path}: line {number} is incomplete (a write was cut off); "
                         "skipping it")
                break
            raise ValueError(f"{path}: line {number} is not a JSON metrics record ({e}): "
                             f"{line[:80]!r}") from None
        records.append(record)
    return records


def _backup(path: str) -> str:
    k = 1
    while os.path.exists(f"{path}.{k}.bak"):
        k += 1
    shutil.copy2(path, f"{path}.{k}.bak")
    return f"{path}.{k}.bak"


def _jsonable(value):
    value = float(value)
    return value if math.isfinite(value) else str(value)  # JSON has no nan / inf


class MetricWriter:
    def __init__(self, workdir: str, *, resume_step: int = 0, enabled: bool = True,
                 tensorboard: bool = True):
        self.enabled = enabled
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = None
        if not enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        say = lambda msg: print(msg, file=sys.stderr, flush=True)
        records = read_metrics(workdir, warn=say)
        kept = [r for r in records if r["step"] <= resume_step]
        if os.path.exists(self.path) and (len(kept) < len(records) or _cut(self.path)):
            backup = _backup(self.path)
            say(f"{self.path}: {len(records) - len(kept)} record(s) after step {resume_step} "
                f"are recomputed by this run; the earlier file is kept as {backup}")
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
        os.replace(tmp, self.path)  # a kill here leaves the old or the new file, never half
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        try:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise OSError(e.errno, f"writing the metrics of step {step} to {self.path} "
                          f"failed: {e.strerror or e}") from e
        if self._tb is not None:
            for key, value in metrics.items():
                self._tb.add_scalar(key, float(value), int(step))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
