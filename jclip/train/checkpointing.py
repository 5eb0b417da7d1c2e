"""Orbax checkpoints of the train state: asynchronous, checksummed, verified on restore.

A checkpoint holds two items: "state" (step, params, optimizer state and the RNG key, restored
straight into their sharded layout) and "meta" (JSON: the data position, i.e. the number of
batches the input pipeline has produced, and the config it was written with). Orbax writes to a
temporary directory and renames it when complete, so a run killed mid-write never sees a half
checkpoint under its final name.

On top of that:

- **Checksums.** Once a checkpoint is on disk, process 0 writes ``<step>/jclip_manifest.json``:
  the size and BLAKE2b digest of every file of the checkpoint (atomically: a temporary file
  renamed). A checkpoint with a manifest is *verified*.
- **Verified restore.** ``restore_latest`` checks the newest checkpoint's files against its
  manifest and then reads it; if anything is wrong (a flipped bit, a truncated or missing file,
  unreadable metadata) it says which step was bad and why, moves that step to
  ``<directory>.corrupt/`` (nothing is deleted) and falls back to the next older checkpoint.
  A checkpoint without a manifest (its writer was killed between orbax's rename and the
  manifest) is restored unverified, with a message.
- **Rotation.** The newest ``keep`` checkpoints are kept, and never the newest verified one is
  deleted even when newer unverified ones exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys

import jax
import orbax.checkpoint as ocp

MANIFEST = "jclip_manifest.json"


class CheckpointError(RuntimeError):
    """No checkpoint under the directory could be restored (each one's reason in the message)."""


def _digest(path: str) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(step_dir: str) -> list[str]:
    out = []
    for root, _, names in os.walk(step_dir):
        out += [os.path.relpath(os.path.join(root, n), step_dir) for n in names if n != MANIFEST]
    return sorted(out)


def write_manifest(step_dir: str) -> None:
    """Writes the size and digest of every file under ``step_dir`` to its manifest."""
    files = {rel: {"size": os.path.getsize(os.path.join(step_dir, rel)),
                   "blake2b": _digest(os.path.join(step_dir, rel))} for rel in _files(step_dir)}
    tmp = os.path.join(step_dir, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"files": files}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(step_dir, MANIFEST))


def verify(step_dir: str) -> str | None:
    """None if every file of ``step_dir`` matches its manifest; else what is wrong. Raises
    FileNotFoundError when there is no manifest (an unverified checkpoint)."""
    path = os.path.join(step_dir, MANIFEST)
    try:
        with open(path) as f:
            files = json.load(f)["files"]
    except FileNotFoundError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        return f"its checksum manifest {MANIFEST} is unreadable ({e})"
    for rel, expected in files.items():
        full = os.path.join(step_dir, rel)
        if not os.path.isfile(full):
            return f"file {rel} is missing"
        size = os.path.getsize(full)
        if size != expected["size"]:
            return (f"file {rel} is truncated or overwritten: {size} bytes, "
                    f"{expected['size']} when written")
        if _digest(full) != expected["blake2b"]:
            return f"file {rel} does not match its checksum (its bytes changed after writing)"
    return None


