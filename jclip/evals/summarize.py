"""``jclip-eval summarize RESULTS... --output table.csv|.md``: result JSONs -> one flat table.

One row per result file (model, dataset, task, split, num_examples, then every metric), like
CLIP_benchmark's ``build``; metric columns are the union over the files, blank where a task has
no such metric.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import math

FIXED = ("model", "dataset", "task", "split", "num_examples")


def read_results(paths) -> list[dict]:
    """The result dicts of ``paths``; ValueError naming a file that is not a jclip result."""
    results = []
    for path in paths:
        try:
            with open(path) as f:
                result = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read result file {path}: {e}") from e
        if not isinstance(result, dict) or "metrics" not in result:
            raise ValueError(f"{path} is not an evaluation result (no 'metrics')")
        results.append(result)
    return results


def rows(results: list[dict]) -> tuple[list[str], list[dict]]:
    """(columns, rows) of the flat table."""
    metric_cols = []
    for r in results:
        metric_cols += [k for k, v in r["metrics"].items()
                        if isinstance(v, (int, float)) and k not in metric_cols]
    out = []
    for r in results:
        row = {k: r.get(k, "") for k in FIXED}
        row.update({k: r["metrics"].get(k, "") for k in metric_cols})
        out.append(row)
    return list(FIXED) + metric_cols, out


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def table(results: list[dict], fmt: str = "md") -> str:
    """The table as Markdown (``fmt="md"``) or CSV (``"csv"``)."""
    columns, body = rows(results)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, columns)
        writer.writeheader()
        writer.writerows(body)
        return buf.getvalue()
    if fmt != "md":
        raise ValueError(f"format must be 'md' or 'csv', got {fmt!r}")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in body]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="jclip-eval summarize",
                                description="Flatten result JSONs into one table.")
    p.add_argument("results", nargs="+", help="result files or glob patterns")
    p.add_argument("--output", default=None, help="table.csv or table.md (default: print)")
    args = p.parse_args(argv)
    paths = expand_paths(args.results)
    if not paths:
        raise SystemExit("no result files match " + " ".join(args.results))
    results = read_results(paths)
    fmt = "csv" if (args.output or "").endswith(".csv") else "md"
    text = table(results, fmt)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        print(f"wrote {args.output} ({len(results)} results)")
    else:
        print(text)
    return 0


def expand_paths(patterns: list[str]) -> list[str]:
    """Result files named by paths or glob patterns (sorted, each once)."""
    paths = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        paths += [p for p in found if p not in paths]
    return paths
