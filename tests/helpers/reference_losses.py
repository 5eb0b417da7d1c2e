"""Float64 numpy references of the jclip losses, written from the papers' formulas with loops.

Independent of jclip's jax code (nothing shared with it); also used to check the kernels.
All inputs are converted to float64; every function returns a Python float.
"""

import math

import numpy as np


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def _logsumexp(values):
    values = [v for v in values]
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def clip_logits_np(zimg, ztxt, scale):
    """l_ij = scale * <zimg_i, ztxt_j>, [B, B] float64."""
    zimg, ztxt = _f64(zimg, ztxt)
    return float(scale) * zimg @ ztxt.T


def clip_loss_np(zimg, ztxt, scale, label_smoothing=0.0):
    """Radford et al. 2021: mean of the image->text and text->image cross-entropies.

    Smoothed target (1 - eps) one-hot + eps / B.
    """
    logits = clip_logits_np(zimg, ztxt, scale)
    b = logits.shape[0]
    eps = float(label_smoothing)
    total = 0.0
    for mat in (logits, logits.T):
        for i in range(b):
            lse = _logsumexp(mat[i])
            for j in range(b):
                target = (1.0 - eps) * (i == j) + eps / b
                total -= target * (mat[i, j] - lse)
    return total / (2 * b)


def siglip_loss_np(zimg, ztxt, scale, bias):
    """Zhai et al. 2023: -(1/B) sum_ij log sigmoid(s_ij (scale <x_i, y_j> + bias))."""
    logits = clip_logits_np(zimg, ztxt, scale) + float(bias)
    b = logits.shape[0]
    total = 0.0
    for i in range(b):
        for j in range(b):
            z = (1.0 if i == j else -1.0) * logits[i, j]
            # -log sigmoid(z) = log(1 + exp(-z)), evaluated without overflow.
            total += math.log1p(math.exp(-z)) if z >= 0 else -z + math.log1p(math.exp(z))
    return total / b


def hopfield_retrieval_np(state, stored, beta):
    """ret(xi, M) = normalize(softmax(beta xi M^T) M), row by row."""
    state, stored = _f64(state, stored)
    out = np.zeros_like(state)
    for i in range(state.shape[0]):
        scores = [float(beta) * float(state[i] @ stored[j]) for j in range(stored.shape[0])]
        lse = _logsumexp(scores)
        weights = np.array([math.exp(s - lse) for s in scores])
        r = weights @ stored
        out[i] = r / np.linalg.norm(r)
    return out


def info_loob_np(a, b, inv_tau):
    """(1/inv_tau) mean_i [-inv_tau a_i.b_i + logsumexp_{j != i} inv_tau a_i.b_j]."""
    a, b = _f64(a, b)
    n = a.shape[0]
    total = 0.0
    for i in range(n):
        k = [float(inv_tau) * float(a[i] @ b[j]) for j in range(n)]
        total += -k[i] + _logsumexp([k[j] for j in range(n) if j != i])
    return total / n / float(inv_tau)


def cloob_loss_np(zimg, ztxt, inv_tau, hopfield_beta):
    """Fürst et al. 2022: InfoLOOB(U_x, U_y) + InfoLOOB(V_y, V_x)."""
    x, y = _f64(zimg, ztxt)
    u_x = hopfield_retrieval_np(x, x, hopfield_beta)
    u_y = hopfield_retrieval_np(y, x, hopfield_beta)
    v_x = hopfield_retrieval_np(x, y, hopfield_beta)
    v_y = hopfield_retrieval_np(y, y, hopfield_beta)
    return info_loob_np(u_x, u_y, inv_tau) + info_loob_np(v_y, v_x, inv_tau)


def cwcl_loss_np(zimg, ztxt, scale, zref):
    """Srinivasa et al. 2023: soft targets w_ij = (1 + <r_i, r_j>)/2, row-normalised, both ways."""
    logits = clip_logits_np(zimg, ztxt, scale)
    (zref,) = _f64(zref)
    b = logits.shape[0]
    w = np.array([[(1.0 + float(zref[i] @ zref[j])) / 2.0 for j in range(b)] for i in range(b)])
    total = 0.0
    for mat in (logits, logits.T):
        for i in range(b):
            lse = _logsumexp(mat[i])
            row_weight = sum(w[i])
            for j in range(b):
                total -= w[i, j] / row_weight * (mat[i, j] - lse)
    return total / (2 * b)


def distill_loss_np(student_logits, teacher_logits, temperature=1.0):
    """Soft cross-entropy to softmax(teacher / T), over rows and over columns, averaged."""
    s, t = _f64(student_logits, teacher_logits)
    s, t = s / float(temperature), t / float(temperature)
    result = 0.0
    for ss, tt in ((s, t), (s.T, t.T)):
        total = 0.0
        for i in range(ss.shape[0]):
            lse_s, lse_t = _logsumexp(ss[i]), _logsumexp(tt[i])
            for j in range(ss.shape[1]):
                total -= math.exp(tt[i, j] - lse_t) * (ss[i, j] - lse_s)
        result += total / ss.shape[0] / 2
    return result


def counting_loss_np(zimg, ztxt, ztxt_counterfactual, scale):
    """Paiss et al. 2023: -mean_i log[e^{s x.t} / (e^{s x.t} + e^{s x.t_cf})]."""
    x, t, cf = _f64(zimg, ztxt, ztxt_counterfactual)
    total = 0.0
    for i in range(x.shape[0]):
        pos = float(scale) * float(x[i] @ t[i])
        neg = float(scale) * float(x[i] @ cf[i])
        total -= pos - _logsumexp([pos, neg])
    return total / x.shape[0]
