"""Device mesh with a ``data`` and an ``fsdp`` axis, and the sharding rules of the trainer.

Parameters and optimizer state are sharded over ``fsdp`` (ZeRO-3 / FSDP style: each array is
split along one of its dimensions, XLA all-gathers it where it is used); the batch is sharded over
both axes, so every device sees ``batch_size / device_count`` examples. With ``fsdp=1`` this is
plain data parallelism with replicated parameters.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

BATCH_AXES = ("data", "fsdp")


def make_mesh(data: int = -1, fsdp: int = 1, devices=None) -> Mesh:
    """Returns a ``Mesh`` of shape [data, fsdp] over ``devices`` (default: all devices).

    One of ``data`` / ``fsdp`` may be -1: it then takes the remaining devices.
    """
    devices = list(jax.devices() if devices is None else devices)
    n = len(devices)
    if data == -1 and fsdp == -1:
        raise ValueError("Only one of mesh.data / mesh.fsdp may be -1")
    if data == -1:
        data = n // fsdp if fsdp > 0 and n % fsdp == 0 else 0
    if fsdp == -1:
        fsdp = n // data if data > 0 and n % data == 0 else 0
    if data * fsdp != n or data < 1:
        raise ValueError(
            f"Mesh data={data} x fsdp={fsdp} does not match the {n} available devices"
        )
    try:
        from jax.experimental import mesh_utils

        grid = mesh_utils.create_device_mesh((data, fsdp), devices=devices)
    except (ValueError, NotImplementedError, AssertionError):
        grid = np.asarray(devices).reshape(data, fsdp)
    return Mesh(grid, ("data", "fsdp"))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over every device of ``mesh``."""
    return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def fsdp_spec(shape: tuple[int, ...], fsdp_size: int, min_size: int = 2**10) -> P:
    """PartitionSpec that splits the largest dimension divisible by ``fsdp_size`` over fsdp.

    Arrays with fewer than ``min_size`` elements (norm scales, biases, scalars) stay replicated:
    sharding them saves nothing and adds collectives.
    """
    if fsdp_size == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
        return P()
    for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
        if shape[dim] % fsdp_size == 0:
            spec = [None] * len(shape)
            spec[dim] = "fsdp"
            return P(*spec)
    return P()


def fsdp_shardings(abstract_tree, mesh: Mesh, min_size: int = 2**10):
    """NamedShardings for a pytree of arrays / ShapeDtypeStructs under the fsdp rule."""
    fsdp_size = mesh.shape["fsdp"]
    return jax.tree.map(
        lambda x: NamedSharding(mesh, fsdp_spec(tuple(x.shape), fsdp_size, min_size)),
        abstract_tree,
    )


def global_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Turns a host batch (the same full global batch on every process) into global arrays.

    Each process materialises only the rows of its own devices, so this works unchanged with
    several processes; every process must pass the identical global batch.
    """
    sharding = batch_sharding(mesh)
    out = {}
    for key, value in batch.items():
        value = np.asarray(value)
        if value.shape[0] % mesh.size:
            raise ValueError(
                f"Batch size {value.shape[0]} of {key!r} is not divisible by the "
                f"{mesh.size} devices of the mesh"
            )
        out[key] = jax.make_array_from_callback(value.shape, sharding, lambda idx, v=value: v[idx])
    return out


def local_batch_to_global(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Turns this process's rows of the batch into global arrays, without any process holding
    the whole batch.

    Args:
      batch: {key: [b, ...]} with b = B / process_count, the rows of this process's devices
        (in the order of its devices along the batch axes of ``mesh``).
      mesh: the trainer's mesh; the global batch is split over all of its devices.
    Returns:
      {key: jax.Array [B, ...]} sharded with ``batch_sharding(mesh)``.
    """
    sharding = batch_sharding(mesh)
    local_devices = len(mesh.local_devices)
    out = {}
    for key, value in batch.items():
        value = np.asarray(value)
        if value.shape[0] % local_devices:
            raise ValueError(
                f"Local batch of {value.shape[0]} rows of {key!r} is not divisible by the "
                f"{local_devices} devices of this process"
            )
        global_shape = (value.shape[0] * (mesh.size // local_devices), *value.shape[1:])
        out[key] = jax.make_array_from_process_local_data(sharding, value, global_shape)
    return out
