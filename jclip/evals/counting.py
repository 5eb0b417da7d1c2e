"""Zero-shot counting: the CountBench protocol (Paiss et al., 2023) on any counting dataset.

For each image the model scores one caption per count of a range (CountBench: "two".."ten")
and the predicted count is the argmax of the similarities:

  pred_i = counts[argmax_k <z_img_i, z_txt(i, k)>],
  accuracy = mean_i [pred_i = y_i],  MAE = mean_i |pred_i - y_i|,
  per-count accuracy_c = mean_{i: y_i = c} [pred_i = c],  confusion M[a, b] = #{y = a, pred = b}.

The captions come from ``prompts``:

- "templates": the class-level classifier of the dataset's templates (or ``templates``) with each
  number word, prompt-ensembled as zero-shot classification does;
- "caption": each image's own caption with its number swapped for every count
  (``jclip.data.counterfactual.swap_count``), the protocol of the paper on CountBench. An image
  whose caption states no number is left out and counted (``caption_without_number``).

The true count of class id ``j`` is the number its class name spells ("three" -> 3; the
scenes' class id is the count itself, CLEVR's count_all maps 0..7 to 3..10). Images whose count
is not in ``counts`` are left out and counted (``outside_counts``); a source that left images out
while reading (CountBench's missing images) reports it under ``data_report``.

The ``countbench:DIR`` dataset spec (also ``countbench`` with ``data_dir``) is
``countbench_source``: a local copy of the JSON and its images (``jclip.data.countbench``).
"""

from __future__ import annotations

import os

import numpy as np

from jclip import figures
from jclip.data import counterfactual as cf_lib
from jclip.evals.eval_data import EvalData, fingerprint, list_batches

DEFAULTS = {
    "counts": None,  # the counts to choose among; None: the dataset's count range
    "number_words": None,  # {count: word} (or a list indexed by count); None: English words
    "templates": None,  # templates with one "{}" for the number word; None: the dataset's
    "prompts": "templates",  # "templates" | "caption" (each image's caption, number swapped)
    "plot": None,  # a PNG path: confusion matrix and per-count accuracy
}
PROMPTS = ("templates", "caption")


def class_counts(data) -> list[int | None]:
    """The count each class id stands for (None where the class name is no number word)."""
    out = []
    for name in data.classnames or ():
        value = cf_lib.word_value(str(name).strip())
        if value is None and str(name).strip().isdigit():
            value = int(name)
        out.append(value)
    return out


def resolve_counts(data, task) -> tuple[list[int], list[str]]:
    """(counts, their number words) of a task; ValueError naming what is missing."""
    per_class = class_counts(data)
    if task.get("counts") is not None:
        counts = [int(c) for c in task["counts"]]
    else:
        ids = (data.class_subset if data.class_subset is not None
               else range(len(per_class)))
        bad = [data.classnames[i] for i in ids if per_class[i] is None]
        if bad or not per_class:
            raise ValueError(f"{data.name}: class names {bad[:5] or '(none)'} are not number "
                             f"words; the counting task needs number-word class names or "
                             f"counts=[...]")
        counts = [per_class[i] for i in ids]
    if len(set(counts)) < 2 or len(set(counts)) != len(counts):
        raise ValueError(f"counting needs at least 2 distinct counts, got {counts}")
    words_spec = task.get("number_words")
    words = []
    for c in counts:
        if words_spec is None:
            try:
                words.append(cf_lib.number_word(c))
            except ValueError:
                raise ValueError(f"count {c} has no English number word (0..{cf_lib.MAX_COUNT});"
                                 f" pass number_words={{count: word}}") from None
        else:
            try:
                word = words_spec[c] if not isinstance(words_spec, dict) else words_spec.get(
                    c, words_spec.get(str(c)))
            except (IndexError, KeyError, TypeError):
                word = None
            if not isinstance(word, str) or not word.strip():
                raise ValueError(f"number_words has no word for count {c}")
            words.append(word)
    return counts, words


def true_counts(data, labels) -> np.ndarray:
    """int [N] true counts from the class-id labels; -1 where the class is no number or the
    label is outside the classes (such images are counted in ``num_outside_counts``)."""
    per_class = np.array([-1 if c is None else c for c in class_counts(data)], np.int64)
    labels = np.asarray(labels, np.int64)
    if labels.ndim != 1:
        raise ValueError(f"{data.name}: counting needs one class id per image, got labels of "
                         f"shape {labels.shape}")
    valid = (labels >= 0) & (labels < len(per_class))
    return np.where(valid, per_class[np.clip(labels, 0, len(per_class) - 1)], -1)


def count_metrics(y, pred, counts) -> dict:
    """accuracy, MAE, per-count accuracy and the confusion matrix (rows true, columns
    predicted, in ``counts`` order) of true counts ``y`` and predictions ``pred``."""
    y, pred = np.asarray(y, np.int64), np.asarray(pred, np.int64)
    if y.size == 0:
        raise ValueError("no image to score: every image was left out")
    index = {c: k for k, c in enumerate(counts)}
    matrix = np.zeros((len(counts), len(counts)), np.int64)
    np.add.at(matrix, ([index[v] for v in y], [index[v] for v in pred]), 1)
    per_count = {str(c): (float(matrix[k, k] / matrix[k].sum()) if matrix[k].sum() else None)
                 for k, c in enumerate(counts)}
    present = [v for v in per_count.values() if v is not None]
    return {"metrics": {"accuracy": float(np.mean(y == pred)),
                        "mae": float(np.mean(np.abs(y - pred))),
                        "mean_per_count_accuracy": float(np.mean(present))},
            "per_count_accuracy": per_count, "confusion_matrix": matrix.tolist(),
            "counts": list(counts)}


