"""Sharded tensors: one logical tensor whose partitions live on several workers.

A sharded tensor is a `Tensor` whose `_sharding` holds its placement and one ordinary
tensor per worker (its shards). An op on sharded operands goes through `dispatch`, which
looks up the op's sharding rule and expresses it with ordinary ops on the shards plus
moves between devices. Every move is the differentiable `to_device` op (its transpose is
the move back), so the one engine runs backward through sharded code with no special
case, second order included:

    scatter (shard a non-leaf)  ᵀ = gather          broadcast (replicate)  ᵀ = sum
    all-reduce of partial sums  = gather-sum + broadcast, so its ᵀ is the same pair

A plain tensor (driver or worker) next to a sharded one acts as replicated: each worker
gets the part it needs, once per op, and its gradient is summed back by the engine.
"""
from __future__ import annotations

import numpy as np

from ..autograd import grad_mode, record
from ..ops.rules import dims_of, wrap_dim
from ..ops.table import Size
from ..tensor import Tensor


class Shard:
    """Placement: split along `dim`, one contiguous block per worker."""

    def __init__(self, dim: int):
        self.dim = dim

    def __repr__(self) -> str:
        return f"Shard(dim={self.dim})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Shard) and other.dim == self.dim

    def __hash__(self) -> int:
        return hash(("shard", self.dim))


class Replicate:
    """Placement: a full copy on every worker."""

    def __repr__(self) -> str:
        return "Replicate()"

    def __eq__(self, other) -> bool:
        return isinstance(other, Replicate)

    def __hash__(self) -> int:
        return hash("replicate")


class Sharding:
    """What a sharded tensor holds instead of a value."""

    __slots__ = ("placement", "shards", "workers", "makers")

    def __init__(self, placement, shards, workers, makers=None):
        self.placement = placement
        self.shards = list(shards)
        self.workers = list(workers)
        # For a replicated tensor: per worker, how to compute its copy there when an op on
        # that worker first needs it (None: move the first copy there).
        self.makers = makers

    @property
    def sizes(self):
        d = self.placement.dim
        return [s.shape[d] for s in self.shards]

    def replica(self, k: int):
        """Worker k's copy of a replicated tensor, made on first use: computed there if it
        has a maker, else moved from the first copy (differentiably either way)."""
        if self.shards[k] is None:
            make = self.makers[k] if self.makers else None
            self.shards[k] = make() if make is not None else self.shards[0].to(self.workers[k])
        return self.shards[k]

    def gather_value(self, t) -> np.ndarray:
        if isinstance(self.placement, Replicate):
            return self.shards[0]._numpy_value()
        return np.concatenate([s._numpy_value() for s in self.shards], axis=self.placement.dim)

    def same_split(self, other: "Sharding") -> bool:
        return (self.placement == other.placement and self.workers == other.workers
                and self.sizes == other.sizes)


def _wrap(placement, shards, workers) -> Tensor:
    """A sharded tensor over `shards` (ordinary tensors, one per worker)."""
    first = shards[0]
    shape = list(first.shape)
    if isinstance(placement, Shard):
        shape[placement.dim] = sum(s.shape[placement.dim] for s in shards)
    t = Tensor._make(None, Size(shape), first.dtype, "sharded")
    t._sharding = Sharding(placement, shards, workers)
    if isinstance(placement, Replicate):
        # One logical value: the first copy is it; the others are moves of it.
        t._requires_grad = first._requires_grad
        t.grad_fn = first.grad_fn
        t._output_nr = first._output_nr
    else:
        t._requires_grad = any(s._requires_grad for s in shards)
        if t._requires_grad and any(s.grad_fn is not None for s in shards):
            t.grad_fn = _ShardedGradFn(shards)
    return t


def replicated(value: Tensor, workers) -> Tensor:
    """`value` seen as replicated over `workers`; copies are made when an op needs them."""
    workers = list(workers)
    if value.device_str in workers:  # keep the value itself as the first copy
        workers.remove(value.device_str)
        workers.insert(0, value.device_str)
    return _wrap(Replicate(), [value] + [None] * (len(workers) - 1), workers)


