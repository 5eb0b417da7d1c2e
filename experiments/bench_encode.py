"""Benchmark: ViT-B/32 image and text encoding throughput, jclip (fp32, bf16) vs PyTorch.

    python -m experiments.bench_encode                          # batches 1, 32, 256
    python -m experiments.bench_encode --batches 1,32 --repeats 5 --no-torch

Image: ``encode_image`` on [B, 224, 224, 3]. Text: typical short prompts (first end token at
positions 6..15, as "a photo of a {class}." gives with the CLIP tokenizer) padded to 77, encoded
by ``jclip.models.encode_text_bucketed`` (stops at the longest prompt's bucket) and by the
full-length ``encode_text``. When torch + transformers are importable, transformers' PyTorch
CLIPModel runs the same shapes in the same process with the same weights (images in fp32 and,
for the matched-precision ratio, in bf16; text in fp32 at the padded length 77 as OpenCLIP-style
tokenizers give it, and at the longest prompt's length as ``padding=True`` gives it). The
implementations alternate within each repeat so that load changes on a shared machine hit them
alike; the median time per call is reported.
Writes results/bench_encode.json.
"""

import argparse
import functools
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import jclip
from jclip.models import encode_text_bucketed


def _params_and_torch(config, use_torch):
    """Random ViT-B/32 params; with torch, transformers' random model and its converted weights."""
    if use_torch:
        import torch
        import transformers

        from jclip.pretrained.hf import hf_key_map
        from jclip.pretrained.load import convert_state_dict

        torch.manual_seed(0)
        hf = transformers.CLIPModel(transformers.CLIPConfig()).eval()  # OpenAI ViT-B/32 shapes
        state = {k: v.numpy() for k, v in hf.state_dict().items()}
        params = convert_state_dict(state, hf_key_map(config), config,
                                    ignored=lambda k: k.endswith("position_ids"))
        return jax.tree.map(jnp.asarray, params), hf
    from jclip.models.params import param_shapes

    rng = np.random.default_rng(0)
    leaf = lambda s: jnp.asarray(0.02 * rng.normal(size=s).astype(np.float32))
    shapes = param_shapes(config)
    return jax.tree.map(leaf, shapes, is_leaf=lambda x: isinstance(x, tuple)), None


def _prompts(batch, config, rng):
    tokens = np.zeros((batch, config.context_length), np.int32)
    ends = rng.integers(6, 16, size=batch)
    for row, end in enumerate(ends):
        tokens[row, 0] = config.eos_token_id - 1  # start token
        tokens[row, 1:end] = rng.integers(300, 40000, size=end - 1)
        tokens[row, end] = config.eos_token_id
    return tokens


def _measure(cases, repeats):
    """Runs the cases round-robin: each round calls every case once."""
    for fn in cases.values():
        jax.block_until_ready(fn())  # compile / warm up
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", default="1,32,256")
    parser.add_argument("--repeats", type=int, default=5, help="repeats at batch <= 32")
    parser.add_argument("--repeats-large", type=int, default=2, help="repeats at batch > 32")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--out", default="results/bench_encode.json")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401

        use_torch = not args.no_torch
    except ImportError:
        use_torch = False
    config = jclip.get_config("ViT-B-32-quickgelu")
    params, hf = _params_and_torch(config, use_torch)
    if hf is not None:
        import copy

        import torch

        hf_bf16 = copy.deepcopy(hf).to(torch.bfloat16)  # PyTorch's own bf16 path (oneDNN)
    models = {dt: jclip.create_model(config, dtype=dt) for dt in ("float32", "bfloat16")}
    # bf16 inference casts the weights once, as PyTorch's model.to(torch.bfloat16) does; with
    # float32 params every call would re-cast 88M weights (~50 ms, most of a batch-1 call).
    typed_params = {"float32": params,
                    "bfloat16": jax.tree.map(lambda p: p.astype(jnp.bfloat16), params)}
    encode_image = {dt: jax.jit(lambda p, x, m=m: m.apply({"params": p}, x, method="encode_image"))
                    for dt, m in models.items()}
    encode_text = jax.jit(lambda p, t: models["float32"].apply({"params": p}, t,
                                                               method="encode_text"))
    rng = np.random.default_rng(0)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        repeats = args.repeats if batch <= 32 else args.repeats_large
        images = rng.normal(size=(batch, 224, 224, 3)).astype(np.float32)
        cases = {f"jclip_{dt}": functools.partial(f, typed_params[dt], images)
                 for dt, f in encode_image.items()}
        if hf is not None:
            pixels = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
            cases["torch_float32"] = functools.partial(_torch_image, hf, pixels)
            cases["torch_bfloat16"] = functools.partial(_torch_image, hf_bf16,
                                                        pixels.to(torch.bfloat16))
        seconds = _measure(cases, repeats)
        row = {"kind": "image", "batch": batch, **_throughput(seconds, batch, "torch_float32")}
        if hf is not None:  # matched precision: jclip bf16 against PyTorch bf16
            row["ratio_jclip_bfloat16_vs_torch_bfloat16"] = round(
                seconds["torch_bfloat16"] / seconds["jclip_bfloat16"], 2)
        rows.append(row)
        print(json.dumps(rows[-1]), flush=True)

        tokens = _prompts(batch, config, rng)
        longest = int(np.argmax(tokens == config.eos_token_id, axis=1).max()) + 1
        bucketed = functools.partial(encode_text_bucketed, tokens=tokens)
        cases = {
            "jclip_bucketed": functools.partial(bucketed, models["float32"], params),
            "jclip_bf16_bucketed": functools.partial(bucketed, models["bfloat16"],
                                                     typed_params["bfloat16"]),
            "jclip_full77": functools.partial(encode_text, params, tokens),
        }
        if hf is not None:
            ids = torch.from_numpy(tokens.astype(np.int64))
            cases["torch_full77"] = functools.partial(_torch_text, hf, ids)
            cases["torch_longest"] = functools.partial(_torch_text, hf, ids[:, :longest])
        row = {"kind": "text", "batch": batch, "longest_prompt": longest,
               **_throughput(_measure(cases, repeats), batch, "torch_full77")}
        if hf is not None:  # same numbers as PyTorch: a sanity check of the benchmark itself
            diff = np.asarray(cases["jclip_bucketed"]()) - cases["torch_full77"]().numpy()
            row["max_abs_diff_vs_torch"] = float(np.abs(diff).max())
        rows.append(row)
        print(json.dumps(rows[-1]), flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    meta = {"jax": jax.__version__, "backend": jax.default_backend(), "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "loadavg_1min": os.getloadavg()[0]}
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


def _torch_image(hf, pixels):
    import torch

    with torch.no_grad():
        return hf.get_image_features(pixel_values=pixels).pooler_output


def _torch_text(hf, ids):
    import torch

    with torch.no_grad():
        return hf.get_text_features(input_ids=ids).pooler_output


def _throughput(seconds, batch, torch_key):
    """{impl: items/s} and, when PyTorch ran, {impl/torch: speed ratio}."""
    out = {f"{name}_per_s": round(batch / t, 2) for name, t in seconds.items()}
    if torch_key in seconds:
        out.update({f"ratio_{name}": round(seconds[torch_key] / t, 2)
                    for name, t in seconds.items() if not name.startswith("torch")})
    return out


if __name__ == "__main__":
    main()
