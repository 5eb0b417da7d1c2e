"""Bad inputs of the ordinal tasks, heads and study: each raises the named exception with a
message that says what is wrong (one test line per case), before any long work."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import jclip
from experiments.ordinal import study
from experiments.ordinal.configs import default
from jclip.data import shapes
from jclip.evals import ordinal
from jclip.heads import numclip, ordinalclip, prompt_learning, regression
from jclip.metrics.ordinal import per_rank_mae
from jclip.tokenizer import WordTokenizer
from jclip.train import step as step_lib

TOKENIZER = WordTokenizer(shapes.vocabulary(), context_length=12)
CONFIG = jclip.get_config("tiny-clip", vocab_size=TOKENIZER.vocab_size, context_length=12,
                          eos_token_id=TOKENIZER.eos_id, image_size=32)
NAMES = ("age_2", "age_10", "age_5")


def _study(**task):
    c = default.get_config()
    for key, value in task.items():
        c.tasks.size[key] = value
    return c


def _fake_prompts():
    return prompt_learning.PromptSet(np.zeros((2, 4), np.int32), 1, 1, 2, ("a", "b"))


def case_one_rank(tmp_path):
    ordinalclip.check_ranks(1)


def case_more_base_ranks_than_ranks(tmp_path):
    ordinalclip.interpolation_weights(5, 6)


def case_labels_outside_the_ranks(tmp_path):
    ordinalclip.check_labels([0, 5, 7], 5)


def case_float_rank_labels(tmp_path):
    ordinalclip.check_labels([0.0, 1.0], 5)


def case_non_monotone_bin_edges(tmp_path):
    numclip.check_edges([0, 2, 1, 3])


def case_one_bin(tmp_path):
    numclip.check_edges([0, 1])


def case_nan_bin_edge(tmp_path):
    numclip.check_edges([0, float("nan"), 2])


def case_values_outside_the_bins(tmp_path):
    numclip.bin_index([0.5, 7.0], [0, 1, 2])


def case_unknown_bin_value_kind(tmp_path):
    numclip.bin_values([0, 1, 2], "mean")


def case_bin_names_and_edges_disagree(tmp_path):
    numclip.fit(None, None, _fake_prompts(), np.zeros((4, 8)), [1, 2, 3, 1], [0.5, 1.5, 2.5, 3.5])


def case_order_with_unknown_class(tmp_path):
    ordinal.rank_order(NAMES, ["age_2", "age_99"])


def case_unknown_order(tmp_path):
    ordinal.rank_order(NAMES, "alphabetical")


def case_single_class_dataset(tmp_path):
    ordinal.rank_order(["age_2"], "natural")


def case_labels_of_unranked_classes(tmp_path):
    data = SimpleNamespace(name="folder:ages", classnames=NAMES)
    ordinal.ranked_labels(data, SimpleNamespace(labels=np.array([0, 2, 1])), ["age_2", "age_5"])


def case_decreasing_rank_values(tmp_path):
    ordinal.check_rank_values([30, 20, 10], 3)


def case_rank_values_of_another_length(tmp_path):
    ordinal.check_rank_values([1, 2], 3)


def case_metric_labels_outside_the_ranks(tmp_path):
    ordinal.metrics_of([0, 3], [0, 1], None, num_ranks=3)


def case_per_rank_targets_outside(tmp_path):
    per_rank_mae([0.0, 1.0], [0, 4], 3)


def case_per_rank_nan_predictions(tmp_path):
    per_rank_mae([np.nan, 1.0], [0, 1], 3)


def case_regression_on_one_example(tmp_path):
    regression.ridge_fit(np.zeros((1, 3)), np.zeros(1))


def case_empty_prompt_context(tmp_path):
    prompt_learning.build_prompts(TOKENIZER, ["circle"], CONFIG, "  ")


def case_no_prompt_names(tmp_path):
    prompt_learning.build_prompts(TOKENIZER, [], CONFIG)


def case_prompt_embeddings_of_the_wrong_shape(tmp_path):
    model = jclip.create_model(CONFIG)
    tokens = jnp.asarray(TOKENIZER(["a photo of a circle"]))
    shapes_ = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)), tokens)
    bad = jnp.zeros((1, tokens.shape[1] - 1, CONFIG.text_width))
    jax.eval_shape(lambda p: model.apply(p, tokens, method="encode_text",
                                         prompt_embeddings=bad), shapes_)


def case_study_unknown_method(tmp_path):
    c = default.get_config()
    c.methods = ("zero_shot", "knn")
    study.check_config(c)


def case_study_bins_named_wrongly(tmp_path):
    study.check_config(_study(numclip=dict(context="a photo of a", bin_names=("small", "large"),
                                           edges=(0.5, 2.5, 3.5, 5.5), adapter_ratio=0.8)))


def case_study_ranks_outside_the_bins(tmp_path):
    study.check_config(_study(numclip=dict(context="a photo of a", bin_names=("a", "b", "c"),
                                           edges=(0.5, 2.5, 3.5, 4.5), adapter_ratio=0.8)))


def case_study_one_rank(tmp_path):
    study.check_config(_study(rank_names=("huge",)))


def case_study_non_monotone_edges(tmp_path):
    study.check_config(_study(numclip=dict(context="a photo of a", bin_names=("a", "b", "c"),
                                           edges=(0.5, 3.5, 2.5, 5.5), adapter_ratio=0.8)))


def case_numclip_loss_without_bin_prompts(tmp_path):
    step_lib.make_loss_fn(ml_collections.ConfigDict({"name": "numclip", "impl": "xla"}),
                          jclip.create_model(CONFIG))


CASES = [
    (case_one_rank, ValueError, "at least 2 ranks, got num_ranks=1"),
    (case_more_base_ranks_than_ranks, ValueError, "num_base_ranks must be an int in \\[1, "),
    (case_labels_outside_the_ranks, ValueError, "must lie in \\[0, 5\\).*\\[5, 7\\]"),
    (case_float_rank_labels, ValueError, "1-D int array"),
    (case_non_monotone_bin_edges, ValueError, "increase strictly \\(monotone\\)"),
    (case_one_bin, ValueError, "at least 3 numbers \\(2 bins\\)"),
    (case_nan_bin_edge, ValueError, "bin edges must be finite"),
    (case_values_outside_the_bins, ValueError, "\\[7.0\\] lie outside the bins"),
    (case_unknown_bin_value_kind, ValueError, "'center' or 'lower'"),
    (case_bin_names_and_edges_disagree, ValueError, "2 bin names for 3 bins"),
    (case_order_with_unknown_class, ValueError, "unknown or repeated: \\['age_99'\\]"),
    (case_unknown_order, ValueError, "order must be None, 'natural' or a list"),
    (case_single_class_dataset, ValueError, "at least 2 ranks, got 1"),
    (case_labels_of_unranked_classes, ValueError, "\\['age_10'\\] are not among the ranks"),
    (case_decreasing_rank_values, ValueError, "must increase with the rank"),
    (case_rank_values_of_another_length, ValueError, "must be 3 finite numbers"),
    (case_metric_labels_outside_the_ranks, ValueError, "ranks in \\[0, 3\\)"),
    (case_per_rank_targets_outside, ValueError, "int ranks in \\[0, 3\\)"),
    (case_per_rank_nan_predictions, ValueError, "NaN or inf"),
    (case_regression_on_one_example, ValueError, "at least 2 examples"),
    (case_empty_prompt_context, ValueError, "at least one word"),
    (case_no_prompt_names, ValueError, "non-empty strings"),
    (case_prompt_embeddings_of_the_wrong_shape, ValueError, "must be \\[B, L, text_width\\]"),
    (case_study_unknown_method, ValueError, "unknown methods \\['knn'\\]"),
    (case_study_bins_named_wrongly, ValueError, "2 bin names for 3 bins"),
    (case_study_ranks_outside_the_bins, ValueError, "\\[5.0\\] lie outside the bins"),
    (case_study_one_rank, ValueError, "at least 2 ranks"),
    (case_study_non_monotone_edges, ValueError, "increase strictly"),
    (case_numclip_loss_without_bin_prompts, ValueError, "needs loss.numclip_bin_tokens"),
]


@pytest.mark.parametrize("case, error, match", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_bad_input_is_named(tmp_path, case, error, match):
    with pytest.raises(error, match=match):
        case(tmp_path)