class _ShardedGradFn:
    """grad_fn of a non-leaf sharded tensor: names its shards' nodes (for printing and
    `next_functions`); backward goes through the shards themselves."""

    def __init__(self, shards):
        self.next_functions = tuple(s._gradient_edge() if s._requires_grad else (None, 0)
                                    for s in shards)
        names = {s.grad_fn.name() for s in shards if s.grad_fn is not None}
        self._name = names.pop() if len(names) == 1 else "ShardedBackward"

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"


def is_sharded(t) -> bool:
    return getattr(t, "_sharding", None) is not None


def placement_of(t) -> str:
    if is_sharded(t):
        s = t._sharding
        return f"{s.placement!r} over {s.workers}"
    if hasattr(t, "_version"):
        return f"plain tensor on {t.device_str}"
    return "a number"


# ---- creating and gathering ------------------------------------------------------------------

def shard(tensor: Tensor, dim: int, workers=None) -> Tensor:
    """Split `tensor` along `dim` over `workers` (default: all), uneven sizes allowed.

    A leaf stays a leaf (each shard is a new leaf on its worker, keeping requires_grad);
    a non-leaf is scattered differentiably (its gradient is gathered back).
    """
    from . import runtime

    workers = list(workers) if workers is not None else runtime.workers()
    if is_sharded(tensor):
        raise RuntimeError("shard(): the tensor is already sharded; call .full_tensor() first")
    if tensor.ndim == 0:
        raise IndexError("shard(): cannot shard a 0-dim tensor; reshape it to 1-D first")
    try:
        d = wrap_dim(dim, tensor.ndim)
    except IndexError as e:
        raise IndexError(f"{e}: shard() splits one of the tensor's dims, and a tensor of shape "
                         f"{list(tensor.shape)} has {tensor.ndim}; pass dim in that range") from None
    size = tensor.shape[d]
    if size < len(workers):
        raise RuntimeError(f"shard(): dim {d} has size {size}, fewer rows than the "
                           f"{len(workers)} workers it should be split over; use fewer workers")
    bounds = np.cumsum([0] + [len(p) for p in np.array_split(np.arange(size), len(workers))])
    leaf = tensor.grad_fn is None
    shards = []
    for k, w in enumerate(workers):
        piece = tensor.narrow(d, int(bounds[k]), int(bounds[k + 1] - bounds[k]))
        if leaf:
            with grad_mode.no_grad():
                part = piece.to(w)
                if part is piece or part.device_str == tensor.device_str:
                    part = part.clone()
            part.requires_grad_(tensor._requires_grad)
        else:
            part = piece.to(w)
        shards.append(part)
    return _wrap(Shard(d), shards, workers)


def replicate(tensor: Tensor, workers=None) -> Tensor:
    """A full copy of `tensor` on each worker; gradients of the copies sum into `tensor`."""
    from . import runtime

    workers = list(workers) if workers is not None else runtime.workers()
    out = _wrap(Replicate(), [tensor.to(w) for w in workers], workers)
    return out


def full_tensor(t: Tensor, device: str = "cpu") -> Tensor:
    """The whole tensor on one device (differentiable gather)."""
    s = t._sharding
    if isinstance(s.placement, Replicate):
        return s.shards[0].to(device)
    return record.call("cat", *[p.to(device) for p in s.shards], dim=s.placement.dim)


def redistribute(t: Tensor, placement, workers=None) -> Tensor:
    """The same values under another placement (differentiable): gathered on the first
    worker, then split or copied again. For an op whose rule needs another layout."""
    s = t._sharding if is_sharded(t) else None
    workers = list(workers) if workers is not None else (s.workers if s else None)
    if s is not None and s.placement == placement and workers == s.workers:
        return t
    whole = full_tensor(t, (workers or [t.device_str])[0]) if s is not None else t
    if isinstance(placement, Replicate):
        return replicate(whole, workers)
    if isinstance(placement, Shard):
        if whole.grad_fn is None and whole._requires_grad:
            whole = whole * 1  # keep the result connected to `t` (shard() of a leaf makes new leaves)
        return shard(whole, placement.dim, workers)
    raise TypeError(f"redistribute: expected Shard(dim) or Replicate(), got {placement!r}")


