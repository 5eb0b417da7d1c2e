"""Benchmark: per-device memory of the trainer's loss step and of gradient-cached accumulation.

    python -m experiments.bench_train                              # B_local=512, D=256
    python -m experiments.bench_train --b-local 1024 --dim 512 --out results/bench_train

1. The loss step (embeddings -> loss, gradient w.r.t. the embeddings and the scale / bias) as
   the trainer runs it: ``Objective.loss_of_embeddings`` under ``jax.shard_map`` over the
   (data, fsdp) batch axes, at a fixed B_local per device on 1, 2, 4 and 8 (fake CPU) devices,
   for clip (all_gather, local, kernel ring) and siglip (all_gather, ring, kernel ring). The
   all_gather strategies hold a [B_local, B] logit block (memory grows with the device count
   N), SigLIP's ring a [B_local, B_local] block per step, the kernels' ring (Inf-CL, Yu et al.
   2024) one tile: the last two stay flat in N.
2. Accumulation: the full train gradient of a tiny CLIP at a fixed global batch with
   ``optim.accum_steps`` = 1, 2, 4, 8 (gradient caching, Gao et al. 2021): the towers'
   activation memory falls with the microbatch size while the loss keeps the whole batch.

3. Before / after at B=8,192 on 8 devices (D=512): the memory-flat kernel loss as a plain
   ``jax.jit`` over batch-sharded embeddings (GSPMD decides the communication: it all-gathers
   both embedding matrices, so every device holds, and computes, the whole batch) against the
   trainer's ``shard_map`` kernel ring. Counted from the compiled HLO: all-gathers, collective
   permutes and temporary memory per device (XLA's FLOP estimate is left out: it counts a
   tiled loop's body once).

Memory is XLA's compiled memory analysis of the program (temporary buffers per device; the
arguments and outputs are the same for every strategy), so nothing large is executed. Prints a
table and writes ``bench_train.json`` into ``--out``.
"""

import argparse
import json
import os
import sys
import types

MIB = 2.0**20


def _temp_bytes(fn, *abstract_args):
    stats = fn.lower(*abstract_args).compile().memory_analysis()
    return int(stats.temp_size_in_bytes)


def loss_step_memory(jax, b_local, dim, device_counts):
    import ml_collections

    from jclip.train import sharding
    from jclip.train.objectives import make_objective

    cases = [("clip", {"strategy": "all_gather"}), ("clip", {"strategy": "local"}),
             ("clip", {"impl": "kernel"}), ("siglip", {"strategy": "all_gather"}),
             ("siglip", {"strategy": "ring"}), ("siglip", {"impl": "kernel"})]
    rows = []
    for name, extra in cases:
        label = f"{name}/{extra.get('strategy', 'kernel ring')}"
        config = ml_collections.ConfigDict({"name": name, "impl": "xla", **extra})
        model = types.SimpleNamespace(config=types.SimpleNamespace(kind=name))
        for n in device_counts:
            mesh = sharding.make_mesh(n, 1, devices=jax.devices()[:n])
            objective = make_objective(config, model, mesh=mesh)
            emb_sharding = sharding.batch_sharding(mesh)
            emb = {k: jax.ShapeDtypeStruct((n * b_local, dim), "float32", sharding=emb_sharding)
                   for k in ("image", "text")}
            scalars = {k: jax.ShapeDtypeStruct((), "float32", sharding=sharding.replicated(mesh))
                       for k in ("logit_scale", "logit_bias")}
            rng = jax.ShapeDtypeStruct((2,), "uint32", sharding=sharding.replicated(mesh))
            fn = jax.jit(jax.value_and_grad(objective.loss_of_embeddings, argnums=(0, 1),
                                            has_aux=True))
            temp = _temp_bytes(fn, scalars, emb, rng)
            rows.append({"loss": label, "devices": n, "b_local": b_local, "batch": n * b_local,
                         "dim": dim, "temp_mib": temp / MIB})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _collectives(compiled) -> dict:
    import re

    text = compiled.as_text()
    count = lambda op: len(re.findall(rf"= [^=]*\b{op}(-start)?\(", text))
    return {"all_gathers": count("all-gather"), "collective_permutes": count("collective-permute"),
            "all_reduces": count("all-reduce")}


