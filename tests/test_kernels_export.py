"""The Pallas kernels compile for real accelerators: jax.export for CUDA (Triton) and TPU (Mosaic).

There is no GPU or TPU here, so lowering is the check: ``jax.export`` with platforms=["cuda"]
runs the Pallas -> Triton lowering and with ["tpu"] the Pallas -> Mosaic lowering of every
kernel (forward and backward), and the exported module must contain the kernels' own custom
calls, not the interpreted fallback that the CPU runs. Also, the TPU-style grid driver is run
in interpret mode here and must agree with the XLA strips.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jclip import kernels
from jclip.kernels import pallas_drivers, pallas_tiles, tiled

KERNELS = {
    "jclip_lse_tile",
    "jclip_softmax_grad_tile",
    "jclip_softplus_tile",
    "jclip_sigmoid_grad_tile",
    "jclip_gaussian_tile",
}
CUSTOM_CALLS = {"cuda": "__gpu$xla.gpu.triton", "tpu": "tpu_custom_call"}


def _everything(x, y, scale, bias):
    """Both losses with their gradients, and the Gaussian kernel mean, on the Pallas path."""
    clip = lambda x, y, s: kernels.contrastive_loss(x, y, s, impl="pallas")
    sig = lambda x, y, s, t: kernels.sigmoid_loss(x, y, s, t, impl="pallas")
    return (
        jax.value_and_grad(clip, argnums=(0, 1, 2))(x, y, scale),
        jax.value_and_grad(sig, argnums=(0, 1, 2, 3))(x, y, scale, bias),
        kernels.gaussian_kernel_mean(x, y, 1.0, power=2, impl="pallas"),
    )


@pytest.mark.parametrize("platform", ["cuda", "tpu"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_export_contains_compiled_kernels(platform, dtype):
    x = jax.ShapeDtypeStruct((300, 40), dtype)  # neither a multiple of the tiles nor of 128
    s = jax.ShapeDtypeStruct((), jnp.float32)
    checks = [export.DisabledSafetyCheck.custom_call(CUSTOM_CALLS[platform])]
    exported = export.export(jax.jit(_everything), platforms=[platform], disabled_checks=checks)(
        x, x, s, s
    )
    module = exported.mlir_module()
    # 2 lse + 2 softmax-grad (CLIP), 1 softplus + 2 sigmoid-grad (SigLIP), 1 Gaussian.
    assert module.count(f"stablehlo.custom_call @{CUSTOM_CALLS[platform]}(") == 8
    assert set(re.findall(r"jclip_\w+_tile", module)) == KERNELS
    # No interpreted kernel: interpret mode would lower to a while loop over the grid.
    assert "stablehlo.while" not in module
    assert exported.platforms == (platform,)


def test_cpu_lowering_is_interpreted():
    x = jax.ShapeDtypeStruct((20, 8), jnp.float32)
    s = jax.ShapeDtypeStruct((), jnp.float32)
    module = jax.jit(_everything).lower(x, x, s, s).as_text()
    assert "tpu_custom_call" not in module and "triton" not in module
    assert "stablehlo.while" in module


@pytest.mark.parametrize("backend", ["mosaic_interpret", "interpret"])
def test_grid_and_loop_drivers_agree_with_xla_strips(backend):
    kx, ky = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (19, 5)) / 2
    y = jax.random.normal(ky, (13, 5)) / 2
    scale, acc = jnp.float32(3.0), jnp.float32
    run = functools.partial(pallas_drivers.run_kernel, backend, 8)
    r, c = tiled.lse_rows_cols(x, y, scale, 4, acc)
    m, s = run(
        pallas_tiles._lse_tile,
        (-jnp.inf, 0.0),
        False,
        x,
        y,
        [jnp.full(19, scale)],
        [(jnp.zeros(13), -jnp.inf)],
    )
    np.testing.assert_allclose(m + jnp.log(s), r, rtol=1e-6)
    (gx,) = run(
        pallas_tiles._softmax_grad_tile,
        (0.0,),
        True,
        x,
        y,
        [jnp.full(19, scale), r],
        [(jnp.zeros(13), -jnp.inf), (c, 0.0)],
    )
    np.testing.assert_allclose(
        gx, tiled.softmax_grads(x, y, scale, r, c, 4, acc)[0], rtol=1e-5, atol=1e-6
    )
    (k,) = run(
        pallas_tiles._gaussian_tile,
        (0.0,),
        False,
        x,
        y,
        [jnp.sum(x * x, 1), jnp.full(19, 0.5)],
        [(jnp.sum(y * y, 1), jnp.inf)],
    )
    dist = np.sum((np.asarray(x, np.float64)[:, None] - np.asarray(y, np.float64)[None]) ** 2, -1)
    np.testing.assert_allclose(k, np.exp(-0.5 * dist).sum(1), rtol=1e-5)


@pytest.mark.parametrize("platform", ["cuda", "tpu"])
def test_export_of_the_ring_contains_compiled_kernels(platform):
    # Under shard_map the CPU substitutes XLA strips for the interpreter; GPU/TPU must keep the
    # kernels (declared varying over the mesh axis) between the ring's collective permutes.
    if jax.device_count() < 8:
        pytest.skip("needs 8 devices (tests/conftest.py)")
    mesh = Mesh(np.array(jax.devices()[:8]), ("data",))

    def local(x, y, s, t):
        clip = lambda x, y, s: kernels.contrastive_loss(x, y, s, impl="pallas", axis_name="data")
        sig = lambda x, y, s, t: kernels.sigmoid_loss(x, y, s, t, impl="pallas", axis_name="data")
        return (
            jax.value_and_grad(clip, argnums=(0, 1, 2))(x, y, s),
            jax.value_and_grad(sig, argnums=(0, 1, 2, 3))(x, y, s, t),
        )

    specs = (P("data"), P("data"), P(), P())
    out_specs = ((P(), specs[:3]), (P(), specs))
    fn = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=out_specs))
    x = jax.ShapeDtypeStruct((80, 24), jnp.float32, sharding=NamedSharding(mesh, P("data")))
    s = jax.ShapeDtypeStruct((), jnp.float32, sharding=NamedSharding(mesh, P()))
    checks = [export.DisabledSafetyCheck.custom_call(CUSTOM_CALLS[platform])]
    exported = export.export(fn, platforms=[platform], disabled_checks=checks)(x, x, s, s)
    module = exported.mlir_module()
    # Each pass appears twice (the local visit, then the loop over the others): CLIP 2 lse +
    # 2 grad kernels, SigLIP 1 softplus + 2 grad kernels.
    assert module.count(f"stablehlo.custom_call @{CUSTOM_CALLS[platform]}(") == 14
    assert "collective_permute" in module
    assert exported.nr_devices == 8