def sharded_grad(t: Tensor):
    grads = [s._grad if s is not None else None for s in t._sharding.shards]
    if all(g is None for g in grads):
        return None
    s = t._sharding
    grads = [g if g is not None else _zeros_like(p) for g, p in zip(grads, s.shards)]
    return _wrap(s.placement, grads, s.workers)


def set_sharded_grad(t: Tensor, value) -> None:
    shards = t._sharding.shards
    if value is None:
        for s in shards:
            s._grad = None
        return
    for s, g in zip(shards, value._sharding.shards):
        s._grad = g


def _zeros_like(t):
    return record.call("full", shape=list(t.shape), value=0, dtype=t.dtype.name,
                       _device=t.device_str)


def assign_inplace(t: Tensor, result: Tensor) -> None:
    """`t.add_(...)` on a sharded tensor: each shard is updated where it lives."""
    if not is_sharded(t) or not is_sharded(result) or not t._sharding.same_split(result._sharding):
        raise RuntimeError(f"in-place op: result placement {placement_of(result)} does not match "
                           f"{placement_of(t)}")
    for dst, src in zip(t._sharding.shards, result._sharding.shards):
        dst._inplace(src)


# ---- dispatch ----------------------------------------------------------------------------------

def dispatch(name: str, inputs, attrs):
    rule = RULES.get(name)
    if rule is not None:
        out = rule(name, inputs, attrs)
        if out is not NotImplemented:
            return out
    raise _no_rule(name, inputs)


def _no_rule(name, inputs):
    places = [placement_of(t) for t in inputs if t is not None and not isinstance(t, (int, float))]
    return RuntimeError(f"no sharding rule covers op '{name}' with operands "
                        f"{' and '.join(places)}; gather with .full_tensor() or change the "
                        "placement with distgrad.distributed.redistribute() first")


def _sharded_operands(inputs):
    return [t for t in inputs if is_sharded(t)]


def _local_part(t, ref: Sharding, k: int, out_ndim: int):
    """Operand `t`'s part for shard k of an op whose sharded output follows `ref`."""
    if t is None or not hasattr(t, "_version"):
        return t
    worker = ref.workers[k]
    if is_sharded(t):
        s = t._sharding
        if isinstance(s.placement, Replicate):
            return _replica_on(t, worker)
        return s.shards[k]
    # A plain operand acts as replicated: send the slice shard k needs (or all of it where
    # it broadcasts along the sharded dim).
    d_out = ref.placement.dim
    d = d_out - (out_ndim - t.ndim)
    if d >= 0 and t.shape[d] != 1:
        start = sum(ref.sizes[:k])
        t = t.narrow(d, start, ref.sizes[k])
    return t if t.device_str == worker else t.to(worker)


def _shard_ref(name, inputs, out_ndim):
    """The sharding that an elementwise op's output follows, in output dims."""
    ref = None
    ref_dim = None
    for t in _sharded_operands(inputs):
        s = t._sharding
        if isinstance(s.placement, Replicate):
            continue
        d = s.placement.dim + (out_ndim - t.ndim)
        if ref is None:
            ref, ref_dim = s, d
        elif d != ref_dim or s.workers != ref.workers or s.sizes != ref.sizes:
            raise _no_rule(name, inputs)
    if ref is None:
        return None
    if ref_dim != ref.placement.dim:
        ref = Sharding(Shard(ref_dim), ref.shards, ref.workers)
    return ref


def _out_ndim(inputs):
    return max((t.ndim for t in inputs if hasattr(t, "_version")), default=0)


def _elementwise(name, inputs, attrs):
    ndim = _out_ndim(inputs)
    ref = _shard_ref(name, inputs, ndim)
    if ref is None:  # only replicated operands: compute once, on the first copy
        return _on_replicas(name, inputs, attrs)
    outs = []
    for k in range(len(ref.workers)):
        parts = [_local_part(t, ref, k, ndim) for t in inputs]
        outs.append(record.call(name, *parts, **attrs))
    return _wrap(Shard(ref.placement.dim), outs, ref.workers)