def gspmd_vs_shard_map(jax, batch=8192, dim=512, devices=8):
    """The kernel loss + gradient at global ``batch`` on ``devices``: GSPMD jit vs shard_map."""
    import ml_collections

    from jclip import kernels
    from jclip.train import sharding
    from jclip.train.objectives import make_objective

    mesh = sharding.make_mesh(devices, 1, devices=jax.devices()[:devices])
    emb_sharding = sharding.batch_sharding(mesh)
    rep = sharding.replicated(mesh)
    emb = {k: jax.ShapeDtypeStruct((batch, dim), "float32", sharding=emb_sharding)
           for k in ("image", "text")}
    scalars = {k: jax.ShapeDtypeStruct((), "float32", sharding=rep)
               for k in ("logit_scale", "logit_bias")}
    rng = jax.ShapeDtypeStruct((2,), "uint32", sharding=rep)

    def gspmd(s, e, r):  # the loss as one global function; XLA's partitioner places it
        scale = jax.numpy.exp(s["logit_scale"])
        return kernels.contrastive_loss(e["image"], e["text"], scale, impl="xla"), {}

    model = types.SimpleNamespace(config=types.SimpleNamespace(kind="clip"))
    objective = make_objective(ml_collections.ConfigDict({"name": "clip", "impl": "kernel"}),
                               model, mesh=mesh)
    rows = []
    for label, fn in (("GSPMD jit (before)", gspmd),
                      ("shard_map kernel ring (after)", objective.loss_of_embeddings)):
        grad = jax.jit(jax.value_and_grad(fn, argnums=(0, 1), has_aux=True))
        compiled = grad.lower(scalars, emb, rng).compile()
        rows.append({"program": label, "batch": batch, "dim": dim, "devices": devices,
                     "temp_mib": compiled.memory_analysis().temp_size_in_bytes / MIB,
                     **_collectives(compiled)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def accumulation_memory(jax, batch, image_size, steps):
    import functools

    import ml_collections

    import jclip
    from jclip.train import state, step

    model = jclip.create_model(jclip.get_config("tiny-clip", image_size=image_size))
    params = jax.eval_shape(functools.partial(state.init_params, model), jax.random.PRNGKey(0))
    cfg = model.config
    data = {"image": jax.ShapeDtypeStruct((batch, image_size, image_size, 3), "float32"),
            "tokens": jax.ShapeDtypeStruct((batch, cfg.context_length), "int32")}
    rng = jax.ShapeDtypeStruct((2,), "uint32")
    objective = step.make_objective(ml_collections.ConfigDict({"name": "clip"}), model)
    rows = []
    for k in steps:
        if k == 1:
            fn = jax.value_and_grad(objective.loss_fn, has_aux=True)
        else:
            fn = functools.partial(step.cached_value_and_grad, objective, accum_steps=k)
            fn = (lambda f: lambda p, b, r: f(p, b, r))(fn)
        temp = _temp_bytes(jax.jit(fn), params, data, rng)
        rows.append({"accum_steps": k, "batch": batch, "microbatch": batch // k,
                     "image_size": image_size, "temp_mib": temp / MIB})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _table(loss_rows, accum_rows, device_counts, gspmd_rows=()):
    lines = ["Loss step, temporary memory per device (MiB) at fixed B_local="
             f"{loss_rows[0]['b_local']}, D={loss_rows[0]['dim']}",
             f"{'loss':24s}" + "".join(f"{f'N={n}':>10s}" for n in device_counts)]
    for label in dict.fromkeys(r["loss"] for r in loss_rows):
        by_n = {r["devices"]: r["temp_mib"] for r in loss_rows if r["loss"] == label}
        lines.append(f"{label:24s}" + "".join(f"{by_n[n]:10.2f}" for n in device_counts))
    lines += ["", f"Accumulation (tiny-clip, batch {accum_rows[0]['batch']}, "
                  f"{accum_rows[0]['image_size']} px): temporary memory (MiB)",
              f"{'accum_steps':>12s}{'microbatch':>12s}{'temp_mib':>10s}"]
    lines += [f"{r['accum_steps']:12d}{r['microbatch']:12d}{r['temp_mib']:10.2f}"
              for r in accum_rows]
    if gspmd_rows:
        r0 = gspmd_rows[0]
        lines += ["", f"Kernel clip loss + gradient, B={r0['batch']}, D={r0['dim']}, "
                      f"{r0['devices']} devices",
                  f"{'program':32s}{'all-gathers':>12s}{'permutes':>10s}{'temp MiB':>10s}"]
        lines += [f"{r['program']:32s}{r['all_gathers']:12d}{r['collective_permutes']:10d}"
                  f"{r['temp_mib']:10.2f}" for r in gspmd_rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--b-local", type=int, default=512)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--devices", default="1,2,4,8")
    parser.add_argument("--accum-batch", type=int, default=64)
    parser.add_argument("--accum-steps", default="1,2,4,8")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--gspmd-batch", type=int, default=8192,
                        help="global batch of the GSPMD vs shard_map comparison (0: skip)")
    parser.add_argument("--out", default="results/bench_train")
    args = parser.parse_args(argv)
    device_counts = [int(x) for x in args.devices.split(",")]
    # Fake devices must be requested before jax is imported.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={max(device_counts)}")
    import jax

    if jax.device_count() < max(device_counts):
        sys.exit(f"need {max(device_counts)} devices, jax sees {jax.device_count()}")
    loss_rows = loss_step_memory(jax, args.b_local, args.dim, device_counts)
    accum_rows = accumulation_memory(jax, args.accum_batch, args.image_size,
                                     [int(x) for x in args.accum_steps.split(",")])
    gspmd_rows = (gspmd_vs_shard_map(jax, args.gspmd_batch, 512, max(device_counts))
                  if args.gspmd_batch else [])
    table = _table(loss_rows, accum_rows, device_counts, gspmd_rows)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_train.json"), "w") as f:
        json.dump({"loss_step": loss_rows, "accumulation": accum_rows,
                   "gspmd_vs_shard_map": gspmd_rows, "backend":
                   jax.default_backend(), "argv": sys.argv[1:] if argv is None else argv}, f,
                  indent=1)


if __name__ == "__main__":
    main()
