"""Benchmark: PGD-10 robust-accuracy evaluation, images/s, jclip (jit, fp32) vs torchattacks.

    python -m experiments.bench_attacks [--batches 2 --batch_size 8 --steps 10]

Both sides evaluate zero-shot robust accuracy of a ViT-B/32 CLIP (random init, OpenAI shapes;
only speed matters) with the same weights (transformers' PyTorch ``CLIPModel``, converted to
jclip), the same 10-class classifier and the same [0, 1] images at 224 px:

  jclip: ``jax.jit`` of  clean logits -> ``attacks.pgd`` (CE, l_inf, eps 1/255, step 1/255,
    ``--steps``) -> adversarial logits -> correct flags, normalisation inside the forward;
  torch: ``torchattacks.PGD(eps=1/255, alpha=1/255, steps, random_start=False)`` on a module
    that normalises and calls ``get_image_features``, then the clean and adversarial logits.

Both start from the clean image (random_start=False) so that they compute the same attack: the
script checks the adversarial images agree (max |diff|, the fraction of pixels that differ,
which only a flipped sign of a near-zero gradient entry can cause) and the robust accuracies.
Implementations alternate batch by batch, so load changes on a shared machine hit both alike;
compile time and PyTorch's first call are excluded (compile time reported separately).
Labels are the clean predictions, so clean accuracy is 1 and robust accuracy shows the attack.
Writes --out (results/bench_attacks.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import jclip
from jclip import attacks

NUM_CLASSES = 10
EPS = STEP = 1 / 255


def cpu_model() -> str:
    """The 'model name' line of /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def models(seed: int = 0):
    """(jclip model, params, torch CLIPModel) with the same random ViT-B/32 weights."""
    import torch
    import transformers

    from jclip.pretrained.hf import hf_key_map
    from jclip.pretrained.load import convert_state_dict

    config = jclip.get_config("ViT-B-32-quickgelu")
    torch.manual_seed(seed)
    hf = transformers.CLIPModel(transformers.CLIPConfig()).eval()  # OpenAI ViT-B/32 shapes
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    params = convert_state_dict(state, hf_key_map(config), config,
                                ignored=lambda k: k.endswith("position_ids"))
    return jclip.create_model(config), jax.tree.map(jnp.asarray, params), hf


def torch_zeroshot(hf, config, classifier):
    """nn.Module: [0, 1] NCHW pixels -> 100 * cos logits [B, C] (normalisation inside)."""
    import torch

    mean, std = jclip.preprocessing.mean_std(config)

    class ZeroShot(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hf = hf
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
            self.register_buffer("classifier", torch.from_numpy(classifier))

        def forward(self, x):
            z = self.hf.get_image_features(pixel_values=(x - self.mean) / self.std).pooler_output
            return 100.0 * (z / z.norm(dim=-1, keepdim=True)) @ self.classifier.T

    return ZeroShot().eval()


def jclip_eval_fn(model, params, classifier, steps):
    """jitted (x, labels) -> (clean correct [B], robust correct [B], x_adv)."""
    logits = attacks.zeroshot_logits_fn(model, params, classifier)

    def run(x, y):
        x_adv = attacks.pgd(attacks.cross_entropy(logits, y), x, jax.random.key(0), eps=EPS,
                            step_size=STEP, steps=steps, random_start=False)
        return (jnp.argmax(logits(x), -1) == y, jnp.argmax(logits(x_adv), -1) == y, x_adv)

    return jax.jit(run)


def torch_eval(net, attack, x, y):
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y.astype(np.int64))
    adv = attack(xt, yt)
    with torch.no_grad():
        clean, robust = net(xt).argmax(1).numpy() == y, net(adv).argmax(1).numpy() == y
    return clean, robust, adv.numpy().transpose(0, 2, 3, 1)


