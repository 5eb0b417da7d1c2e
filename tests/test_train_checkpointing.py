"""Orbax checkpoints: sharded round trip, keep-last-K, and the JSON metadata."""

import jax
import jax.numpy as jnp
import numpy as np

from jclip.train import checkpointing, sharding
from jclip.train import state as state_lib


def _state(mesh):
    shardings = {
        "step": sharding.replicated(mesh),
        "params": {"w": jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("fsdp"))},
        "opt_state": (),
        "rng": sharding.replicated(mesh),
    }
    values = {"step": jnp.asarray(3, jnp.int32),
              "params": {"w": jnp.arange(32.0).reshape(8, 4)}, "opt_state": (),
              "rng": jax.random.PRNGKey(7)}
    return jax.device_put(values, shardings), shardings


def test_round_trip_keeps_values_and_shardings_and_only_the_last_k(tmp_path):
    mesh = sharding.make_mesh(2, 4)
    state, shardings = _state(mesh)
    ckpt = checkpointing.Checkpointer(str(tmp_path / "ckpt"), keep=2)
    for step in (2, 4, 6):
        ckpt.save(step, state, {"data_position": step})
    ckpt.wait()
    assert ckpt.all_steps() == [4, 6] and ckpt.latest_step() == 6
    restored, meta = ckpt.restore(6, state_lib.abstract_state(state, shardings))
    ckpt.close()
    assert meta == {"data_position": 6}
    np.testing.assert_array_equal(restored["params"]["w"], np.arange(32.0).reshape(8, 4))
    np.testing.assert_array_equal(restored["rng"], jax.random.PRNGKey(7))
    assert restored["params"]["w"].sharding.spec == jax.sharding.PartitionSpec("fsdp")
    assert int(restored["step"]) == 3


def _saved(tmp_path, steps=(2, 4, 6), keep=3):
    mesh = sharding.make_mesh(2, 4)
    state, shardings = _state(mesh)
    ckpt = checkpointing.Checkpointer(str(tmp_path / "ckpt"), keep=keep, log=_LOG.append)
    for step in steps:
        ckpt.save(step, state, {"data_position": step})
    ckpt.wait()
    return ckpt, state_lib.abstract_state(state, shardings)


_LOG = []


def _array_file(step_dir):
    import glob
    import os

    files = [p for p in glob.glob(f"{step_dir}/state/**/d/*", recursive=True) if os.path.isfile(p)]
    return max(files, key=os.path.getsize)


def test_every_saved_checkpoint_is_checksummed_and_verifies(tmp_path):
    ckpt, _ = _saved(tmp_path)
    assert all(ckpt.is_verified(s) for s in ckpt.all_steps())
    assert [checkpointing.verify(ckpt.step_dir(s)) for s in ckpt.all_steps()] == [None] * 3
    ckpt.close()


def test_a_flipped_bit_falls_back_to_the_previous_checkpoint(tmp_path):
    import os

    _LOG.clear()
    ckpt, abstract = _saved(tmp_path)
    path = _array_file(ckpt.step_dir(6))
    data = bytearray(open(path, "rb").read())
    data[0] ^= 1
    open(path, "wb").write(bytes(data))
    step, _, meta = ckpt.restore_latest(abstract)
    assert (step, meta) == (4, {"data_position": 4})
    assert "checkpoint step 6" in _LOG[-1] and "does not match its checksum" in _LOG[-1]
    assert "falling back to step 4" in _LOG[-1]
    assert ckpt.all_steps() == [2, 4] and os.path.isdir(f"{ckpt.corrupt_directory}/6")
    ckpt.close()


def test_a_truncated_file_is_named_and_skipped(tmp_path):
    _LOG.clear()
    ckpt, abstract = _saved(tmp_path)
    path = _array_file(ckpt.step_dir(6))
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    assert ckpt.restore_latest(abstract)[0] == 4
    assert "is truncated or overwritten" in _LOG[-1] and "state/" in _LOG[-1]
    ckpt.close()


def test_a_checkpoint_without_manifest_restores_unverified_and_a_damaged_one_falls_back(tmp_path):
    import os

    _LOG.clear()
    ckpt, abstract = _saved(tmp_path)
    os.remove(f"{ckpt.step_dir(6)}/{checkpointing.MANIFEST}")
    assert ckpt.restore_latest(abstract)[0] == 6
    assert "has no checksum manifest" in _LOG[-1]
    # No manifest and damaged metadata: orbax's own error is caught and named, then fallback.
    open(f"{ckpt.step_dir(6)}/meta/metadata", "w").write("{not json")
    assert ckpt.restore_latest(abstract)[0] == 4
    assert "checkpoint step 6" in _LOG[-1] and "cannot be read" in _LOG[-1]
    ckpt.close()


def test_no_intact_checkpoint_is_an_error_naming_each_one(tmp_path):
    import pytest

    ckpt, abstract = _saved(tmp_path, steps=(2, 4))
    for step in (2, 4):
        path = _array_file(ckpt.step_dir(step))
        open(path, "ab").write(b"x")
    with pytest.raises(checkpointing.CheckpointError, match="step 4: file .* truncated.*step 2"):
        ckpt.restore_latest(abstract)
    ckpt.close()


def test_rotation_never_deletes_the_newest_verified_checkpoint(tmp_path):
    import os

    mesh = sharding.make_mesh(2, 4)
    state, _ = _state(mesh)
    ckpt = checkpointing.Checkpointer(str(tmp_path / "ckpt"), keep=1, log=_LOG.append)
    ckpt.save(2, state, {"data_position": 2})
    ckpt.wait()
    # Later checkpoints whose manifests never got written (their writer died after orbax's
    # rename): rotation keeps the newest one and step 2, the newest verified.
    real = checkpointing.write_manifest
    checkpointing.write_manifest = lambda d: None
    try:
        for step in (4, 6):
            ckpt.save(step, state, {"data_position": step})
        ckpt.wait()
    finally:
        checkpointing.write_manifest = real
    assert ckpt.all_steps() == [2, 6]
    assert not os.path.exists(f"{ckpt.step_dir(6)}/{checkpointing.MANIFEST}")
    ckpt.save(8, state, {"data_position": 8})
    ckpt.wait()
    assert ckpt.all_steps() == [8]  # 8 is verified: older ones may go
    ckpt.close()
