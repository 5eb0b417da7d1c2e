"""``jclip-eval`` (= ``python -m jclip.evals``): CLIP_benchmark's command line over jclip.

  jclip-eval --model openai/clip-vit-base-patch32 --dataset cifar10 imagenet_robustness \
      --task auto --output "results/{model}_{dataset}_{task}.json"
  jclip-eval summarize results/*.json --output table.md

Models x datasets run as a product; every model source, dataset spec and task is checked before
the first image is encoded. One JSON per (model, dataset, task), with CLIP_benchmark's keys.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback

from jclip.evals import datasets as datasets_lib
from jclip.evals import registry, runner, summarize

DEFAULT_OUTPUT = "{dataset}_{model}_{task}.json"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jclip-eval", description="Evaluate CLIP / SigLIP models (CLIP_benchmark's tasks).")
    p.add_argument("--model", nargs="+", required=True, metavar="SOURCE",
                   help="jclip.load sources: hub id, hf-hub:id, local folder, OpenCLIP file, "
                        "a jclip save or a trainer workdir")
    p.add_argument("--arch", default=None, help="preset for OpenCLIP / OpenAI state dicts")
    p.add_argument("--tokenizer", default=None,
                   help="tokenizer source when the model source has none (hub id or folder)")
    p.add_argument("--dataset", nargs="+", required=True, metavar="SPEC",
                   help="dataset specs or collections (see jclip.evals.datasets)")
    p.add_argument("--task", default="auto", choices=sorted(registry.TASKS) + ["auto"])
    p.add_argument("--output", default=DEFAULT_OUTPUT,
                   help="result path template with {model}, {dataset}, {task}")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--recall_k", type=int, nargs="+", default=[1, 5, 10])
    p.add_argument("--templates", default=None, help="template set name or file ({c} or {})")
    p.add_argument("--classnames", default=None, help="class names file (one per line or JSON)")
    p.add_argument("--split", default=None, help="evaluation split (default: the dataset's)")
    p.add_argument("--train_split", default=None, help="train split for linear_probe / fewshot")
    p.add_argument("--data_dir", default=None, help="tfds data directory")
    p.add_argument("--fewshot_k", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corruption", nargs="+", default=None, metavar="NAME",
                   help="ImageNet-C corruptions (or all / benchmark / extra) for --task "
                        "corruption (implied by --task auto)")
    p.add_argument("--severity", type=int, nargs="+", default=None, metavar="K",
                   help="corruption severities in 1..5 (default: all five)")
    p.add_argument("--ood_dataset", default=None, metavar="SPEC",
                   help="OOD set of --task ood (the --dataset sets are the ID sets)")
    p.add_argument("--ood_split", default=None, help="split of --ood_dataset")
    a = p.add_argument_group("adversarial attacks (select --task adversarial)")
    a.add_argument("--attack", default=None, choices=["pgd", "apgd", "cw", "autoattack"])
    a.add_argument("--eps", type=float, default=None, help="attack radius (1/255 units; 1)")
    a.add_argument("--steps", type=int, default=None, help="attack iterations (10)")
    a.add_argument("--step_size", type=float, default=None, help="PGD / CW step (1/255; 1)")
    a.add_argument("--norm", default=None, choices=["linf", "l2"])
    a.add_argument("--units", default=None, choices=["255", "fraction"],
                   help="units of --eps / --step_size (default 255: eps 1 = 1/255)")
    a.add_argument("--defense", default=None, choices=["ttc"],
                   help="test-time counterattacks on the clean and attacked images")
    a.add_argument("--adaptive", action="store_true", help="attack through the defence")
    a.add_argument("--num_examples", type=int, default=None,
                   help="attack the first N examples only")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--cache_dir", default=None,
                   help="on-disk cache of image features, keyed by the model's weights, the "
                        "dataset spec and options and, for local data (folder:, pairs:, wds:, "
                        "countbench), a blake2b hash of the content of every file read (each "
                        "file is read once more per run to check it); an unreadable entry is "
                        "encoded again")
    p.add_argument("--num_workers", type=int, default=2, help="image decoding threads")
    p.add_argument("--skip_existing", action="store_true",
                   help="skip (model, dataset, task) whose output file holds a complete result")
    p.add_argument("--no_download", action="store_true", help="never download tfds data")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    g = p.add_argument_group("several processes (each encodes its part of every split)")
    g.add_argument("--coordinator", default=None, help="HOST:PORT of process 0")
    g.add_argument("--num_processes", type=int, default=None)
    g.add_argument("--process_id", type=int, default=None)
    g.add_argument("--distributed", action="store_true",
                   help="jax.distributed.initialize() from the environment (TPU pod, SLURM)")
    return p


def initialize_distributed(args) -> None:
    """Starts jax.distributed from the flags (CPU processes talk through gloo)."""
    import jax

    if args.coordinator:
        if args.num_processes is None or args.process_id is None:
            raise SystemExit("--coordinator needs --num_processes and --process_id")
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=args.coordinator,
                                   num_processes=args.num_processes, process_id=args.process_id)
    elif args.distributed:
        jax.distributed.initialize()


def _slug(text: str) -> str:
    return re.sub(r"[^\w.@=-]+", "_", text).strip("_")


def model_name(source: str, depth: int = 1) -> str:
    """How output file names and tables name a model source: a local path by its last ``depth``
    folder names, a hub id by itself (``/`` -> ``_``)."""
    source = source.removeprefix("hf-hub:").rstrip("/")
    if os.path.exists(source):
        parts = os.path.abspath(source).split(os.sep)[1:]
        source = "_".join(parts[-depth:])
    return _slug(source.replace("/", "_"))


def model_names(sources: list[str]) -> dict[str, str]:
    """{source: name}, names distinct and recognisable: two local models both named ``ckpt``
    (``runs/a/ckpt``, ``runs/b/ckpt``) become ``a_ckpt`` and ``b_ckpt``.

    Raises ValueError when a source is listed twice, or two sources still share a name.
    """
    repeated = sorted({s for s in sources if sources.count(s) > 1})
    if repeated:
        raise ValueError(f"--model lists {repeated} more than once")
    depth = dict.fromkeys(sources, 1)
    for _ in range(64):
        names = {s: model_name(s, depth[s]) for s in sources}
        clashes = [s for s in sources if list(names.values()).count(names[s]) > 1]
        grown = [s for s in clashes if model_name(s, depth[s] + 1) != names[s]]
        if not clashes:
            return names
        if not grown:
            break
        for s in grown:
            depth[s] += 1
    same = sorted(s for s in sources if list(names.values()).count(names[s]) > 1)
    raise ValueError(f"the models {same} would get the same name {names[same[0]]!r} in results "
                     "and output files: evaluate them in separate runs")


def model_source(source: str) -> str:
    """The full source a result records: a local path made absolute, a hub id as given."""
    expanded = os.path.expanduser(source)
    return os.path.abspath(expanded) if os.path.exists(expanded) else source


def _model_dir(source: str) -> str:
    """A trainer workdir stands for the model it saved under model/."""
    inner = os.path.join(source, "model")
    if os.path.isdir(source) and os.path.isfile(os.path.join(inner, "jclip_config.json")):
        return inner
    return source


def check_model_source(source: str) -> None:
    """A clear error for a model path that does not exist (before any work)."""
    looks_local = (source.startswith((".", "/", "~")) or source.count("/") > 1
                   or os.path.splitext(source)[1] in (".bin", ".pt", ".pth", ".safetensors"))
    if looks_local and not os.path.exists(os.path.expanduser(source)):
        raise FileNotFoundError(f"model {source!r} does not exist (working directory "
                                f"{os.getcwd()})")


def plan(args) -> list[tuple[str, str, dict, str]]:
    """(model source, dataset spec, task dict, output path) for every run, all checked."""
    specs = datasets_lib.expand(args.dataset)
    named = model_names(list(args.model))
    runs = []
    for source in args.model:
        check_model_source(source)
        for spec in specs:
            data = datasets_lib.get_eval_data(spec, args.split, data_dir=args.data_dir,
                                              download=not args.no_download)
            kind = (registry.task_for_dataset(data.kind) if args.task == "auto" else args.task)
            kind = _corruption_kind(args, kind)
            kind = _adversarial_kind(args, kind)
            task = {"type": kind, "dataset": spec, "split": args.split}
            if kind == "zeroshot_retrieval":
                task["recall_k"] = list(args.recall_k)
            if kind in ("zeroshot_classification", "fewshot") and args.templates:
                task["templates"] = args.templates
            if kind in ("linear_probe", "fewshot"):
                task.update(seed=args.seed, train_split=args.train_split)
            if kind == "fewshot":
                task["fewshot_k"] = args.fewshot_k
            if kind == "corruption":
                names = args.corruption or ["all"]
                task.update(corruptions=names[0] if names[0] in ("all", "benchmark", "extra")
                            and len(names) == 1 else names, seed=args.seed)
                if args.templates:
                    task["templates"] = args.templates
                if args.severity:
                    task["severities"] = list(args.severity)
            if kind == "ood":
                if not args.ood_dataset:
                    raise ValueError("--task ood needs --ood_dataset (the OOD set)")
                task.update(ood_dataset=args.ood_dataset, ood_split=args.ood_split)
            if kind in ("ood", "calibration", "spurious") and args.templates:
                task["templates"] = args.templates
            if kind == "adversarial":
                task.update({k: getattr(args, k) for k in ADVERSARIAL_FLAGS
                             if getattr(args, k) is not None}, seed=args.seed)
                task.update(adaptive=bool(args.adaptive))
                if args.templates:
                    task["templates"] = args.templates
            if args.classnames:
                task["classnames"] = args.classnames
            task = runner.check_task(task)  # with the task's own check (attack settings, ...)
            out = args.output.format(model=named[source], dataset=_slug(spec), task=kind)
            runs.append((source, spec, task, out))
    _check_outputs(runs, args.output)
    return runs


def _check_outputs(runs, template: str) -> None:
    """Refuses a plan in which two runs would write the same file (one result would be lost)."""
    seen = {}
    for source, spec, task, out in runs:
        key = os.path.normpath(os.path.abspath(out))
        if key in seen:
            first = seen[key]
            missing = [f"{{{k}}}" for k in ("model", "dataset", "task") if f"{{{k}}}" not in
                       template]
            hint = (f"add {' / '.join(missing)} to it" if missing else
                    "the names collide after cleaning: evaluate them in separate runs")
            raise ValueError(
                f"--output {template!r} gives the same file {out} to ({first[0]}, {first[1]}, "
                f"{first[2]['type']}) and ({source}, {spec}, {task['type']}): one result would "
                f"replace the other; {hint}")
        seen[key] = (source, spec, task)


ADVERSARIAL_FLAGS = ("attack", "eps", "steps", "step_size", "norm", "units", "defense",
                     "num_examples")


def _adversarial_kind(args, kind: str) -> str:
    """--attack (and the other attack flags) select the adversarial task (from --task auto)."""
    given = [f"--{k}" for k in ADVERSARIAL_FLAGS if getattr(args, k, None) is not None]
    if getattr(args, "adaptive", False):
        given.append("--adaptive")
    if not given:
        return kind
    if kind != "adversarial" and (args.task != "auto" or args.attack is None):
        raise ValueError(f"{' / '.join(given)} apply to --task adversarial (select it with "
                         f"--attack or --task adversarial), not --task {args.task}")
    return "adversarial"


def _corruption_kind(args, kind: str) -> str:
    """--corruption / --severity select the corruption task (from --task auto)."""
    if args.corruption is None and args.severity is None:
        return kind
    if args.task not in ("auto", "corruption"):
        raise ValueError(f"--corruption / --severity apply to --task corruption, not "
                         f"--task {args.task}")
    return "corruption"


def run(args) -> list[dict]:
    """Runs the planned evaluations; returns the results (also written to their outputs)."""
    import jax

    import jclip
    from jclip.evals.encode import EvalContext

    runs = plan(args)
    named = model_names(list(args.model))
    lead = jax.process_index() == 0
    results = []
    for source in dict.fromkeys(r[0] for r in runs):
        todo = [r for r in runs if r[0] == source]
        if args.skip_existing:
            todo = [r for r in todo if not is_result_file(r[3])]
            if not todo:
                continue
        path = _model_dir(source)
        model, params = jclip.load(path, arch=args.arch)
        tokenizer = jclip.load_tokenizer(path, context_length=model.config.context_length,
                                         tokenizer=args.tokenizer)
        ctx = EvalContext(model, params, tokenizer, model_name=named[source],
                          batch_size=args.batch_size, precision=args.precision,
                          cache_dir=args.cache_dir, data_dir=args.data_dir,
                          download=not args.no_download, num_workers=args.num_workers,
                          progress=not args.quiet)
        for _, _, task, out in todo:
            result = runner.run_task(ctx, task)
            result["model_source"] = model_source(source)
            results.append(result)
            if lead:  # every process has the same result; one writes it
                runner.write_result(result, out)
                _print_result(result, out)
    if results and lead:
        print("\n" + summarize.table(results, "md"), flush=True)
    return results


def is_result_file(path: str) -> bool:
    """Whether ``path`` holds a complete result (``--skip_existing``): a file cut mid-write, or
    one that is not a result, is run again."""
    try:
        summarize.read_results([path])
    except ValueError:
        return False
    return True


def _print_result(result: dict, path: str) -> None:
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items()
                        if isinstance(v, float))
    print(f"{result['model']} / {result['dataset']} / {result['task']}: {metrics} "
          f"({result['num_examples']} examples) -> {path}", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "summarize":
        return summarize.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    initialize_distributed(args)
    try:
        run(args)
    except (ValueError, OSError) as e:
        if not is_input_error(e):
            raise  # a bug: its traceback is what a report needs
        # Bad input: the message names the problem; a traceback would bury it.
        print(f"jclip-eval: error: {e}", file=sys.stderr)
        return 2
    return 0


_JCLIP_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_input_error(error: BaseException) -> bool:
    """Whether ``error`` is jclip's report of bad input rather than a bug.

    jclip reports bad input (paths, datasets, flags, files) with ``ValueError`` (its
    ``ConfigError`` too) or ``OSError`` raised by its own checks, so the raising frame lies in
    the jclip package; the same types raised inside numpy, jax or another library are bugs of
    the caller (a shape jclip failed to check) and keep their traceback. A missing or unreadable
    file (``OSError`` with a file name) is the user's wherever it is raised.
    """
    if isinstance(error, OSError) and getattr(error, "filename", None):
        return True
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return True
    return os.path.abspath(frames[-1].filename).startswith(_JCLIP_ROOT + os.sep)
