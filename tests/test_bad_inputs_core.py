"""The bad-input catalog, core library part: losses, kernels, metrics, tokenizer, preprocessing,
models, heads, data, the evaluation runner and the trainer's config. Each case raises the named
exception with a message that says what is wrong (one test line per case)."""

import gzip
import json

import jax.numpy as jnp
import numpy as np
import pytest

import jclip
from jclip import losses, metrics
from tests.helpers.models import tiny_model

Z = jnp.ones((4, 8)) / jnp.sqrt(8.0)
PROBS = np.full((3, 4), 0.25, np.float32)
MICRO = "experiments/configs/shapes_micro.py"


def _tiny():
    return tiny_model()


# --- losses and kernels ---------------------------------------------------------------------
def case_clip_loss_empty_batch(tmp_path):
    losses.clip_loss(jnp.zeros((0, 8)), jnp.zeros((0, 8)), 10.0)


def case_clip_loss_batch_mismatch(tmp_path):
    losses.clip_loss(Z, Z[:3], 10.0)


def case_clip_loss_negative_scale(tmp_path):
    losses.clip_loss(Z, Z, -1.0)


def case_clip_loss_rank_one(tmp_path):
    losses.clip_loss(Z[0], Z[0], 1.0)


def case_siglip_unknown_strategy(tmp_path):
    losses.siglip_loss(Z, Z, 10.0, -10.0, strategy="foo")


def case_kernel_empty_batch(tmp_path):
    from jclip import kernels

    kernels.contrastive_loss(jnp.zeros((0, 8)), jnp.zeros((0, 8)), 10.0)


def case_kernel_unknown_impl(tmp_path):
    from jclip import kernels

    kernels.contrastive_loss(Z, Z, 10.0, impl="cuda")


def case_kernel_block_size_zero(tmp_path):
    from jclip import kernels

    kernels.contrastive_loss(Z, Z, 10.0, block_size=0)


# --- metrics --------------------------------------------------------------------------------
def case_accuracy_k_zero(tmp_path):
    metrics.accuracy(jnp.ones((3, 4)), jnp.array([0, 1, 2]), k=0)


def case_accuracy_k_beyond_classes(tmp_path):
    metrics.accuracy(jnp.ones((3, 4)), jnp.array([0, 1, 2]), k=9)


def case_accuracy_labels_out_of_range(tmp_path):
    metrics.accuracy(jnp.ones((3, 4)), jnp.array([0, 1, 7]))


def case_accuracy_empty(tmp_path):
    metrics.accuracy(jnp.ones((0, 4)), jnp.array([], jnp.int32))


def case_accuracy_float_labels(tmp_path):
    metrics.accuracy(jnp.ones((3, 4)), jnp.array([0.0, 1.0, 2.0]))


def case_auroc_empty(tmp_path):
    metrics.auroc(jnp.array([]), jnp.array([1.0, 2.0]))


def case_fpr_at_tpr_above_one(tmp_path):
    metrics.fpr_at_tpr(jnp.array([1.0, 2.0]), jnp.array([0.0, 1.0]), tpr=1.5)


def case_ece_zero_bins(tmp_path):
    metrics.expected_calibration_error(PROBS, jnp.array([0, 1, 2]), n_bins=0)


def case_reliability_diagram_zero_bins(tmp_path):
    metrics.reliability_diagram(PROBS, jnp.array([0, 1, 2]), n_bins=0)


def case_vendi_negative_order(tmp_path):
    metrics.vendi_score(jnp.ones((5, 3)), q=-1)


def case_vendi_unknown_kernel(tmp_path):
    metrics.vendi_score(jnp.ones((5, 3)), kernel="poly")


def case_rke_zero_sigma(tmp_path):
    metrics.rke_mode_count(jnp.ones((5, 3)), sigma=0.0)


def case_cmmd_dimension_mismatch(tmp_path):
    metrics.cmmd(jnp.ones((5, 3)), jnp.ones((5, 4)))


def case_clip_score_negative_weight(tmp_path):
    metrics.clip_score(Z, Z, w=-1)


def case_clip_score_nan_embeddings(tmp_path):
    metrics.clip_score(Z.at[0, 0].set(jnp.nan), Z)


def case_clip_score_unpaired(tmp_path):
    metrics.clip_score(Z, Z[:2])


# --- tokenizer ------------------------------------------------------------------------------
def case_word_tokenizer_context_zero(tmp_path):
    jclip.tokenizer.WordTokenizer(["a"], context_length=0)


def case_word_tokenizer_unknown_word(tmp_path):
    jclip.tokenizer.WordTokenizer(["a", "cat"], context_length=8)(["a dog"])


