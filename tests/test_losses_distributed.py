"""Distributed jclip.losses on 8 CPU devices: global value and exact gradients.

tests/conftest.py sets XLA_FLAGS=--xla_force_host_platform_device_count=8 before jax loads.
Every loss is fed embeddings made by a small linear "model" (params W) so that the test checks
the three gradients a trainer needs: of the local input rows, of the replicated params and of
the replicated scalars (scale, bias, inv_tau, temperature).
"""

import functools
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jclip import losses

N_DEV, B_LOCAL, D_FEAT, D = 8, 2, 6, 8
B = N_DEV * B_LOCAL
AXIS = "batch"


def _normalize(z):
    return z / jnp.linalg.norm(z, axis=-1, keepdims=True)


# name -> (loss of (embeddings tuple, scalars tuple, axis_name), number of embeddings, scalars)
CASES = {
    "clip/all_gather": (lambda z, s, ax: losses.clip_loss(*z, *s, axis_name=ax), 2, (20.0,)),
    "clip/all_gather/smoothed": (
        lambda z, s, ax: losses.clip_loss(*z, *s, axis_name=ax, label_smoothing=0.1),
        2,
        (20.0,),
    ),
    "clip/local": (
        lambda z, s, ax: losses.clip_loss(
            *z, *s, axis_name=ax, label_smoothing=0.1, strategy="local"
        ),
        2,
        (20.0,),
    ),
    "siglip/all_gather": (
        lambda z, s, ax: losses.siglip_loss(*z, *s, axis_name=ax),
        2,
        (10.0, -3.0),
    ),
    "siglip/ring": (
        lambda z, s, ax: losses.siglip_loss(*z, *s, axis_name=ax, strategy="ring"),
        2,
        (10.0, -3.0),
    ),
    "cloob": (
        lambda z, s, ax: losses.cloob_loss(*z, s[0], hopfield_beta=s[1], axis_name=ax),
        2,
        (14.3, 8.0),
    ),
    "cwcl": (lambda z, s, ax: losses.cwcl_loss(z[0], z[1], s[0], z[2], axis_name=ax), 3, (20.0,)),
    "counting": (lambda z, s, ax: losses.counting_loss(*z, *s, axis_name=ax), 3, (20.0,)),
    # distill: the "embeddings" are rows of [B, B] logits; the student's come from the params.
    "distill": (
        lambda z, s, ax: losses.distill_loss(z[0], z[1], temperature=s[0], axis_name=ax),
        2,
        (2.0,),
    ),
}


def _model_loss(name, axis_name):
    """loss(feats, w, scalars): the first modality is normalize(feats[0] @ w) (raw for distill)."""
    fn = CASES[name][0]

    def loss(feats, w, scalars):
        first = feats[0] @ w
        if name == "distill":
            z = (first, feats[1])
        else:
            z = (_normalize(first),) + tuple(_normalize(f) for f in feats[1:])
        return fn(z, scalars, axis_name)

    return loss


def _inputs(name, seed=0):
    _, n_emb, scalars = CASES[name]
    rng = np.random.default_rng(seed)
    width = B if name == "distill" else D
    feats = (rng.normal(size=(B, D_FEAT)).astype(np.float32),) + tuple(
        (5 * rng.normal(size=(B, width))).astype(np.float32) for _ in range(n_emb - 1)
    )
    w = rng.normal(size=(D_FEAT, width)).astype(np.float32)
    return feats, w, tuple(np.float32(s) for s in scalars)


@functools.cache
def _reference(name):
    feats, w, scalars = _inputs(name)
    fn = jax.jit(jax.value_and_grad(_model_loss(name, None), argnums=(0, 1, 2)))
    return jax.tree.map(np.asarray, fn(feats, w, scalars))


def assert_close(got, want, what, tol=1e-5):
    """Relative error max|got - want| / max|want| <= tol (fp32)."""
    for g, r in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        g, r = np.asarray(g, np.float64), np.asarray(r, np.float64)
        assert g.shape == r.shape, what
        err = np.max(np.abs(g - r)) / max(np.max(np.abs(r)), 1e-30)
        assert err <= tol, f"{what}: relative error {err:.2e}"


def _mesh():
    assert jax.device_count() >= N_DEV, "tests/conftest.py should give 8 CPU devices"
    return Mesh(np.array(jax.devices()[:N_DEV]), (AXIS,))


def _shard(mesh, x, spec):
    return jax.device_put(x, NamedSharding(mesh, spec))


@pytest.mark.parametrize("name", list(CASES))
def test_shard_map_grad_inside_is_exact(name):
    """value_and_grad taken per device inside shard_map (check_vma=True)."""
    mesh = _mesh()
    feats, w, scalars = _inputs(name)
    per_device = jax.value_and_grad(_model_loss(name, AXIS), argnums=(0, 1, 2))
    fn = jax.jit(
        jax.shard_map(
            per_device,
            mesh=mesh,
            in_specs=(P(AXIS), P(), P()),
            out_specs=(P(), (P(AXIS), P(), P())),
        )
    )
    value, grads = fn(_shard(mesh, feats, P(AXIS)), w, scalars)
    ref_value, ref_grads = _reference(name)
    assert_close(value, ref_value, f"{name} value")
    for got, want, what in zip(grads, ref_grads, ("rows", "params", "scalars"), strict=True):
        assert_close(got, want, f"{name} grad of {what}")


