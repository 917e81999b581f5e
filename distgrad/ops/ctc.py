"""The CTC loss's ops: torch's `_ctc_loss` (the negative log-likelihood of each batch element
by the alpha recursion in log space, and the log-alphas it keeps for the backward) and
`_ctc_loss_backward` (the beta recursion and the gradient w.r.t. the log-probabilities that
torch's CPU kernel computes, its zero_infinity and impossible-alignment behaviour included).

Both run per batch element, a numpy vector over the extended target's states at each time
step, in the log-probabilities' dtype and in torch's order of operations (a log of summed
exps around the larger term, the gradient's log-sums over the states folded in descending
order), so the values are torch's to the last bits of the float rounding.
"""
from __future__ import annotations

import numpy as np

from ..autograd.record import call
from .math import _not_implemented
from .table import Meta, defop


def _targets_of(targets, target_lengths, b: int) -> np.ndarray:
    """Batch element b's target labels: a row of the padded (N, S) targets, or its run of
    the concatenated 1-D ones."""
    n = target_lengths[b]
    if targets.ndim == 1:
        start = int(sum(target_lengths[:b]))
        return targets[start:start + n]
    return targets[b, :n]


def _extended(labels: np.ndarray, blank: int) -> tuple:
    """The extended target (blank, l1, blank, l2, ..., blank) and, for each state s, whether
    the state s - 2 may be skipped to it (it is a label unlike the one two before)."""
    primes = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    primes[1::2] = labels
    skip = np.zeros(len(primes), dtype=bool)
    skip[2:] = primes[2:] != primes[:-2]
    return primes, skip


def _log_sum3(a, b, c):
    """log(exp(a) + exp(b) + exp(c)) around the largest (0 where all are -inf), as torch's."""
    m = np.maximum(np.maximum(a, b), c)
    m = np.where(m == -np.inf, m.dtype.type(0), m)
    return np.log(np.exp(a - m) + np.exp(b - m) + np.exp(c - m)) + m


def _ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    """(neg_log_likelihood (N,), log_alpha (N, T, 2 * max target length + 1))."""
    T, N, _ = log_probs.shape
    dt = log_probs.dtype.type
    neginf = dt(-np.inf)
    width = 2 * (max(target_lengths) if N else 0) + 1
    log_alpha = np.full((N, T, width), neginf, dtype=log_probs.dtype)
    nll = np.empty(N, dtype=log_probs.dtype)
    with np.errstate(all="ignore"):
        for b in range(N):
            il, tl = input_lengths[b], target_lengths[b]
            if il == 0:
                nll[b] = -(dt(0) if tl == 0 else neginf)
                continue
            primes, skip = _extended(_targets_of(targets, target_lengths, b), blank)
            n = len(primes)
            lp = log_probs[:, b, :]
            la = log_alpha[b]
            la[0, 0] = lp[0, blank]
            if tl > 0:
                la[0, 1] = lp[0, primes[1]]
            pad = np.full(2, neginf, dtype=log_probs.dtype)
            for t in range(1, il):
                prev = la[t - 1, :n]
                la2 = np.concatenate([pad[:1], prev[:-1]])
                la3 = np.where(skip, np.concatenate([pad, prev[:-2]])[:n], neginf)
                la[t, :n] = _log_sum3(prev, la2, la3) + lp[t, primes]
            if tl == 0:
                nll[b] = -la[il - 1, 0]
            else:
                l1, l2 = la[il - 1, 2 * tl], la[il - 1, 2 * tl - 1]
                m = max(l1, l2)
                m = dt(0) if m == neginf else m
                nll[b] = -(np.log(np.exp(l1 - m) + np.exp(l2 - m)) + m)
    return nll, log_alpha


def _ctc_loss_backward(grad, log_probs, targets, nll, log_alpha, input_lengths, target_lengths,
                       blank, zero_infinity):
    """torch's ctc_loss_backward_cpu_template: the gradient w.r.t. log_probs (T, N, C)."""
    T, N, C = log_probs.shape
    dt = log_probs.dtype.type
    neginf = dt(-np.inf)
    out = np.full((T, N, C), neginf, dtype=log_probs.dtype)
    with np.errstate(all="ignore"):
        for b in range(N):
            if zero_infinity and nll[b] == np.inf:
                out[:, b, :] = 0
                continue
            il, tl = input_lengths[b], target_lengths[b]
            primes, skip = _extended(_targets_of(targets, target_lengths, b), blank)
            n = len(primes)
            lp = log_probs[:, b, :]
            la = log_alpha[b]
            g = out[:, b, :]  # (a view: written in place)
            if il > 0:
                lb = np.full((il, n), neginf, dtype=log_probs.dtype)
                lb[il - 1, 2 * tl] = lp[il - 1, blank]
                g[il - 1, blank] = la[il - 1, 2 * tl] + lb[il - 1, 2 * tl]
                if tl > 0:
                    prime = primes[2 * tl - 1]
                    lb[il - 1, 2 * tl - 1] = lp[il - 1, prime]
                    g[il - 1, prime] = la[il - 1, 2 * tl - 1] + lb[il - 1, 2 * tl - 1]
                # the beta recursion; s - 2 skips to s where s may be skipped to
                skip_from = np.zeros(n, dtype=bool)
                skip_from[:-2] = skip[2:]
                pad = np.full(2, neginf, dtype=log_probs.dtype)
                for t in range(il - 2, -1, -1):
                    nxt = lb[t + 1]
                    lb2 = np.concatenate([nxt[1:], pad[:1]])
                    lb3 = np.where(skip_from, np.concatenate([nxt[2:], pad])[:n], neginf)
                    lb[t] = _log_sum3(nxt, lb2, lb3) + lp[t, primes]
                if il > 1:
                    # sum over the states of alpha * beta per label, states in descending order
                    ab = la[:il - 1, :n] + lb[:il - 1]
                    acc = g[:il - 1]
                    for s in range(n - 1, -1, -1):
                        c, x = primes[s], ab[:, s]
                        cur = acc[:, c]
                        m = np.maximum(cur, x)
                        acc[:, c] = np.where(cur == neginf, x,
                                             np.log(np.exp(cur - m) + np.exp(x - m)) + m)
            rows = lp[:il]
            g[:il] = (np.exp(rows) - np.exp(g[:il] + nll[b] - rows)) * grad[b]
            g[il:] = 0
    return out


def _ctc_rule(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    T, N, _ = log_probs.shape
    width = 2 * (max(target_lengths) if N else 0) + 1
    return Meta((N,), log_probs.dtype), Meta((N, T, width), log_probs.dtype)


def _ctc_vjp(c, g, _g_alpha=None):
    return (call("ctc_loss_backward", g, c[0], c[1], c.outs[0], c.outs[1], **c.attrs), None)


defop("ctc_loss", _ctc_loss, _ctc_rule, _ctc_vjp, node="CtcLossBackward0", save=(0, 1),
      save_out=True, n_out=2, nondiff_outputs=(1,), differentiable=(0,),
      params=("log_probs", "targets"))
defop("ctc_loss_backward", _ctc_loss_backward,
      lambda grad, log_probs, targets, nll, log_alpha, **attrs: Meta(log_probs.shape,
                                                                    log_probs.dtype),
      _not_implemented("_ctc_loss_backward"), node="torch::autograd::NotImplemented",
      differentiable=(0, 1, 3, 4),
      params=("grad", "log_probs", "targets", "neg_log_likelihood", "log_alpha"))
