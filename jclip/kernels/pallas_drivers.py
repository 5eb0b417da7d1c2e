"""Pallas drivers: run one tile function over the [Na, Nb] tile grid on GPU, TPU or CPU.

A tile function folds one [bm, bn] tile of l_ij = rs_i * <a_i, b_j> (+ column offsets) into
per-row accumulators (see pallas_tiles.py). Per-row and per-column inputs are passed as [N, 1]
and [1, N] arrays, which every backend tiles the same way. Three drivers run it:

- ``triton`` (GPU): grid over row blocks; a ``fori_loop`` inside the kernel loads column blocks
  (``pl.ds``) and keeps the accumulators in registers. Triton blocks are powers of two, so D is
  zero-padded to one. The Triton compiler params select Triton (the default GPU lowering,
  Mosaic GPU, rejects block ``dot_general``).
- ``mosaic`` (TPU): a 2-D grid (row block "parallel", column block "arbitrary"); the output
  block stays resident in VMEM across the column axis and accumulates there. D is padded to a
  multiple of 128 (lanes).
- ``interpret`` (CPU and any other backend): the Triton driver in Pallas interpret mode
  (``mosaic_interpret``, the TPU driver interpreted, is there for tests).

``dispatch`` picks the driver with ``lax.platform_dependent`` at lowering time, so one jitted
function runs interpreted on the CPU and lowers to the compiled kernel for GPU or TPU (which
``jax.export`` with platforms=["cuda"] / ["tpu"] checks on a CPU-only machine).
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import tpu as pltpu
from jax.experimental.pallas import triton as pltriton

from jclip.kernels import tiled

DEFAULT_BLOCK = {"interpret": 128, "mosaic_interpret": 128, "triton": 64, "mosaic": 256}
# Triton launch: 4 warps, or 8 when a [bm, D] gradient accumulator lives in registers (fewer
# spills). Not tuned on hardware.
_NUM_STAGES = 2


def _specs_triton(bm, nb, d, n_rows, n_cols, widths):
    in_specs = [pl.BlockSpec((bm, d), lambda i: (i, 0)), pl.BlockSpec((nb, d), lambda i: (0, 0))]
    in_specs += [pl.BlockSpec((bm, 1), lambda i: (i, 0))] * n_rows
    in_specs += [pl.BlockSpec((1, nb), lambda i: (0, 0))] * n_cols
    return in_specs, [pl.BlockSpec((bm, w), lambda i: (i, 0)) for w in widths]


def _out_shapes(na, widths, acc_dtype, out_type):
    return [jax.ShapeDtypeStruct((na, w), acc_dtype, manual_axis_type=out_type) for w in widths]


def _call_triton(tile, inits, widths, a, b, rows, cols, *, bm, bn, acc_dtype, out_type, interpret):
    na, d = a.shape
    nb = b.shape[0]

    def kernel(a_ref, b_ref, *refs):
        row_refs, col_refs = refs[: len(rows)], refs[len(rows) : len(rows) + len(cols)]
        out_refs = refs[len(rows) + len(cols) :]
        a_blk = a_ref[...]
        row_blks = [ref[...] for ref in row_refs]

        def body(j, acc):
            start = pl.multiple_of(j * bn, bn)
            b_blk = b_ref[pl.ds(start, bn), :]
            col_blks = [ref[:, pl.ds(start, bn)] for ref in col_refs]
            return tile(acc, a_blk, b_blk, row_blks, col_blks, start)

        acc0 = tuple(jnp.full((bm, w), v, acc_dtype) for v, w in zip(inits, widths))
        acc = lax.fori_loop(0, nb // bn, body, acc0)
        for ref, value in zip(out_refs, acc):
            ref[...] = value

    in_specs, out_specs = _specs_triton(bm, nb, d, len(rows), len(cols), widths)
    return pl.pallas_call(
        kernel,
        out_shape=_out_shapes(na, widths, acc_dtype, out_type),
        grid=(na // bm,),
        in_specs=in_specs,
        out_specs=out_specs,
        compiler_params=None
        if interpret
        else pltriton.CompilerParams(
            num_warps=8 if bm * max(widths) >= 16384 else 4, num_stages=_NUM_STAGES
        ),
        interpret=interpret,
        name=f"jclip_{tile.__name__.strip('_')}",
    )(a, b, *rows, *cols)


def _call_grid(tile, inits, widths, a, b, rows, cols, *, bm, bn, acc_dtype, out_type, interpret):
    na, d = a.shape
    nb = b.shape[0]

    def kernel(a_ref, b_ref, *refs):
        row_refs, col_refs = refs[: len(rows)], refs[len(rows) : len(rows) + len(cols)]
        out_refs = refs[len(rows) + len(cols) :]

        @pl.when(pl.program_id(1) == 0)
        def _init():
            for ref, value in zip(out_refs, inits):
                ref[...] = jnp.full(ref.shape, value, ref.dtype)

        acc = tuple(ref[...] for ref in out_refs)
        rows_blk, cols_blk = [r[...] for r in row_refs], [c[...] for c in col_refs]
        acc = tile(acc, a_ref[...], b_ref[...], rows_blk, cols_blk, pl.program_id(1) * bn)
        for ref, value in zip(out_refs, acc):
            ref[...] = value

    in_specs = [
        pl.BlockSpec((bm, d), lambda i, j: (i, 0)),
        pl.BlockSpec((bn, d), lambda i, j: (j, 0)),
    ]
    in_specs += [pl.BlockSpec((bm, 1), lambda i, j: (i, 0))] * len(rows)
    in_specs += [pl.BlockSpec((1, bn), lambda i, j: (0, j))] * len(cols)
    return pl.pallas_call(
        kernel,
        out_shape=_out_shapes(na, widths, acc_dtype, out_type),
        grid=(na // bm, nb // bn),
        in_specs=in_specs,
        out_specs=[pl.BlockSpec((bm, w), lambda i, j: (i, 0)) for w in widths],
        compiler_params=pltpu.CompilerParams(dimension_semantics=("parallel", "arbitrary")),
        interpret=interpret,
        name=f"jclip_{tile.__name__.strip('_')}",
    )(a, b, *rows, *cols)


def _round_up(n, m):
    return -(-n // m) * m


def _next_pow2(n):
    return 1 << max(0, int(n) - 1).bit_length()


def run_kernel(backend, block, tile, inits, grad_width, a, b, rows, cols):
    """Pads, runs one row-reduction kernel on ``backend`` and slices the padding off.

    Args:
      backend: "interpret", "triton" or "mosaic".
      block: tile edge (power of two) or None for the backend's default.
      tile, inits: tile function and the initial value of each accumulator.
      grad_width: True when the first accumulator is a [N, D] gradient, else all are [N, 1].
      a: [Na, D], b: [Nb, D]; rows: list of [Na] vectors; cols: list of ([Nb] vector, pad value).
    Returns:
      One [Na, width] array per accumulator.
    """
    na, d = a.shape
    nb = b.shape[0]
    acc_dtype = jnp.promote_types(a.dtype, jnp.float32)
    block = block or DEFAULT_BLOCK[backend]
    if backend == "mosaic":
        block = max(block, 128)  # lane width: column blocks are multiples of 128
        d_pad = _round_up(d, 128)
    elif backend == "triton":
        block = max(block, 16)  # smallest Triton dot
        d_pad = max(16, _next_pow2(d))
    else:
        block = min(block, max(8, _next_pow2(max(na, nb))))  # tiny inputs: one small tile
        d_pad = d
    bm = bn = block
    na_pad, nb_pad = _round_up(na, bm), _round_up(nb, bn)
    a = jnp.pad(a, ((0, na_pad - na), (0, d_pad - d)))
    b = jnp.pad(b, ((0, nb_pad - nb), (0, d_pad - d)))
    rows = [jnp.pad(v.astype(acc_dtype), (0, na_pad - na))[:, None] for v in rows]
    cols = [
        jnp.pad(v.astype(acc_dtype), (0, nb_pad - nb), constant_values=fill)[None, :]
        for v, fill in cols
    ]
    widths = [d_pad if (grad_width and k == 0) else 1 for k in range(len(inits))]
    # Under shard_map every operand must vary over the same mesh axes as the outputs.
    a, b, rows, cols = tiled.varying_like((a, b, rows, cols), a, b, *rows, *cols)
    axes = tiled.varying_axes(a)
    out_type = jax.sharding.ManualAxisType(varying=axes)
    kwargs = dict(bm=bm, bn=bn, acc_dtype=acc_dtype, out_type=out_type)
    if backend in ("mosaic", "mosaic_interpret"):
        interpret = backend == "mosaic_interpret"
        outs = _call_grid(tile, inits, widths, a, b, rows, cols, interpret=interpret, **kwargs)
    else:
        interpret = backend == "interpret"
        outs = _call_triton(tile, inits, widths, a, b, rows, cols, interpret=interpret, **kwargs)
    return [o[:na, :d] if (grad_width and k == 0) else o[:na, 0] for k, o in enumerate(outs)]


def dispatch(fn, *args, fallback=None):
    """fn(backend, *args) with the backend chosen per platform when the computation is lowered.

    GPU: "triton"; TPU: "mosaic"; any other platform: "interpret". JAX's Pallas interpreter
    cannot evaluate a kernel on per-device values under ``shard_map`` with varying-axis checks,
    so there (CPU only) ``fallback(*args)``, the XLA strips computing the same quantity, runs
    instead; the compiled GPU/TPU kernels are unaffected.
    """
    interpret = functools.partial(fn, "interpret")
    if fallback is not None and any(tiled.varying_axes(a) for a in args):
        interpret = fallback
    triton = functools.partial(fn, "triton")
    return lax.platform_dependent(
        *args,
        cuda=triton,
        rocm=triton,
        tpu=functools.partial(fn, "mosaic"),
        default=interpret,
    )