def _on_replicas(name, inputs, attrs):
    """Only replicated and plain operands: the first copy of the result is computed now
    (backward follows it); each other worker computes its own copy from its copies of
    the operands, when an op there first needs it (a loss nobody reads on worker 1 is
    never computed there). No data moves for it."""
    first = next(t for t in inputs if is_sharded(t))._sharding

    def on(w):
        def make():
            return record.call(name, *[_replica_on(t, w) if hasattr(t, "_version") else t
                                       for t in inputs], **attrs)
        return make

    makers = [on(w) for w in first.workers]
    return _lazy_replicas(makers, first.workers)


def _lazy_replicas(makers, workers) -> Tensor:
    """A replicated tensor whose first copy is made now and the others on first use."""
    out = _wrap(Replicate(), [makers[0]()] + [None] * (len(workers) - 1), workers)
    out._sharding.makers = makers
    return out


# ---- reductions ---------------------------------------------------------------------------------

def _shards_of_first(rule):
    """A rule about its first operand's shards: a replicated first operand is computed on
    its copies instead, and the rule gets (x, its Sharding)."""
    def wrapped(name, inputs, attrs):
        x = inputs[0]
        s = x._sharding
        if isinstance(s.placement, Replicate):
            return _on_replicas(name, inputs, attrs)
        return rule(name, inputs, attrs, x, s)

    wrapped.__name__ = rule.__name__
    return wrapped


def _each_shard(name, s: Sharding, attrs, dim: int) -> Tensor:
    """The op applied to every shard on its own worker; the result is sharded on `dim`."""
    return _wrap(Shard(dim), [record.call(name, p, **attrs) for p in s.shards], s.workers)


def _all_reduce(parts, combine: str = "add"):
    """Combine per-worker partial results into a value replicated over their workers.

    Each worker's copy is made when an op there first needs it (the first copy at once):
    that worker receives the others' partials and combines them in the same order as every
    other (so the copies are bitwise equal); no worker waits on a root to broadcast. The
    gradient of each copy flows back to every partial through the moves' transposes.
    """
    workers = [p.device_str for p in parts]

    def on(w):
        def make():
            total = None
            for p in parts:
                q = p if p.device_str == w else p.to(w)
                total = q if total is None else record.call(combine, total, q)
            return total
        return make

    return _lazy_replicas([on(w) for w in workers], workers)


@_shards_of_first
def _reduction(name, inputs, attrs, x, s):
    d = s.placement.dim
    dim = attrs.get("dim")
    if name in ("amax", "amin") and dim == ():
        dim = None
    dims = dims_of(dim, x.ndim)
    keepdim = attrs.get("keepdim", False)
    if d not in dims:  # reduce within each shard; the result stays sharded
        return _each_shard(name, s, attrs, d if keepdim else d - sum(1 for r in dims if r < d))
    if name == "sum":
        return _all_reduce([record.call("sum", p, **attrs) for p in s.shards])
    if name == "mean":
        n = 1
        for r in dims:
            n *= x.shape[r]
        total = _all_reduce([record.call("sum", p, **attrs) for p in s.shards])
        return _on_replicas("div", (total, n), {})
    if name in ("amax", "amin"):
        combine = "maximum" if name == "amax" else "minimum"
        return _all_reduce([record.call(name, p, **attrs) for p in s.shards], combine)
    if name in ("max", "min"):
        combine = "maximum" if name == "max" else "minimum"
        return _all_reduce([record.call(name, p) for p in s.shards], combine)
    if name == "logsumexp":
        parts = [record.call("logsumexp", p, **attrs).unsqueeze(0) for p in s.shards]
        root = s.shards[0].device_str
        stacked = record.call("cat", *[p.to(root) for p in parts], dim=0)
        return replicated(record.call("logsumexp", stacked, dim=0), s.workers)
    if name == "norm" and attrs.get("p", 2.0) == 2.0:
        squares = [record.call("sum", p * p, dim=attrs.get("dim"), keepdim=keepdim)
                   if attrs.get("dim") is not None else record.call("sum", p * p) for p in s.shards]
        return _on_replicas("sqrt", (_all_reduce(squares),), {})
    return NotImplemented


