"""One process of the two-process check of jclip.losses (run by test_losses_distributed.py).

    python losses_multiprocess_worker.py PROCESS_ID PORT

Each process owns 2 CPU devices and 4 rows of an 8-row batch; the losses run under shard_map
over all 4 devices of both processes and must give the single-device value and gradient.
Exits non-zero with a message if they do not.
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from jclip import kernels, losses  # noqa: E402

CASES = {
    "clip/all_gather": lambda x, y, ax: losses.clip_loss(x, y, 20.0, axis_name=ax),
    "clip/local": lambda x, y, ax: losses.clip_loss(x, y, 20.0, axis_name=ax, strategy="local"),
    "siglip/all_gather": lambda x, y, ax: losses.siglip_loss(x, y, 10.0, -3.0, axis_name=ax),
    "siglip/ring": lambda x, y, ax: losses.siglip_loss(
        x, y, 10.0, -3.0, axis_name=ax, strategy="ring"
    ),
    # The memory-flat kernels' ring (interpreted Pallas on CPU, XLA tiles otherwise).
    "kernels.contrastive_loss/ring": lambda x, y, ax: kernels.contrastive_loss(
        x, y, 20.0, impl="xla", block_size=2, axis_name=ax),
    "kernels.sigmoid_loss/ring": lambda x, y, ax: kernels.sigmoid_loss(
        x, y, 10.0, -3.0, impl="xla", block_size=2, axis_name=ax),
}


def main(process_id, port):
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id
    )
    assert jax.device_count() == 4 and jax.local_device_count() == 2
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    sharding = NamedSharding(mesh, P("batch"))
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 8, 5)).astype(np.float32)
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    rows = slice(4 * process_id, 4 * process_id + 4)
    x, y = (jax.make_array_from_process_local_data(sharding, a[rows]) for a in z)
    failures = []
    for name, loss in CASES.items():
        sharded = jax.shard_map(
            lambda a, b, loss=loss: loss(a, b, "batch"),
            mesh=mesh,
            in_specs=P("batch"),
            out_specs=P(),
        )
        value, (gx, gy) = jax.jit(jax.value_and_grad(sharded, argnums=(0, 1)))(x, y)
        ref_value, ref_grads = jax.value_and_grad(
            lambda a, b, loss=loss: loss(a, b, None), argnums=(0, 1)
        )(z[0], z[1])
        errors = [abs(float(value) - float(ref_value)) / abs(float(ref_value))]
        for g, ref in zip((gx, gy), ref_grads, strict=True):
            shards = sorted(g.addressable_shards, key=lambda s: s.index[0].start)
            local = np.concatenate([np.asarray(s.data) for s in shards])
            ref = np.asarray(ref)
            errors.append(np.max(np.abs(local - ref[rows])) / np.max(np.abs(ref)))
        if max(errors) > 1e-5:
            failures.append(f"{name}: relative errors (value, d zimg, d ztxt) {errors}")
    jax.distributed.shutdown()
    if failures:
        sys.exit(f"process {process_id}: " + "; ".join(failures))
    print(f"process {process_id}: {len(CASES)} losses exact")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