class Checkpointer:
    """Saves and restores train states under ``directory`` (one sub-directory per step)."""

    def __init__(self, directory: str, *, keep: int = 3, async_save: bool = True,
                 log=None):
        if int(keep) < 1:
            raise ValueError(f"keep must be >= 1 checkpoint, got {keep}")
        self.directory = os.path.abspath(directory)
        self.keep = int(keep)
        self.async_save = async_save
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        # Rotation is ours (see the module docstring), so orbax keeps everything.
        options = ocp.CheckpointManagerOptions(
            max_to_keep=None, enable_async_checkpointing=async_save, create=True)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "meta"))
        self._pending: int | None = None  # saved step whose manifest is not written yet

    @property
    def corrupt_directory(self) -> str:
        return self.directory + ".corrupt"

    def step_dir(self, step: int) -> str:
        return os.path.join(self.directory, str(int(step)))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def is_verified(self, step: int) -> bool:
        return os.path.isfile(os.path.join(self.step_dir(step), MANIFEST))

    def save(self, step: int, state, meta: dict) -> None:
        """Starts writing ``state`` and ``meta`` (a JSON-able dict) for ``step``; returns at
        once when async (the arrays are copied off the device first). The previous save is
        finished (checksummed, rotated) first."""
        self._finish_pending()
        self._manager.save(
            int(step),
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )
        self._pending = int(step)
        if not self.async_save:
            self._finish_pending()

    def _finish_pending(self) -> None:
        if self._pending is None:
            return
        self._manager.wait_until_finished()
        step, self._pending = self._pending, None
        if jax.process_index() == 0:
            write_manifest(self.step_dir(step))
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"jclip_checkpoint_manifest_{step}")
        self._rotate()

    def _rotate(self) -> None:
        steps = self.all_steps()
        verified = [s for s in steps if self.is_verified(s)]
        protect = set(steps[-self.keep:]) | ({verified[-1]} if verified else set())
        for step in steps:
            if step not in protect:
                self._manager.delete(step)

    def meta(self, step: int) -> dict:
        """The JSON metadata of ``step`` alone (no arrays are read)."""
        restored = self._manager.restore(
            int(step), args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return restored["meta"]

    def restore(self, step: int, abstract_state):
        """Returns (state, meta) of ``step``; ``abstract_state`` gives shapes and shardings.
        Reads without verifying: ``restore_latest`` is the checked path."""
        restored = self._manager.restore(
            int(step),
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
            ),
        )
        return restored["state"], restored["meta"]

    def restore_latest(self, abstract_state, check_meta=None):
        """(step, state, meta) of the newest checkpoint that verifies and reads, or None when
        there is no checkpoint.

        Corrupt checkpoints (see the module docstring) are reported, moved to
        ``corrupt_directory`` and skipped. ``check_meta(meta, step)`` runs on the metadata
        before any array is read; what it raises (e.g. "another model") propagates. Raises
        ``CheckpointError`` when checkpoints exist but none can be restored.
        """
        failures = []
        for step in reversed(self.all_steps()):
            step_dir = self.step_dir(step)
            try:
                reason = verify(step_dir)
                verified = True
            except FileNotFoundError:
                reason, verified = None, False
            meta = state = None
            if reason is None:
                try:
                    meta = self.meta(step)
                except Exception as e:  # orbax / JSON errors of damaged metadata
                    reason = f"its metadata cannot be read ({type(e).__name__}: {_first(e)})"
            if reason is None:
                if check_meta is not None:
                    check_meta(meta, step)
                try:
                    state, meta = self.restore(step, abstract_state)
                except Exception as e:  # TensorStore / orbax errors of damaged array files
                    reason = f"its arrays cannot be read ({type(e).__name__}: {_first(e)})"
            if reason is None:
                if not verified:
                    self._log(f"checkpoint step {step} ({step_dir}) has no checksum manifest "
                              "(its writer stopped before checksumming it); restored unverified")
                return step, state, meta
            failures.append(f"step {step}: {reason}")
            moved = self._set_aside(step)
            older = [s for s in self.all_steps() if s < step]
            self._log(f"checkpoint step {step} ({step_dir}) is corrupt: {reason}. Moved it to "
                      f"{moved}; " + (f"falling back to step {older[-1]}." if older else
                                      "no older checkpoint is left."))
        if failures:
            raise CheckpointError(
                f"no intact checkpoint under {self.directory}: " + "; ".join(failures)
                + f". The corrupt ones are in {self.corrupt_directory}; rerun to start from "
                "step 0, or restore a copy of the checkpoints.")
        return None

    def _set_aside(self, step: int) -> str:
        """Moves ``step`` out of the manager's sight (into ``corrupt_directory``)."""
        target = os.path.join(self.corrupt_directory, str(step))
        if jax.process_index() == 0:
            os.makedirs(self.corrupt_directory, exist_ok=True)
            k = 1
            while os.path.exists(target):
                target = os.path.join(self.corrupt_directory, f"{step}.{k}")
                k += 1
            shutil.move(self.step_dir(step), target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"jclip_checkpoint_set_aside_{step}")
        self._manager.reload()
        return target

    def wait(self) -> None:
        """Blocks until pending asynchronous writes are on disk and checksummed."""
        self._finish_pending()

    def close(self) -> None:
        self._finish_pending()
        self._manager.close()


def _first(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""