# ---- matmul ------------------------------------------------------------------------------------

def _matmul(name, inputs, attrs):
    a, b = inputs[0], inputs[1]
    sa = a._sharding if is_sharded(a) else None
    sb = b._sharding if is_sharded(b) else None
    pa = sa.placement if sa else None
    pb = sb.placement if sb else None
    # Replicated/plain @ column-sharded weight: output sharded on its last dim.
    if (sa is None or isinstance(pa, Replicate)) and isinstance(pb, Shard) and pb.dim == b.ndim - 1:
        outs = []
        for k, w in enumerate(sb.workers):
            ak = _replica_on(a, w)
            outs.append(_local_matmul(name, ak, sb.shards[k]))
        return _wrap(Shard(_out_ndim_mm(a, b) - 1), outs, sb.workers)
    # Last-dim-sharded input @ row-sharded weight: partial products, then one all-reduce.
    if _row_parallel(sa, sb, a, b):
        parts = [_local_matmul(name, x, w) for x, w in zip(sa.shards, sb.shards)]
        return _all_reduce(parts)
    # Batch-sharded input @ replicated/plain weight: each worker multiplies its rows.
    if isinstance(pa, Shard) and pa.dim < a.ndim - 1 and (sb is None or isinstance(pb, Replicate)):
        outs = [_local_matmul(name, sa.shards[k], _replica_on(b, w))
                for k, w in enumerate(sa.workers)]
        return _wrap(Shard(pa.dim), outs, sa.workers)
    if (sa is None or isinstance(pa, Replicate)) and (sb is None or isinstance(pb, Replicate)):
        return _on_replicas(name, inputs, attrs)
    return NotImplemented


def _row_parallel(sa, sb, a, b) -> bool:
    """a sharded on its last dim, b (a matrix) on its first, the same way: a @ b is a sum
    of per-worker products."""
    return (sa is not None and sb is not None and isinstance(sa.placement, Shard)
            and sa.placement.dim == a.ndim - 1 and isinstance(sb.placement, Shard)
            and sb.placement.dim == 0 and b.ndim == 2 and sa.workers == sb.workers
            and sa.sizes == sb.sizes)


def matmul_add_all_reduce(a: Tensor, b: Tensor, bias: Tensor | None = None) -> Tensor:
    """`a @ b + bias`, replicated, for `a` sharded on its last dim and `b` on its first
    (RowParallelLinear): the bias is added to the first worker's partial product before
    the one all-reduce, so it is never copied to the other workers."""
    sa = a._sharding if is_sharded(a) else None
    sb = b._sharding if is_sharded(b) else None
    if not _row_parallel(sa, sb, a, b):
        y = a.matmul(b)
        if bias is None:
            return y
        return y + (replicated(bias, y._sharding.workers) if is_sharded(y) else bias)
    parts = [_local_matmul("matmul", x, w) for x, w in zip(sa.shards, sb.shards)]
    if bias is not None:
        parts[0] = parts[0] + _replica_on(bias, parts[0].device_str)
    return _all_reduce(parts)


def _out_ndim_mm(a, b):
    return max(a.ndim, b.ndim)


def _replica_on(t, worker):
    if is_sharded(t):
        s = t._sharding
        if worker in s.workers:
            return s.replica(s.workers.index(worker))
        t = s.shards[0]
    return t if t.device_str == worker else t.to(worker)


def _local_matmul(name, a, b):
    from ..ops.functions import matmul

    return matmul(a, b) if name == "matmul" else record.call(name, a, b)


# ---- shape ops ------------------------------------------------------------------------------

