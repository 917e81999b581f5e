"""Sharding rules of the layer ops, Megatron's way (registered into sharding.RULES).

    embedding        vocabulary-parallel: the table split by rows, each worker looks up the
                     indices it owns (zeros elsewhere), one all-reduce; or batch-sharded
                     indices with a whole (replicated) table
    layer_norm       on replicated activations each worker normalises its own copy; on
                     activations sharded on a dim it does not normalise, each shard alone
    attention        q, k, v sharded on a batch or head dim: each worker attends its heads
    batch            convolution and pooling on a batch sharded on dim 0; a convolution with
                     its output channels split (weight sharded on dim 0) gives channel shards
    class_softmax    (log_)softmax over the sharded dim (sharded_softmax.py): x - logsumexp(x),
                     logsumexp combining per-worker partial results of shape [..., 1]
    class_loss       nll_loss with the classes sharded: each worker picks the targets it
                     owns, one all-reduce of the per-row picks (vocabulary-parallel
                     cross-entropy with the softmax above: the logits are never gathered)

Each rule returns NotImplemented for the layouts it does not cover; those fall back.
"""
from __future__ import annotations

from ..autograd import grad_mode, record
from ..autograd.graph import savable
from .sharded_softmax import class_softmax
from .sharding import (RULES, Replicate, Shard, _all_reduce, _local_part, _on_replicas,
                       _replica_on, _wrap, is_sharded)


def _placement(t):
    return t._sharding.placement if is_sharded(t) else None


def _whole(t) -> bool:
    """A plain tensor, a number, None or a replicated tensor: the same on every worker."""
    return not isinstance(_placement(t), Shard)


def _row_ranges(sizes):
    start = 0
    for n in sizes:
        yield start, n
        start += n


def _owned(indices, start: int, n: int):
    """(indices - start with the rows another worker owns set to 0, mask of those rows)."""
    local = indices - start
    outside = (local < 0).logical_or(local >= n)
    return local.masked_fill(outside, 0), outside


# ---- embedding -----------------------------------------------------------------------------------

def _embedding(name, inputs, attrs):
    weight, indices = inputs
    pw, pi = _placement(weight), _placement(indices)
    # (a table's rows over the workers: an index another worker owns picks a local row, so
    # counting how often each row is picked, scale_grad_by_freq, takes the whole table)
    if (isinstance(pw, Shard) and pw.dim == 0 and _whole(indices)
            and not attrs.get("scale_grad_by_freq")):
        s = weight._sharding
        padding = attrs.get("padding_idx", -1)
        if weight.requires_grad and grad_mode.is_grad_enabled() and indices.is_inference():
            savable(indices)  # (torch's node saves the indices: the parts save their own)
        parts = []
        for (start, n), table, w in zip(_row_ranges(s.sizes), s.shards, s.workers):
            local, outside = _owned(_replica_on(indices, w), start, n)
            pad = padding - start if 0 <= padding - start < n else -1
            rows = record.call("embedding", table, local, padding_idx=pad)
            parts.append(rows.masked_fill(outside.unsqueeze(-1), 0.0))
        return _all_reduce(parts)
    if isinstance(pi, Shard) and _whole(weight):
        s = indices._sharding
        outs = [record.call("embedding", _replica_on(weight, w), part, **attrs)
                for part, w in zip(s.shards, s.workers)]
        return _wrap(Shard(pi.dim), outs, s.workers)
    if _whole(weight) and _whole(indices):
        return _on_replicas(name, inputs, attrs)
    return NotImplemented


# ---- layer norm ----------------------------------------------------------------------------------

def _layer_norm(name, inputs, attrs):
    x, weight, bias = inputs
    if not (_whole(weight) and _whole(bias)):
        return NotImplemented
    p = _placement(x)
    if not isinstance(p, Shard):
        return _on_replicas(name, inputs, attrs)
    if p.dim >= x.ndim - len(attrs["normalized_shape"]):
        return NotImplemented  # the statistics would span workers
    s = x._sharding
    outs = [record.call(name, part, *[_replica_on(t, w) if t is not None else None
                                      for t in (weight, bias)], **attrs)
            for part, w in zip(s.shards, s.workers)]
    # (the result and the rows' statistics, each sharded as x's rows)
    return tuple(_wrap(Shard(p.dim), list(column), s.workers) for column in zip(*outs))