def _templates(ctx, data, task):
    from jclip.evals.zeroshot_classification import templates_of

    return templates_of(ctx, data, task)


def _caption_scores(ctx, feats, keep, y, counts):
    """Similarity [n, K] of each kept image with its caption at every count."""
    texts = []
    for i in keep:
        caption = feats.captions[i][0]
        mentions = cf_lib.find_numbers(caption)
        which = next(k for k, m in enumerate(mentions) if m.value == y[i]) \
            if any(m.value == y[i] for m in mentions) else 0
        texts += [cf_lib.swap_count(caption, c, which=which) for c in counts]
    z = ctx.text_features(texts).reshape(len(keep), len(counts), -1)
    return np.einsum("nd,nkd->nk", feats.features[keep], z)


def run(ctx, task: dict) -> dict:
    if task["prompts"] not in PROMPTS:
        raise ValueError(f"counting prompts must be one of {PROMPTS}, got {task['prompts']!r}")
    data = ctx.dataset(task)
    counts, words = resolve_counts(data, task)
    feats = ctx.image_features(data)
    y = true_counts(data, feats.labels)
    inside = np.isin(y, counts)
    keep = np.flatnonzero(inside)
    out = {"num_outside_counts": int((~inside).sum())}
    if task["prompts"] == "caption":
        if not feats.captions:
            raise ValueError(f"{data.name} has no captions: use prompts='templates'")
        has = np.array([bool(feats.captions[i]) and bool(cf_lib.find_numbers(feats.captions[i][0]))
                        for i in keep], bool)
        out["caption_without_number"] = int((~has).sum())
        keep = keep[has]
        if keep.size == 0:
            raise ValueError(f"{data.name}: no caption states a number to swap")
        scores = _caption_scores(ctx, feats, keep, y, counts)
    else:
        classifier = ctx.classifier(words, _templates(ctx, data, task))
        scores = feats.features[keep] @ classifier
    pred = np.asarray(counts)[np.argmax(scores, axis=1)]
    out.update(count_metrics(y[keep], pred, counts))
    out.update(num_examples=int(keep.size), split=data.split, number_words=words)
    if getattr(data, "report", None):
        out["data_report"] = data.report
    if task.get("plot"):
        out["plot"] = plot_counts(out, task["plot"], title=f"{ctx.model_name} on {data.name}")
    return out


def plot_counts(result: dict, path: str, title: str = "") -> str:
    """Confusion matrix (row-normalised) and per-count accuracy of a result, as one PNG."""
    counts, matrix = result["counts"], np.asarray(result["confusion_matrix"], np.float64)
    fig, (ax1, ax2) = figures.subplots(1, 2, figsize=(8, 3.4))
    norm = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    ax1.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax1.set_xticks(range(len(counts)), counts)
    ax1.set_yticks(range(len(counts)), counts)
    ax1.set_xlabel("predicted count")
    ax1.set_ylabel("true count")
    acc = [result["per_count_accuracy"][str(c)] for c in counts]
    ax2.bar([str(c) for c in counts], [np.nan if a is None else a for a in acc])
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("true count")
    ax2.set_ylabel("accuracy")
    fig.suptitle(title or "counting", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def countbench_source(rest: str, split: str | None, *, data_dir=None, images_dir="images",
                      file_key=None, on_missing="skip", on_bad_row="error", templates=None):
    """``countbench:DIR`` (or ``countbench`` with ``data_dir``) -> ``EvalData`` of kind
    counting: class id = count, classes two..ten, captions = the rows' texts; the reader's
    counts of missing images and bad rows in ``EvalData.report``."""
    from jclip.data import countbench

    root = rest or data_dir
    if not root:
        raise ValueError("countbench needs its folder: 'countbench:DIR' or data_dir=DIR (the "
                         "folder with CountBench.json and images/, see "
                         "experiments/counting/README.md)")
    if not rest and os.path.isdir(os.path.join(os.path.expanduser(root), "countbench")):
        root = os.path.join(os.path.expanduser(root), "countbench")
    bench = countbench.scan(root, images_dir=images_dir, file_key=file_key,
                            on_missing=on_missing, on_bad_row=on_bad_row)
    n = len(bench)
    stats = [os.stat(p) for p in bench.files]
    names = tuple(cf_lib.number_word(c) for c in range(max(countbench.COUNTS) + 1))
    return EvalData(
        name=f"countbench:{rest}" if rest else "countbench", split=split or "test",
        kind="counting", classnames=names,
        templates=tuple(templates or ("a photo of {} objects.", "a photo of {} things.")),
        make_batches=list_batches(list(range(n)), bench.load),
        fingerprint=fingerprint("countbench", bench.json_path, list(bench.indices),
                                [(st.st_size, st.st_mtime_ns) for st in stats]),
        class_subset=countbench.COUNTS, expected_examples=lambda: n, report=bench.report(),
        files=(bench.json_path, *bench.files))
