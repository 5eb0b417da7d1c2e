"""The counting loss in the trainer: the masked term against numpy (Paiss et al. eq. 2) and
the unmasked loss, counterfactual fields from every data source, the missing-number policy,
(a mixed-scenes training run with the term: tests/test_experiments_counting.py)."""

import ml_collections
import numpy as np
import pytest

from jclip import losses
from jclip.data import counterfactual as cf_lib
from jclip.train import counting, sources
from tests.helpers.files import write_classes, write_shards, write_train_pairs
from tests.helpers.models import any_text_tokenizer, micro_fixture  # noqa: F401


def _unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def masked_counting_np(x, t, c, scale, mask):
    """Paiss et al. 2023 eq. 2 in float64 over the masked rows:
    -mean_{i: m_i=1} log[e^{s x.t} / (e^{s x.t} + e^{s x.cf})]."""
    x, t, c = (np.asarray(a, np.float64) for a in (x, t, c))
    rows = [i for i in range(len(x)) if mask[i]]
    if not rows:
        return 0.0
    terms = []
    for i in rows:
        pos, neg = scale * x[i] @ t[i], scale * x[i] @ c[i]
        terms.append(-(pos - np.logaddexp(pos, neg)))
    return float(np.mean(terms))


def test_masked_counting_loss_matches_numpy_and_the_unmasked_loss():
    import jax

    rng = np.random.default_rng(0)
    x, t, c = _unit(rng, 12, 8), _unit(rng, 12, 8), _unit(rng, 12, 8)
    mask = (rng.random(12) < 0.5).astype(np.float32)
    got, rows = jax.jit(counting.masked_counting_loss)(x, t, c, 20.0, mask)
    assert float(rows) == mask.sum()
    assert float(got) == pytest.approx(masked_counting_np(x, t, c, 20.0, mask), rel=1e-5)
    ones, _ = counting.masked_counting_loss(x, t, c, 20.0, np.ones(12))
    assert float(ones) == pytest.approx(float(losses.counting_loss(x, t, c, 20.0)), rel=1e-6)
    none, rows = counting.masked_counting_loss(x, t, c, 20.0, np.zeros(12))
    assert float(none) == 0.0 and float(rows) == 0
    # Masked rows get no gradient.
    g = jax.grad(lambda a: counting.masked_counting_loss(a, t, c, 20.0, mask)[0])(x)
    assert np.all(np.asarray(g)[mask == 0] == 0) and np.any(np.asarray(g)[mask == 1] != 0)


def test_counterfactuals_mask_or_raise_for_captions_without_a_number():
    caps = ["a photo of two dogs", "a cat on a mat", "3 kids"]
    opts = counting.options(ml_collections.ConfigDict({}))
    texts, mask = counting.counterfactuals(caps, np.random.default_rng(0), opts)
    assert mask.tolist() == [1, 0, 1] and texts[1] == caps[1]
    assert cf_lib.find_numbers(texts[0])[0].value != 2 and texts[0] != caps[0]
    strict = counting.options(ml_collections.ConfigDict({"counterfactual": {"missing": "error"}}))
    with pytest.raises(ValueError, match="'a cat on a mat' states no number"):
        counting.counterfactuals(caps, np.random.default_rng(0), strict)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfdata")
    return {"pairs": dict(type="pairs", path=write_train_pairs(root / "pairs")),
            "wds": dict(type="wds", path=write_shards(root / "wds")),
            "classification": dict(type="classification", path=write_classes(root / "cls"),
                                   templates=("a photo of a {}", "a photo of two {}s"))}


def _counterfactual_batches(micro, tokenizer=None, **data):
    config, model, word_tokenizer = micro
    tokenizer = tokenizer or word_tokenizer
    config = ml_collections.ConfigDict(config.to_dict())
    config.batch_size = 8
    config.data = ml_collections.ConfigDict(data)
    return sources.make_batches(config, tokenizer, model.config, counterfactual=True)


@pytest.mark.parametrize("kind", ["pairs", "wds", "classification"])
def test_file_sources_carry_counterfactuals_and_a_mask(micro, data, kind):
    batches = _counterfactual_batches(micro, **data[kind],
                                      counterfactual=dict(counts=(1, 2, 3, 4)))
    a, b = batches.batch(1), batches.batch(1)
    assert a["tokens_counterfactual"].shape == a["tokens"].shape
    np.testing.assert_array_equal(a["tokens_counterfactual"], b["tokens_counterfactual"])
    numbered = a["count_mask"] == 1
    assert 0 < numbered.sum() < len(numbered)  # the test data mix captions with / without
    assert np.all(np.any(a["tokens_counterfactual"] != a["tokens"], 1) == numbered)


def test_tfds_source_carries_counterfactuals(micro):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=16):
        batches = _counterfactual_batches(micro, any_text_tokenizer, type="classification",
                                          tfds_name="cifar10",
                                          shuffle_buffer=16, templates=("three {}s",))
        a = batches.batch(0)
    assert a["count_mask"].tolist() == [1.0] * 8
    assert np.all(np.any(a["tokens_counterfactual"] != a["tokens"], 1))


def test_missing_error_policy_raises_in_a_source(micro, data):
    batches = _counterfactual_batches(micro, **data["pairs"],
                                      counterfactual=dict(missing="error"))
    with pytest.raises(ValueError, match="states no number"):
        batches.batch(0)


def test_masked_term_under_shard_map_equals_one_device():
    """The masked term on a (4, 2) mesh of 8 CPU devices: the loss, counting_rows and the
    gradients of one device (a gradient N times too large would fail)."""
    import jax

    import jclip
    from jclip.train import sharding, state
    from jclip.train import step as step_lib
    from tests.helpers.sharded_step import (
        CONFIGS,
        B,
        jitted_value_and_grad,
        loss_config,
        random_tokens,
    )

    if jax.device_count() < 8:
        pytest.skip("needs 8 devices (tests/conftest.py)")
    rng = np.random.default_rng(0)
    mask = np.zeros(B, np.float32)
    mask[[0, 3, 4, 9, 15]] = 1  # rows on several devices, some devices with none
    batch = {"image": rng.normal(size=(B, 32, 32, 3)).astype(np.float32),
             "tokens": random_tokens(rng, B), "tokens_counterfactual": random_tokens(rng, B),
             "count_mask": mask}
    model = jclip.create_model(CONFIGS["clip"])
    params = jax.jit(lambda r: state.init_params(model, r))(jax.random.PRNGKey(1))
    config = loss_config("clip", counting_weight=1.0)
    ((ref, ref_aux), ref_g), = jitted_value_and_grad([step_lib.make_loss_fn(config, model)],
                                                     params, batch)
    mesh = sharding.make_mesh(4, 2)
    ((loss, aux), grads), = jitted_value_and_grad(
        [step_lib.make_loss_fn(config, model, mesh=mesh)], params, batch, mesh)
    assert float(ref_aux["counting_rows"]) == float(aux["counting_rows"]) == 5
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)
    assert float(aux["counting_loss"]) == pytest.approx(float(ref_aux["counting_loss"]),
                                                        rel=1e-5)
    flat_ref, flat = jax.tree.leaves(ref_g), jax.tree.leaves(grads)
    scale = max(float(np.max(np.abs(r))) for r in flat_ref)
    for g, r in zip(flat, flat_ref):
        assert float(np.max(np.abs(np.asarray(g, np.float64) - r))) <= 1e-5 * scale