@_shards_of_first
def _transpose_like(name, inputs, attrs, x, s):
    d = s.placement.dim
    if name == "t":
        new_d = (x.ndim - 1 - d) if x.ndim == 2 else d
    elif name == "transpose":
        d0, d1 = wrap_dim(attrs["dim0"], x.ndim), wrap_dim(attrs["dim1"], x.ndim)
        new_d = d1 if d == d0 else d0 if d == d1 else d
    else:  # permute
        dims = [wrap_dim(q, x.ndim) for q in attrs["dims"]]
        new_d = dims.index(d)
    return _each_shard(name, s, attrs, new_d)


@_shards_of_first
def _unsqueeze(name, inputs, attrs, x, s):
    d = s.placement.dim
    if name == "unsqueeze":
        at = wrap_dim(attrs["dim"], x.ndim + 1)
        return _each_shard(name, s, attrs, d + 1 if at <= d else d)
    # squeeze: the sharded dim must stay (a shard may have size 1 where the whole does not)
    dims = attrs.get("dim")
    gone = [i for i, n in enumerate(x.shape) if n == 1] if dims is None else [
        wrap_dim(q, x.ndim) for q in ([dims] if isinstance(dims, int) else dims) if x.shape[q] == 1]
    if d in gone:
        return NotImplemented
    if dims is None:  # squeeze exactly the whole tensor's unit dims in every shard
        attrs = dict(attrs, dim=gone)
    return _each_shard(name, s, attrs, d - sum(1 for g in gone if g < d))


@_shards_of_first
def _reshape(name, inputs, attrs, x, s):
    d = s.placement.dim
    from ..ops.shape import infer_shape

    target = list(infer_shape(attrs["shape"], x.numel()))
    # Allowed when the dims up to and including the sharded one are unchanged.
    if target[:d + 1] != list(x.shape[:d + 1]):
        return NotImplemented
    outs = []
    for p in s.shards:
        local = list(target)
        local[d] = p.shape[d]
        outs.append(record.call(name, p, shape=local))
    return _wrap(Shard(d), outs, s.workers)


@_shards_of_first
def _select_like(name, inputs, attrs, x, s):
    """select/slice along a dim other than the sharded one (the sharded dim is kept)."""
    d = s.placement.dim
    dim = wrap_dim(attrs["dim"], x.ndim)
    if dim == d:
        return NotImplemented
    return _each_shard(name, s, attrs, d - 1 if (name == "select" and dim < d) else d)


@_shards_of_first
def _softmax_like(name, inputs, attrs, x, s):
    if wrap_dim(attrs["dim"], x.ndim) == s.placement.dim:
        return NotImplemented
    return _each_shard(name, s, attrs, s.placement.dim)


def _moves(name, inputs, attrs):
    x = inputs[0]
    if attrs["device"] == "cpu" or not is_sharded(x):
        return full_tensor(x, attrs["device"])
    return NotImplemented


# ---- losses on sharded batches ----------------------------------------------------------------

def _batch_loss(name, inputs, attrs):
    """A loss over a batch sharded on dim 0: per-shard sums, one all-reduce, then the mean."""
    x = inputs[0]
    s = x._sharding if is_sharded(x) else None
    if s is None or isinstance(s.placement, Replicate):
        return _on_replicas(name, inputs, attrs)
    if s.placement.dim != 0:
        return NotImplemented
    reduction = attrs.get("reduction", "mean")
    ndim = x.ndim
    per_shard = []
    for k in range(len(s.workers)):
        parts = [_local_part(t, s, k, ndim) if (t is None or not hasattr(t, "_version") or
                                                 t.ndim == ndim or is_sharded(t))
                 else _batch_part(t, s, k) for t in inputs]
        local_attrs = dict(attrs)
        if reduction != "none":
            local_attrs["reduction"] = "sum"
        per_shard.append((record.call(name, *parts, **local_attrs), parts))
    if reduction == "none":
        return _wrap(Shard(0), [o for o, _ in per_shard], s.workers)
    total = _all_reduce([o for o, _ in per_shard])
    if reduction == "sum":
        return total
    if name == "nll_loss":
        weights = [record.call("nll_weights", parts[1], parts[2], classes=x.shape[-1],
                               dtype=x.dtype.name, ignore_index=attrs.get("ignore_index", -100)
                               ).sum() for _, parts in per_shard]
        return _on_replicas("div", (total, _all_reduce(weights)), {})
    return _on_replicas("div", (total, x.numel()), {})


