"""OrdinalCLIP against its reference code's formulas (xk-huang/OrdinalCLIP, in PyTorch):
interpolation weights, the text->image KL, CE, predictions; and a fit that lowers the loss."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jclip.heads import ordinalclip, prompt_learning
from jclip.ops import l2_normalize
from tests.helpers.models import tiny_model


def _reference_weights(num_ranks, num_base):
    # RankPromptLearner.create_interpolation_weights, "linear"
    w = torch.arange(num_ranks)[..., None].repeat(1, num_base).to(torch.float64)
    if num_base == 1:
        base = torch.linspace(0, num_ranks - 1, 3)[1:2].to(torch.float64)
    else:
        base = torch.linspace(0, num_ranks - 1, num_base).to(torch.float64)
    w = 1.0 - torch.abs(w - base[None]) / (num_ranks - 1)
    return (w / w.sum(dim=-1, keepdim=True)).numpy()


def _reference_kl(logits, y, num_ranks):
    # Runner.compute_kl_loss
    logits, y = torch.tensor(logits, dtype=torch.float64), torch.tensor(y)
    y_t = F.one_hot(y, num_ranks).t()
    row = y_t.sum(-1) > 0
    target = (y_t * 10.0).softmax(-1)
    target[row <= 0] = 0
    kl = torch.nn.KLDivLoss(reduction="sum")(F.log_softmax(logits.t(), dim=-1), target)
    return float(kl / row.sum())


@pytest.mark.parametrize("num_ranks, num_base", [(5, 3), (10, 2), (7, 1), (101, 5), (2, 2)])
def test_interpolation_weights_match_the_reference(num_ranks, num_base):
    np.testing.assert_allclose(ordinalclip.interpolation_weights(num_ranks, num_base),
                               _reference_weights(num_ranks, num_base), rtol=0, atol=1e-6)


def test_losses_and_predictions_match_the_reference():
    rng = np.random.default_rng(0)
    for num_ranks, batch in ((5, 16), (9, 7)):
        logits = rng.normal(scale=3, size=(batch, num_ranks)).astype(np.float32)
        y = rng.integers(0, num_ranks, batch)
        y[0] = 0  # at least one rank absent in the small batch, one present
        kl = ordinalclip.rank_kl(jnp.asarray(logits), jnp.asarray(y), num_ranks)
        np.testing.assert_allclose(float(kl), _reference_kl(logits, y, num_ranks), rtol=1e-5)
        ce = F.cross_entropy(torch.tensor(logits, dtype=torch.float64), torch.tensor(y))
        np.testing.assert_allclose(float(ordinalclip.loss(jnp.asarray(logits), jnp.asarray(y),
                                                          num_ranks)),
                                   float(ce) + _reference_kl(logits, y, num_ranks), rtol=1e-5)
        am, ex = ordinalclip.predict(logits)
        p = torch.tensor(logits, dtype=torch.float64).softmax(-1)
        np.testing.assert_allclose(ex, (p * torch.arange(num_ranks)).sum(-1).numpy(), rtol=1e-5)
        np.testing.assert_array_equal(am, logits.argmax(1))


def test_fit_lowers_the_loss_and_orders_the_ranks():
    model, params, tok = tiny_model()
    prompts = prompt_learning.build_prompts(tok, ["object"] * 5, model.config, "a photo of a")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 120)
    a, b = rng.normal(size=(2, model.config.embed_dim))
    t = labels[:, None] / 4.0  # features move from a to b with the rank
    feats = np.asarray(l2_normalize(jnp.asarray((1 - t) * a + t * b + 0.05 * rng.normal(
        size=(120, model.config.embed_dim)), jnp.float32)))
    base = np.asarray(tok(["small", "medium", "large"]))[:, prompts.start]
    head, weights, history = ordinalclip.fit(model, params, prompts, feats, labels,
                                             num_base_ranks=3, steps=40, lr=0.05, seed=0,
                                             base_init=base)
    assert weights.shape == (5, 3)
    assert np.mean(history[-5:]) < 0.7 * np.mean(history[:5])
    _, expected = ordinalclip.predict(ordinalclip.logits_of(model, params, prompts, head,
                                                            weights, feats))
    from scipy.stats import spearmanr

    assert spearmanr(np.asarray(expected), labels).statistic > 0.5