@pytest.mark.parametrize("name", list(CASES))
def test_pmap_convention_pmean_gives_global_gradient(name):
    """Under pmap the per-device gradients are N times too large; pmean of them is exact."""
    feats, w, scalars = _inputs(name)
    grad_fn = jax.value_and_grad(_model_loss(name, AXIS), argnums=(0, 1, 2))

    def step(feats, w, scalars):
        value, (g_rows, g_w, g_s) = grad_fn(feats, w, scalars)
        return value, g_rows, lax.pmean((g_w, g_s), AXIS)

    fn = jax.pmap(step, axis_name=AXIS, in_axes=(0, None, None), devices=jax.devices()[:N_DEV])
    local = jax.tree.map(lambda f: f.reshape(N_DEV, B_LOCAL, *f.shape[1:]), feats)
    value, g_rows, (g_w, g_s) = fn(local, w, scalars)
    ref_value, (ref_rows, ref_w, ref_s) = _reference(name)
    assert_close(value, np.full(N_DEV, ref_value), f"{name} value on every device")
    rows = jax.tree.map(lambda g: np.asarray(g).reshape(B, -1) / N_DEV, g_rows)
    assert_close(rows, ref_rows, f"{name} rows gradient / N")
    assert_close(g_w[0], ref_w, f"{name} pmean of params gradient")
    assert_close(jax.tree.map(lambda g: g[0], g_s), ref_s, f"{name} pmean of scalars gradient")


@pytest.mark.parametrize("name", ["clip/all_gather", "siglip/ring"])
def test_shard_map_without_vma_check_follows_pmap_convention(name):
    """check_vma=False: local gradients N times the true ones, pmean of param gradients exact."""
    mesh = _mesh()
    feats, w, scalars = _inputs(name)
    grad_fn = jax.value_and_grad(_model_loss(name, AXIS), argnums=(0, 1, 2))

    def step(feats, w, scalars):
        value, (g_rows, g_w, g_s) = grad_fn(feats, w, scalars)
        return value, g_rows, lax.pmean((g_w, g_s), AXIS)

    fn = jax.jit(
        jax.shard_map(
            step,
            mesh=mesh,
            in_specs=(P(AXIS), P(), P()),
            out_specs=(P(), P(AXIS), (P(), P())),
            check_vma=False,
        )
    )
    value, g_rows, g_params = fn(_shard(mesh, feats, P(AXIS)), w, scalars)
    ref_value, (ref_rows, *ref_params) = _reference(name)
    assert_close(value, ref_value, f"{name} value")
    assert_close(jax.tree.map(lambda g: g / N_DEV, g_rows), ref_rows, f"{name} rows / N")
    assert_close(g_params, tuple(ref_params), f"{name} pmean of params and scalars gradients")


@pytest.mark.parametrize("name", ["clip/all_gather", "clip/local", "siglip/ring", "cloob"])
def test_grad_outside_shard_map_with_two_mesh_axes(name):
    """jax.grad of the whole shard_map'ped loss (as a jit-level trainer takes it), with the batch
    on a tuple of mesh axes (data, fsdp): rows are laid out in the order of the tuple."""
    axes = ("data", "fsdp")
    mesh = Mesh(np.array(jax.devices()[:N_DEV]).reshape(2, 4), axes)
    feats, w, scalars = _inputs(name)
    sharded = jax.shard_map(
        _model_loss(name, axes), mesh=mesh, in_specs=(P(axes), P(), P()), out_specs=P()
    )
    fn = jax.jit(jax.value_and_grad(sharded, argnums=(0, 1, 2)))
    value, grads = fn(_shard(mesh, feats, P(axes)), w, scalars)
    assert_close((value, grads), _reference(name), name)


@pytest.mark.parametrize("strategy", ["all_gather", "ring"])
def test_siglip_bf16_shards(strategy):
    """bf16 embeddings travel between devices as bf16; the loss accumulates in fp32."""
    mesh = _mesh()
    rng = np.random.default_rng(1)
    x = jnp.asarray(_normalize(rng.normal(size=(B, D))), jnp.bfloat16)
    y = jnp.asarray(_normalize(rng.normal(size=(B, D))), jnp.bfloat16)
    loss = functools.partial(losses.siglip_loss, scale=10.0, bias=-10.0, strategy=strategy)
    sharded = jax.shard_map(
        functools.partial(loss, axis_name=AXIS), mesh=mesh, in_specs=P(AXIS), out_specs=P()
    )
    got = jax.jit(sharded)(_shard(mesh, x, P(AXIS)), _shard(mesh, y, P(AXIS)))
    want = jax.jit(loss)(x, y)
    assert got.dtype == jnp.float32
    assert_close(got, want, f"siglip {strategy} bf16")


def test_two_processes_with_two_devices_each():
    """Across hosts: 2 processes (gloo collectives) x 2 CPU devices, 4 rows per process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    worker = pathlib.Path(__file__).with_name("losses_multiprocess_worker.py")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(pid), str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for pid in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for pid, (proc, out) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0, f"process {pid} failed:\n{out[-3000:]}"
        assert f"process {pid}: 6 losses exact" in out
