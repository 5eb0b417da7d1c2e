"""NumCLIP against its reference code's formulas (xmed-lab/NumCLIP runner_ssr.py /
regclip_ssr.py, in PyTorch): FCRC weights in the CE and the KL, the fine regression stage, the
adapter, the bins; and a fit that lowers the loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jclip.heads import numclip, prompt_learning
from jclip.ops import l2_normalize
from tests.helpers.models import tiny_model


def _reference_ce(logits, y, d):
    # runner_ssr.compute_ce_dis_loss (on the CPU)
    target = torch.unsqueeze(torch.arange(d, dtype=torch.float64), 1)
    rows = []
    for i in range(len(y)):
        inv = torch.abs(y[i] - target).transpose(0, 1)
        norm = torch.squeeze(inv / torch.sum(inv, dim=1) * (d - 1), 0)
        norm[y[i]] = 1.0
        rows.append(norm.tolist())
    return F.cross_entropy(logits * torch.tensor(rows, dtype=torch.float64), y)


def _reference_kl(logits, y, d):
    # runner_ssr.compute_kl_dis_loss (on the CPU)
    y_t = F.one_hot(y, d).t()
    row = y_t.sum(-1) > 0
    target = (y_t * 10.0).softmax(-1)
    target[row <= 0] = 0
    logits_t = logits.t()
    y_column = torch.unsqueeze(y, 1)  # the reference writes y.T, a no-op on 1-D y
    rows = []
    for i in range(logits_t.shape[0]):
        if row[i] > 0:
            inv = torch.abs(i - y_column).transpose(0, 1)
            norm = torch.squeeze(inv / torch.sum(inv, dim=1) * (d - 1), 0).to(torch.float64)
            norm[y_t[i] == 1] = 1.0
        else:
            norm = torch.ones(logits_t.shape[1], dtype=torch.float64)
        rows.append(norm.tolist())
    weighted = logits_t * torch.tensor(rows, dtype=torch.float64)
    kl = torch.nn.KLDivLoss(reduction="sum")(F.log_softmax(weighted, dim=-1), target)
    return kl / row.sum()


@pytest.mark.parametrize("d, batch", [(5, 16), (3, 9), (4, 30)])
def test_fcrc_losses_match_the_reference(d, batch):
    rng = np.random.default_rng(d)
    logits = rng.normal(scale=4, size=(batch, d))
    y = rng.integers(0, d - 1, batch)  # the last bin stays absent from the batch
    ce, kl = numclip.coarse_loss(jnp.asarray(logits, jnp.float32), jnp.asarray(y), d)
    lt, yt = torch.tensor(logits), torch.tensor(y)
    np.testing.assert_allclose(float(ce), float(_reference_ce(lt, yt, d)), rtol=1e-5)
    np.testing.assert_allclose(float(kl), float(_reference_kl(lt, yt, d)), rtol=1e-5)


def test_fine_stage_and_adapter_match_float64_formulas():
    rng = np.random.default_rng(0)
    d, n, dim = 3, 6, 8
    reg = {k: rng.normal(size=s) for k, s in
           (("w1", (d, 2 * d)), ("b1", (2 * d,)), ("w2", (2 * d, d)), ("b2", (d,)))}
    logits, values = rng.normal(size=(n, d)), np.array([1.5, 3.0, 4.5])
    got = numclip.regress({k: jnp.asarray(v, jnp.float32) for k, v in reg.items()},
                          jnp.asarray(logits, jnp.float32), values)
    # regclip_ssr.SSRModule.forward with stage_num[0] = d, lambda_delta = 1
    h = np.maximum(logits @ reg["w1"] + reg["b1"], 0)
    delta = np.tanh(h @ reg["w2"] + reg["b2"])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    want = sum(p[:, k] * (values[k] / (1 + delta[:, k])) for k in range(d))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    ad = {"w1": rng.normal(size=(dim, 2)), "w2": rng.normal(size=(2, dim))}
    f = rng.normal(size=(n, dim))
    y = np.maximum(np.maximum(f @ ad["w1"], 0) @ ad["w2"], 0)
    mix = 0.8 * y + 0.2 * f
    np.testing.assert_allclose(
        numclip.adapt({k: jnp.asarray(v, jnp.float32) for k, v in ad.items()},
                      jnp.asarray(f, jnp.float32)),
        mix / np.linalg.norm(mix, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_bins_and_bin_values():
    edges = (0.5, 2.5, 3.5, 5.5)
    np.testing.assert_array_equal(numclip.bin_index([0.5, 1, 2, 2.5, 3, 4, 5, 5.5], edges),
                                  [0, 0, 0, 1, 1, 2, 2, 2])
    np.testing.assert_allclose(numclip.bin_values(edges), [1.5, 3.0, 4.5])
    np.testing.assert_allclose(numclip.bin_values(edges, "lower"), [0.5, 2.5, 3.5])
    # the reference's age bins
    np.testing.assert_array_equal(numclip.bin_index([0, 12, 13, 18, 19, 34, 35, 64, 65, 100],
                                                    (0, 13, 19, 35, 65, 101)),
                                  [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])


def test_fit_lowers_the_loss():
    model, params, tok = tiny_model()
    prompts = prompt_learning.build_prompts(tok, ["small", "medium", "large"], model.config)
    rng = np.random.default_rng(1)
    values = rng.integers(1, 6, 120).astype(np.float64)
    a, b = rng.normal(size=(2, model.config.embed_dim))
    t = (values[:, None] - 1) / 4
    feats = np.asarray(l2_normalize(jnp.asarray((1 - t) * a + t * b + 0.05 * rng.normal(
        size=(120, model.config.embed_dim)), jnp.float32)))
    head, bv, history = numclip.fit(model, params, prompts, feats, values, (0.5, 2.5, 3.5, 5.5),
                                    steps=40, lr=0.05, seed=0)
    np.testing.assert_allclose(bv, [1.5, 3.0, 4.5])
    assert np.mean(history[-5:]) < 0.8 * np.mean(history[:5])
    _, pred = jax.jit(lambda p, h, x: numclip.forward(model, p, prompts, h, x, bv))(
        params, head, jnp.asarray(feats))
    assert np.mean(np.abs(np.asarray(pred) - values)) < np.mean(np.abs(values - values.mean()))