def bench(batches: int = 2, batch_size: int = 8, steps: int = 10, seed: int = 0,
          torch_threads: int | None = None) -> dict:
    import torch
    import torchattacks

    if torch_threads:
        torch.set_num_threads(torch_threads)
    model, params, hf = models(seed)
    rng = np.random.default_rng(seed)
    classifier = rng.normal(size=(NUM_CLASSES, model.config.embed_dim)).astype(np.float32)
    classifier /= np.linalg.norm(classifier, axis=1, keepdims=True)
    data = [rng.random((batch_size, 224, 224, 3), dtype=np.float32) for _ in range(batches)]
    # Labels: the clean predictions (clean accuracy 1), so robust accuracy shows the attack.
    clean_logits = jax.jit(attacks.zeroshot_logits_fn(model, params, classifier))
    labels = [np.asarray(jnp.argmax(clean_logits(x), -1)).astype(np.int32) for x in data]
    ours = jclip_eval_fn(model, params, classifier, steps)
    net = torch_zeroshot(hf, model.config, classifier)
    attack = torchattacks.PGD(net, eps=EPS, alpha=STEP, steps=steps, random_start=False)

    start = time.perf_counter()
    jax.block_until_ready(ours(data[0], labels[0]))
    compile_s = time.perf_counter() - start
    torch_eval(net, attack, data[0][:2], labels[0][:2])  # warm-up (oneDNN kernels), untimed
    times = {"jclip": 0.0, "torch": 0.0}
    flags = {"jclip": [], "torch": []}
    diffs, differing = [], []
    for i, (x, y) in enumerate(zip(data, labels)):
        start = time.perf_counter()
        clean, robust, adv = jax.block_until_ready(ours(x, y))
        times["jclip"] += time.perf_counter() - start
        start = time.perf_counter()
        clean_t, robust_t, adv_t = torch_eval(net, attack, x, y)
        times["torch"] += time.perf_counter() - start
        flags["jclip"].append((np.asarray(clean), np.asarray(robust)))
        flags["torch"].append((clean_t, robust_t))
        diff = np.abs(np.asarray(adv) - adv_t)
        diffs.append(float(diff.max()))
        differing.append(float(np.mean(diff > 1e-4)))
        print(f"batch {i + 1}/{batches}: jclip {times['jclip']:.1f} s, torch "
              f"{times['torch']:.1f} s (cumulative)", flush=True)
    n = batches * batch_size
    out = {"setup": {"model": "ViT-B/32 (random init)", "image_size": 224, "classes": NUM_CLASSES,
                     "attack": f"PGD-{steps} l_inf eps 1/255 step 1/255, no random start",
                     "batches": batches, "batch_size": batch_size, "precision": "fp32"},
           "machine": {"cpu": cpu_model(), "cpu_count": os.cpu_count(),
                       "loadavg_1min": round(os.getloadavg()[0], 2), "jax": jax.__version__,
                       "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                       "backend": jax.default_backend()},
           "jclip_compile_s": round(compile_s, 2)}
    for name in times:
        clean = np.concatenate([c for c, _ in flags[name]])
        robust = np.concatenate([r for _, r in flags[name]])
        out[name] = {"seconds": round(times[name], 3), "images_per_s": round(n / times[name], 3),
                     "clean_acc1": float(clean.mean()), "robust_acc1": float(robust.mean())}
    out["speedup_jclip_vs_torch"] = round(times["torch"] / times["jclip"], 3)
    out["adv_max_abs_diff"] = max(diffs)
    out["adv_fraction_of_pixels_differing"] = float(np.mean(differing))
    return out


def table(result: dict) -> str:
    rows = ["| implementation | images/s | clean acc1 | robust acc1 |", "|---|---|---|---|"]
    for name in ("jclip", "torch"):
        r = result[name]
        rows.append(f"| {name} | {r['images_per_s']:.3f} | {r['clean_acc1']:.3f} | "
                    f"{r['robust_acc1']:.3f} |")
    rows.append(f"\nspeed-up jclip / torch: {result['speedup_jclip_vs_torch']:.2f}x on "
                f"{result['machine']['cpu']} ({result['machine']['cpu_count']} cores, load "
                f"{result['machine']['loadavg_1min']})")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch_threads", type=int, default=None,
                        help="torch.set_num_threads (default: PyTorch's own)")
    parser.add_argument("--out", default="results/bench_attacks.json")
    args = parser.parse_args(argv)
    result = bench(args.batches, args.batch_size, args.steps, args.seed, args.torch_threads)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
