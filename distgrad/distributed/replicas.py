"""Replicated leaves: a leaf copied to several workers, each copy a leaf of its own there.

Data parallelism keeps a full copy of every parameter on every worker, so forward and
the optimizer step touch only local memory. Backward gives each copy the gradient of its
worker's part of the loss; the parameter's gradient is their sum. So the gradient edges
of all copies lead into one `ReplicaReduce` node (for a module's parameters, one node per
bucket of them), which the engine runs when every copy's gradient is in: it all-reduces
them worker to worker and accumulates the total into each copy's `.grad`, equal on every
worker to the bit (collectives add in worker order). While `syncing` is off
(DistributedDataParallel.no_sync), each copy keeps its own part instead, and the next
reduce adds it in.
"""
from __future__ import annotations

import weakref

from ..autograd import grad_mode, graph, record
from ..autograd.engine import accumulate_grad, run_post_accumulate_hooks
from . import collectives


class ReplicaReduce:
    """A graph node with one input per (parameter, copy); see the module doc."""

    n_outputs = 0
    _inline = False
    next_functions = ()
    _pre_hooks = _hooks = _tensor_pre_hooks = _retain_grad = None

    def __init__(self, copies: list, reducer_copies: bool = True):
        """copies: per parameter, its copies (one tensor per worker, the same workers);
        reducer_copies: whether the total is copied into .grad once more, as torch's
        DistributedDataParallel reducer does (a replicated leaf's is torch's AccumulateGrad
        alone)."""
        self._seq = float("inf")  # as AccumulateGrad: run as soon as ready
        self.reducer_copies = reducer_copies
        self.copies = [list(c) for c in copies]
        self.n = len(self.copies[0])
        self.n_outputs = len(self.copies) * self.n
        self.syncing = True
        self.pending = [[None] * self.n for _ in self.copies]  # parts kept while not syncing
        self.reduced = set()  # parameters (by position) a synced backward reduced
        self._slot = {}
        # the replicated leaves with post-accumulate-grad hooks (sharding._hook_joins)
        self.accumulated = weakref.WeakValueDictionary()  # id -> leaf (tensors' == is no test)
        for i, param_copies in enumerate(self.copies):
            for k, c in enumerate(param_copies):
                self._slot[id(c)] = i * self.n + k
                c._acc = weakref.ref(self)

    def input_nr_for(self, copy) -> int:
        return self._slot[id(copy)]

    def param_index(self, copy) -> int:
        return self._slot[id(copy)] // self.n

    def name(self) -> str:
        return "ReplicaReduce"

    def __repr__(self) -> str:
        return f"<ReplicaReduce object at {hex(id(self))}>"

    def has_saved(self) -> bool:
        return False

    def release(self) -> None:
        pass

    def pending_of(self, copy) -> list:
        """The gradient parts kept for `copy`'s parameter in no_sync, each made where none
        is (zeros): its .grad there reads as their sum, and writes to it go into them."""
        i = self.param_index(copy)
        self.pending[i] = [g if g is not None else zeros_like(c)
                           for g, c in zip(self.pending[i], self.copies[i])]
        return self.pending[i]

    def keeps_parts(self, copy) -> bool:
        return any(g is not None for g in self.pending[self.param_index(copy)])

    def clear_pending(self, param: int) -> None:
        self.pending[param] = [None] * self.n

    def apply(self, grads):
        parts = [self._with_pending(i, grads[i * self.n:(i + 1) * self.n])
                 for i in range(len(self.copies))]
        used = [i for i in range(len(self.copies))
                if any(g is not None for g in grads[i * self.n:(i + 1) * self.n])]
        versions = {i: self._grad_version(i) for i in used}
        if self.syncing:
            self.reduced.update(used)
        if not self.syncing:  # (each rank of torch's runs its hooks in no_sync too)
            self.pending = [[g.detach() if g is not None else None for g in p] for p in parts]
            for i in used:
                self._fold_total(i)
                self._count_writes(self.pending[i], versions[i], synced=False)
            self._run_post_accumulate_hooks(used)
            return []
        used = [i for i, p in enumerate(parts) if any(g is not None for g in p)]
        if not used:
            return []
        for i in used:
            self.clear_pending(i)
        totals = collectives.all_reduce_coalesced([self._parts_on(parts, used, k)
                                                   for k in range(self.n)])
        create_graph = grad_mode.is_grad_enabled()
        for k, worker_totals in enumerate(totals):
            for i, g in zip(used, worker_totals):
                copy = self.copies[i][k]
                if copy._grad is None and not create_graph and not g._is_view():
                    copy._grad = g.detach()  # the total is this copy's alone: no copy of it
                    if not self.reducer_copies:  # (taken as AccumulateGrad takes a new one)
                        copy._grad._storage.version = 0
                else:  # (a slice of a flat buffer of all the totals is copied out)
                    accumulate_grad(copy, g, create_graph)
        for i in used:
            if self.reducer_copies:
                self._count_writes([c._grad for c in self.copies[i]], versions[i], synced=True)
        self._run_post_accumulate_hooks(used)
        return []

    def _grad_version(self, i: int) -> int | None:
        """The version of parameter i's .grad as read now (None: it has none)."""
        held = [g for g in [c._grad for c in self.copies[i]] + self.pending[i] if g is not None]
        return max(g._version for g in held) if held else None

    @staticmethod
    def _count_writes(grads, before: int | None, synced: bool) -> None:
        """Give the gradient parts torch's version of the parameter's .grad: its
        AccumulateGrad added into the one it had (a new one starts at 0), and a synced
        reduce copies the bucket's total into it once more (the reducer's copy_)."""
        version = (0 if before is None else before + 1) + synced
        for g in grads:
            if g is not None:
                g._storage.version = version

    def _run_post_accumulate_hooks(self, used) -> None:
        """Those of the replicated leaves of the used parameters (each .grad holds its
        total now, on every copy), in the order of the parameters."""
        hooked = [(self._slot.get(id(t._sharding.shards[0]), -1) // self.n, t)
                  for t in list(self.accumulated.values())]
        for i, t in sorted(hooked, key=lambda it: it[0]):
            if i in used:
                run_post_accumulate_hooks(t)

    def _fold_total(self, i: int) -> None:
        """Parameter i's total reduced before (every copy's .grad) joins its first kept
        part, and the copies' .grad is the kept parts alone: what torch's ranks accumulate
        into, read and written as one gradient until the next reduce sums them."""
        total = self.copies[i][0]._grad
        if total is None:
            return
        first = self.pending[i][0]
        self.pending[i][0] = total if first is None else first + total
        for c in self.copies[i]:
            c._grad = None

    def _with_pending(self, i: int, grads) -> list:
        kept = self.pending[i]
        return [g if p is None else (p if g is None else p + g) for g, p in zip(grads, kept)]

    def _parts_on(self, parts, used, k: int) -> list:
        """Worker k's gradient parts of the used parameters (zeros where it has none)."""
        return [parts[i][k] if parts[i][k] is not None else zeros_like(self.copies[i][k])
                for i in used]


graph.Node.register(ReplicaReduce)


def zeros_like(t):
    """Zeros shaped as `t`, made where it lives (no bytes sent)."""
    return record.call("full", shape=list(t.shape), value=0, dtype=t.dtype.name,
                       _device=t.device_str)


def attach(copies: list, reducer_copies: bool = True) -> ReplicaReduce:
    """One reduce node for the copies of each parameter in `copies` (see ReplicaReduce)."""
    return ReplicaReduce(copies, reducer_copies)


_FIRST_BUCKET_BYTES = 1 << 20  # as torch: a small first bucket starts reducing early


def attach_in_buckets(leaves, cap_mb: float) -> list:
    """Replicated leaves (in registration order) given reduce nodes in buckets, one
    all-reduce each: those replicated over the same workers together, as `buckets` groups
    them. Returns the nodes."""
    columns = {}
    for p in leaves:
        columns.setdefault(tuple(p._sharding.workers), []).append(p)
    nodes = []
    for column in columns.values():
        for bucket in buckets(column, cap_mb):
            node = attach([p._sharding.shards for p in bucket])
            for p in bucket:
                p._sharding.reducer = node
            nodes.append(node)
    return nodes


def buckets(params, cap_mb: float) -> list:
    """The parameters in reverse order, in buckets closed once they hold `cap_mb` (the
    first once it holds 1 MB), as torch assigns them: the last layer's weight goes in the
    first bucket with its bias, and is reduced while the layers before it run backward."""
    out, current, size = [], [], 0
    cap = min(_FIRST_BUCKET_BYTES, cap_mb * 2 ** 20)
    for p in reversed(params):
        current.append(p)
        size += p.numel() * p.dtype.itemsize
        if size >= cap:
            out.append(current)
            current, size, cap = [], 0, cap_mb * 2 ** 20
    if current:
        out.append(current)
    return out