def _batch_part(t, ref, k):
    """A target with fewer dims than the input (class indices): split on its dim 0."""
    if is_sharded(t):
        return t._sharding.shards[k]
    start = sum(ref.sizes[:k])
    part = t.narrow(0, start, ref.sizes[k])
    w = ref.workers[k]
    return part if part.device_str == w else part.to(w)


_ELEMENTWISE = ("add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "sin", "cos", "tanh",
                "sigmoid", "relu", "abs", "sign", "clamp", "maximum", "minimum", "where",
                "masked_fill", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
                "logical_not", "to_dtype", "clone", "reciprocal", "floor", "round", "isnan")

RULES = {name: _elementwise for name in _ELEMENTWISE}
RULES.update({name: _reduction for name in ("sum", "mean", "amax", "amin", "max", "min",
                                            "logsumexp", "norm")})
RULES.update({name: _matmul for name in ("mm", "matmul", "bmm")})
RULES.update({name: _transpose_like for name in ("t", "transpose", "permute")})
RULES.update({"select": _select_like, "slice": _select_like, "alias": _elementwise})
RULES.update({"unsqueeze": _unsqueeze, "squeeze": _unsqueeze, "reshape": _reshape,
              "softmax": _softmax_like, "log_softmax": _softmax_like, "to_device": _moves,
              "mse_loss": _batch_loss, "binary_cross_entropy_with_logits": _batch_loss,
              "binary_cross_entropy": _batch_loss, "nll_loss": _batch_loss})


# ---- backward through sharded roots and inputs ---------------------------------------------------

def expand_outputs(outputs, grads):
    """Roots of a backward that are sharded become their shards, with gradients to match.

    A replicated root is one value: only its first copy is seeded (the others are moves of
    it). A sharded root's gradient is split the same way (or taken shard by shard).
    """
    if not any(is_sharded(t) for t in outputs):
        return outputs, grads
    flat_out, flat_grads = [], []
    for t, g in zip(outputs, grads):
        if not is_sharded(t):
            flat_out.append(t)
            flat_grads.append(g)
            continue
        s = t._sharding
        if isinstance(s.placement, Replicate):
            first = s.shards[0]
            flat_out.append(first)
            if g is not None and is_sharded(g):
                g = g._sharding.shards[0]
            flat_grads.append(g.to(first.device_str) if g is not None and
                              g.device_str != first.device_str else g)
            continue
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
        for k, part in enumerate(s.shards):
            flat_out.append(part)
            if g is None:
                flat_grads.append(None)
            elif is_sharded(g):
                flat_grads.append(_replica_on(g, s.workers[k]) if isinstance(
                    g._sharding.placement, Replicate) else g._sharding.shards[k])
            else:
                flat_grads.append(_local_part(g, s, k, t.ndim))
    return tuple(flat_out), tuple(flat_grads)


def expand_inputs(inputs):
    """Sharded inputs of autograd.grad become their shards; `rebuild` reassembles the grads."""
    if not any(is_sharded(t) for t in inputs):
        return inputs, None
    flat, layout = [], []
    for t in inputs:
        if is_sharded(t):
            s = t._sharding
            parts = s.shards[:1] if isinstance(s.placement, Replicate) else s.shards
            layout.append((s, len(flat), len(parts)))
            flat.extend(parts)
        else:
            layout.append((None, len(flat), 1))
            flat.append(t)

    def rebuild(grads):
        out = []
        for s, start, n in layout:
            gs = grads[start:start + n]
            if s is None:
                out.append(gs[0])
            elif all(g is None for g in gs):
                out.append(None)
            elif isinstance(s.placement, Replicate):
                out.append(replicated(gs[0], s.workers))
            else:
                gs = [g if g is not None else _zeros_like(p) for g, p in zip(gs, s.shards)]
                out.append(_wrap(s.placement, gs, s.workers))
        return tuple(out)

    return tuple(flat), rebuild