# ---- attention -----------------------------------------------------------------------------------

def _attention(name, inputs, attrs):
    q, k, v, mask = inputs
    if all(_whole(t) for t in inputs):
        return _on_replicas(name, inputs, attrs)
    p = _placement(q)
    if not isinstance(p, Shard) or p.dim >= q.ndim - 2 or not _whole(mask):
        return NotImplemented
    s = q._sharding
    for t in (k, v):
        if not is_sharded(t) or not t._sharding.same_split(s):
            return NotImplemented
    outs = [record.call(name, qk, kk, vk, _local_part(mask, s, i, q.ndim), **attrs)
            for i, (qk, kk, vk) in enumerate(zip(s.shards, k._sharding.shards,
                                                 v._sharding.shards))]
    # (the result and the queries' logsumexp, each sharded as the queries)
    return tuple(_wrap(Shard(p.dim), list(column), s.workers) for column in zip(*outs))


# ---- convolution and pooling ---------------------------------------------------------------------

def _batch(name, inputs, attrs):
    x, rest = inputs[0], inputs[1:]
    p = _placement(x)
    if isinstance(p, Shard) and p.dim == 0 and all(_whole(t) for t in rest):
        s = x._sharding
        outs = [record.call(name, part, *[_replica_on(t, w) if t is not None and hasattr(
                    t, "_storage") else t for t in rest], **attrs)
                for part, w in zip(s.shards, s.workers)]
        if isinstance(outs[0], tuple):
            return tuple(_wrap(Shard(0), list(o), s.workers) for o in zip(*outs))
        return _wrap(Shard(0), outs, s.workers)
    if name == "convolution" and _whole(x) and attrs.get("groups", 1) == 1:
        weight, bias = rest
        pw = _placement(weight)
        if isinstance(pw, Shard) and pw.dim == 0 and (bias is None or (
                isinstance(_placement(bias), Shard) and bias._sharding.sizes
                == weight._sharding.sizes)):
            s = weight._sharding  # output channels split: the result is sharded on dim 1
            outs = [record.call(name, _replica_on(x, w), wk,
                                bias._sharding.shards[i] if bias is not None else None, **attrs)
                    for i, (wk, w) in enumerate(zip(s.shards, s.workers))]
            return _wrap(Shard(1), outs, s.workers)
    if all(_whole(t) for t in inputs):
        return _on_replicas(name, inputs, attrs)
    return NotImplemented


# ---- nll_loss over sharded classes ----------------------------------------------------------------

def _class_loss(name, inputs, attrs):
    logp, target, weight = inputs
    p = _placement(logp)
    if not (isinstance(p, Shard) and logp.ndim == 2 and p.dim == 1):
        return RULES["batch_loss"](name, inputs, attrs)
    if weight is not None or not _whole(target):
        return NotImplemented
    s = logp._sharding
    ignore = attrs.get("ignore_index", -100)
    reduction = attrs.get("reduction", "mean")
    parts = []
    for (start, n), part, w in zip(_row_ranges(s.sizes), s.shards, s.workers):
        t = _replica_on(target, w)
        local, outside = _owned(t, start, n)
        picked = record.call("nll_loss", part, local, None, reduction="none")
        picked = picked.masked_fill(outside.logical_or(t == ignore), 0.0)
        parts.append(picked if reduction == "none" else picked.sum())
    total = _all_reduce(parts)
    if reduction != "mean":
        return total
    counted = (target != ignore).sum().to(logp.dtype) if hasattr(target, "_storage") \
        else float(target != ignore)
    return _on_replicas("div", (total, counted), {})


RULES.update({"embedding": _embedding, "layer_norm": _layer_norm, "attention": _attention,
              "batch": _batch, "class_softmax": class_softmax, "class_loss": _class_loss})