def case_tokenizer_given_none(tmp_path):
    jclip.tokenizer.WordTokenizer(["a", "cat"], context_length=8)(None)


def case_tokenizer_given_ints(tmp_path):
    jclip.tokenizer.WordTokenizer(["a", "cat"], context_length=8)([1, 2])


def case_truncated_bpe_gz(tmp_path):
    path = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    path.write_bytes(gzip.compress(b"#version\na b\nc d\n" * 50)[:40])
    jclip.Tokenizer.from_bpe_file(path)


def case_truncated_vocab_json(tmp_path):
    (tmp_path / "vocab.json").write_text('{"a": 1, "<|star')
    (tmp_path / "merges.txt").write_text("#version\na b\n")
    jclip.Tokenizer.from_pretrained(tmp_path)


def case_truncated_merges_txt(tmp_path):
    vocab = {"a": 0, "c": 1, "<|startoftext|>": 2, "<|endoftext|>": 3}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_bytes(b"#version\na b\nc")
    jclip.Tokenizer.from_pretrained(tmp_path)


def case_truncated_tokenizer_json(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "BPE", "vo')
    jclip.Tokenizer.from_pretrained(tmp_path)


# --- preprocessing and models ---------------------------------------------------------------
def case_preprocess_unknown_model(tmp_path):
    jclip.preprocess(np.zeros((8, 8, 3), np.uint8), "ViT-Q-99")


def case_preprocess_rank_five(tmp_path):
    jclip.preprocess(np.zeros((2, 8, 8, 3, 1), np.uint8), "tiny-clip")


def case_preprocess_empty_image(tmp_path):
    jclip.preprocess(np.zeros((0, 8, 3), np.uint8), "tiny-clip")


def case_create_model_unknown_preset(tmp_path):
    jclip.create_model("ViT-Q-99")


def case_create_model_heads_not_dividing_width(tmp_path):
    jclip.create_model(jclip.ModelConfig(vision_width=30, vision_heads=4))


def case_load_missing_path(tmp_path):
    jclip.load(str(tmp_path / "nothing"))


def case_load_empty_folder(tmp_path):
    jclip.load(str(tmp_path))


# --- heads ----------------------------------------------------------------------------------
def case_encode_images_batch_size_zero(tmp_path):
    from jclip.heads import zeroshot

    model, params, _ = _tiny()
    zeroshot.encode_images(model, params, np.zeros((3, 32, 32, 3), np.float32), batch_size=0)


def case_encode_prompts_batch_size_zero(tmp_path):
    from jclip.heads import zeroshot

    model, params, tok = _tiny()
    zeroshot.encode_prompts(model, params, tok, ["circle"], ["a {}"], batch_size=0)


def case_classifier_without_templates(tmp_path):
    from jclip.heads import zeroshot

    model, params, tok = _tiny()
    zeroshot.build_classifier(model, params, tok, ["circle"], [])


def case_template_without_slot(tmp_path):
    from jclip.heads import zeroshot

    model, params, tok = _tiny()
    zeroshot.build_classifier(model, params, tok, ["circle", "square"], ["a photo"])


# --- data -----------------------------------------------------------------------------------
def case_shapes_count_beyond_number_words(tmp_path):
    from jclip.data import shapes

    shapes.resolve_options("counting", max_count=99)


def case_pairs_missing_captions_file(tmp_path):
    from jclip.data import pairs

    pairs.read_captions(str(tmp_path / "nope.jsonl"))


def case_pairs_damaged_json_line(tmp_path):
    from jclip.data import pairs

    (tmp_path / "c.jsonl").write_text('{"image": "a.png", "caption": "x"}\n{bad\n')
    pairs.read_captions(str(tmp_path / "c.jsonl"))


def case_pairs_wrong_keys(tmp_path):
    from jclip.data import pairs

    (tmp_path / "c.jsonl").write_text('{"img": "a.png", "caption": "x"}\n')
    pairs.read_captions(str(tmp_path / "c.jsonl"))


def case_pairs_csv_without_rows(tmp_path):
    from jclip.data import pairs

    (tmp_path / "c.csv").write_text("a.png,x\n")
    pairs.read_captions(str(tmp_path / "c.csv"))


# --- the evaluation runner ------------------------------------------------------------------
def _evaluate(tasks, **kw):
    from jclip import evals

    model, params, tok = _tiny()
    return evals.evaluate(model, params, tok, tasks, **kw)


SCENES = {"type": "zeroshot_classification", "dataset": "jclip_shapes/attributes",
          "data": {"label": "shape", "num_examples": 8}}


def case_evaluate_batch_size_zero(tmp_path):
    _evaluate([SCENES], batch_size=0)


def case_evaluate_unknown_task(tmp_path):
    _evaluate([{**SCENES, "type": "zeroshot_foo"}])


def case_evaluate_misspelt_key(tmp_path):
    _evaluate([{**SCENES, "recal_k": [1]}])


def case_evaluate_zero_examples(tmp_path):
    _evaluate([{**SCENES, "data": {"label": "shape", "num_examples": 0}}])


def case_evaluate_unknown_label(tmp_path):
    _evaluate([{**SCENES, "data": {"label": "weight", "num_examples": 8}}])


def case_retrieval_recall_at_zero(tmp_path):
    _evaluate([{"type": "zeroshot_retrieval", "dataset": "jclip_shapes/counting",
                "data": {"num_examples": 8}, "recall_k": [0]}])


# --- the trainer's config -------------------------------------------------------------------
def _check(**fields):
    from jclip.train import config as config_lib
    from jclip.train.config import ConfigError  # noqa: F401 (the expected type)

    config, _ = config_lib.parse_args(["--config", MICRO]
                                      + [f"--config.{k}={v}" for k, v in fields.items()])
    config_lib.check_config(config, num_devices=8)


def case_train_batch_size_zero(tmp_path):
    _check(batch_size=0)


def case_train_log_every_zero(tmp_path):
    _check(log_every=0)


def case_train_keep_no_checkpoints(tmp_path):
    _check(keep_checkpoints=0)


def case_train_negative_eval_every(tmp_path):
    _check(eval_every=-5)


def case_train_accum_steps_zero(tmp_path):
    _check(**{"optim.accum_steps": 0})


def case_train_negative_warmup(tmp_path):
    _check(**{"optim.warmup_steps": -1})


def case_train_negative_weight_decay(tmp_path):
    _check(**{"optim.weight_decay": -1.0})


def case_train_unknown_loss(tmp_path):
    _check(**{"loss.name": "infonce"})


def case_train_mesh_not_matching_devices(tmp_path):
    _check(**{"mesh.fsdp": 3})


def case_train_unknown_data_type(tmp_path):
    from jclip.train import config as config_lib

    config, _ = config_lib.parse_args(["--config", MICRO])
    config.data.type = "tfrecords"
    config_lib.check_config(config, num_devices=8)


def _config_error():
    from jclip.train.config import ConfigError

    return ConfigError


CASES = [
    (case_clip_loss_empty_batch, ValueError, "zimg is empty"),
    (case_clip_loss_batch_mismatch, ValueError, "batch sizes differ: zimg has B=4 .* ztxt has B=3"),
    (case_clip_loss_negative_scale, ValueError, "scale must be > 0, got -1.0"),
    (case_clip_loss_rank_one, ValueError, "zimg must have rank 2"),
    (case_siglip_unknown_strategy, ValueError, "strategy must be one of .* got 'foo'"),
    (case_kernel_empty_batch, ValueError, "zimg is empty"),
    (case_kernel_unknown_impl, ValueError, "impl must be one of .* got 'cuda'"),
    (case_kernel_block_size_zero, ValueError, "block_size must be >= 1, got 0"),
    (case_accuracy_k_zero, ValueError, "k must be a positive int, got 0"),
    (case_accuracy_k_beyond_classes, ValueError, "top-9 accuracy needs more than 9 classes, got 4"),
    (case_accuracy_labels_out_of_range, ValueError, "labels must lie in \\[0, 4\\)"),
    (case_accuracy_empty, ValueError, "logits is empty"),
    (case_accuracy_float_labels, TypeError, "labels must be integer class ids"),
    (case_auroc_empty, ValueError, "scores_pos is empty"),
    (case_fpr_at_tpr_above_one, ValueError, "tpr must lie in \\(0, 1\\], got 1.5"),
    (case_ece_zero_bins, ValueError, "n_bins must be a positive int, got 0"),
    (case_reliability_diagram_zero_bins, ValueError, "n_bins must be a positive int, got 0"),
    (case_vendi_negative_order, ValueError, "Vendi order q must lie in \\(0, inf\\]"),
    (case_vendi_unknown_kernel, ValueError, "kernel must be 'cosine' or 'gaussian', got 'poly'"),
    (case_rke_zero_sigma, ValueError, "sigma must be a positive finite number, got 0.0"),
    (case_cmmd_dimension_mismatch, ValueError, "same feature dimension, got 3 and 4"),
    (case_clip_score_negative_weight, ValueError, "w must be a positive finite number, got -1"),
    (case_clip_score_nan_embeddings, ValueError, "zimg contains 1 NaN or inf"),
    (case_clip_score_unpaired, ValueError, "must pair up row by row"),
    (case_word_tokenizer_context_zero, ValueError, "context_length must be >= 2"),
    (case_word_tokenizer_unknown_word, KeyError, "not in the vocabulary.*'dog'"),
    (case_tokenizer_given_none, TypeError, "Expected a str or a list of str, got NoneType"),
    (case_tokenizer_given_ints, TypeError, "item 0 is int"),
    (case_truncated_bpe_gz, ValueError, "bpe_simple_vocab_16e6.txt.gz is truncated or corrupt"),
    (case_truncated_vocab_json, ValueError, "vocab.json is truncated or corrupt"),
    (case_truncated_merges_txt, ValueError, "merges.txt: expected merge lines 'a b', got 'c'"),
    (case_truncated_tokenizer_json, ValueError, "tokenizer.json is truncated or corrupt"),
    (case_preprocess_unknown_model, ValueError, "Unknown model preset 'ViT-Q-99'"),
    (case_preprocess_rank_five, ValueError, "got shape \\(2, 8, 8, 3, 1\\)"),
    (case_preprocess_empty_image, ValueError, "empty image of shape \\(0, 8, 3\\)"),
    (case_create_model_unknown_preset, ValueError, "Unknown model preset 'ViT-Q-99'"),
    (case_create_model_heads_not_dividing_width, ValueError,
     "vision_width 30 is not divisible by vision_heads 4"),
    (case_load_missing_path, FileNotFoundError, "is neither a local file or folder nor a hub id"),
    (case_load_empty_folder, FileNotFoundError, "holds no checkpoint jclip can read"),
    (case_encode_images_batch_size_zero, ValueError, "batch_size must be positive, got 0"),
    (case_encode_prompts_batch_size_zero, ValueError, "batch_size must be a positive int, got 0"),
    (case_classifier_without_templates, ValueError, "at least one class name and one template"),
    (case_template_without_slot, ValueError, "template 'a photo'.*'\\{\\}' slot"),
    (case_shapes_count_beyond_number_words, ValueError, "max_count <= 16, got .* max_count=99"),
    (case_pairs_missing_captions_file, FileNotFoundError, "nope.jsonl does not exist"),
    (case_pairs_damaged_json_line, ValueError, "c.jsonl, line 2 is not a JSON object"),
    (case_pairs_wrong_keys, ValueError, "row 0: expected keys 'image' and 'caption'"),
    (case_pairs_csv_without_rows, ValueError, "c.csv has no rows"),
    (case_evaluate_batch_size_zero, ValueError, "batch_size must be a positive int, got 0"),
    (case_evaluate_unknown_task, ValueError, "unknown task type 'zeroshot_foo'; known tasks"),
    (case_evaluate_misspelt_key, TypeError, "unknown key\\(s\\) \\['recal_k'\\]"),
    (case_evaluate_zero_examples, ValueError, "num_examples must be a positive int, got 0"),
    (case_evaluate_unknown_label, ValueError, "has labels .* got label='weight'"),
    (case_retrieval_recall_at_zero, ValueError, "ks must be positive ints, got \\(0,\\)"),
    (case_train_batch_size_zero, ValueError, "config.batch_size must be a positive int, got 0"),
    (case_train_log_every_zero, ValueError, "config.log_every .* must be an int >= 1, got 0"),
    (case_train_keep_no_checkpoints, ValueError, "config.keep_checkpoints .* >= 1, got 0"),
    (case_train_negative_eval_every, ValueError, "config.eval_every .* >= 0, got -5"),
    (case_train_accum_steps_zero, ValueError, "config.optim.accum_steps .* >= 1, got 0"),
    (case_train_negative_warmup, ValueError, "config.optim.warmup_steps .* >= 0, got -1"),
    (case_train_negative_weight_decay, ValueError, "config.optim.weight_decay must be .* >= 0"),
    (case_train_unknown_loss, ValueError, "Unknown loss config.loss.name='infonce'"),
    (case_train_mesh_not_matching_devices, ValueError, "config.mesh.fsdp=3 does not divide"),
    (case_train_unknown_data_type, ValueError, "Unknown config.data.type='tfrecords'"),
]


@pytest.mark.parametrize("case, error, match", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_bad_input_is_named(tmp_path, case, error, match):
    with pytest.raises(error, match=match):
        case(tmp_path)


def test_trainer_config_errors_are_config_errors():
    """The trainer's config problems are ``ConfigError`` (a ValueError): exit code 2."""
    with pytest.raises(_config_error()):
        case_train_log_every_zero(None)
