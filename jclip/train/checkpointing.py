"""Orbax checkpoints of the train state, written asynchronously, keeping the last K.

A checkpoint holds two items: "state" (step, params, optimizer state and the RNG key, restored
straight into their sharded layout) and "meta" (JSON: the data position, i.e. the number of
batches the input pipeline has produced, and the config it was written with). Writes go to a
temporary directory that orbax renames when complete, so a run killed mid-write resumes from the
previous complete checkpoint.
"""

from __future__ import annotations

import os

import orbax.checkpoint as ocp


class Checkpointer:
    """Saves and restores train states under ``directory`` (one sub-directory per step)."""

    def __init__(self, directory: str, *, keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=async_save, create=True
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "meta")
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state, meta: dict) -> None:
        """Starts writing ``state`` and ``meta`` (a JSON-able dict) for ``step``; returns at
        once when async (the arrays are copied off the device first)."""
        self._manager.save(
            int(step),
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )

    def meta(self, step: int) -> dict:
        """The JSON metadata of ``step`` alone (no arrays are read)."""
        restored = self._manager.restore(
            int(step), args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return restored["meta"]

    def restore(self, step: int, abstract_state):
        """Returns (state, meta) of ``step``; ``abstract_state`` gives shapes and shardings."""
        restored = self._manager.restore(
            int(step),
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
            ),
        )
        return restored["state"], restored["meta"]

    def wait(self) -> None:
        """Blocks until pending asynchronous writes are on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
