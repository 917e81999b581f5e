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

An op no rule covers falls back to gather, compute, reshard (`_fallback`). Hooks and
retain_grad on a sharded tensor see its whole gradient through a join node (`_JoinBackward`).
"""
from __future__ import annotations

import sys
import warnings
import weakref

import numpy as np

from .. import dtypes, layouts, storage
from ..autograd import anomaly_mode, grad_mode, graph, record
from ..autograd.engine import run_post_accumulate_hooks
from ..autograd.function import WRITTEN_LEAF
from ..hook_handles import RemovableHandle
from ..ops import layout
from ..ops.rules import dims_of, wrap_dim
from ..ops.table import Size, lookup
from ..tensor import Tensor
from . import collectives, replicas, runtime, sharded_saved


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


class Partial:
    """Placement: a pending sum. Each worker holds a part of the value, which is their sum
    (a row-parallel matmul's output); linear ops keep it pending, any other op sums it
    first (one all-reduce), and redistribute() turns it into Replicate or Shard."""

    def __init__(self, reduce_op: str = "sum"):
        if reduce_op != "sum":
            raise NotImplementedError(f"Partial({reduce_op!r}): only a pending sum is supported")
        self.reduce_op = reduce_op

    def __repr__(self) -> str:
        return "Partial(sum)"

    def __eq__(self, other) -> bool:
        return isinstance(other, Partial)

    def __hash__(self) -> int:
        return hash("partial")


class Sharding:
    """What a sharded tensor holds instead of a value."""

    __slots__ = ("placement", "shards", "workers", "makers", "join", "copied_view_of",
                 "made_edges", "reducer", "computed_by", "viewed", "grad", "view_op")

    def __init__(self, placement, shards, workers, makers=None):
        self.placement = placement
        self.shards = list(shards)
        self.workers = list(workers)
        # For a replicated tensor: per worker, how to compute its copy there when an op on
        # that worker first needs it (None: move the first copy there).
        self.makers = makers
        self.join = None  # a leaf's _JoinBackward, once a hook on it is met in a backward
        self.copied_view_of = None  # a _CopiedView: a fallback computed this view op's copy
        # k: the gradient edge of replicated copy k when it was made, and the first copy's
        # edge then (the value it is a copy of)
        self.made_edges = {}
        # A replicated leaf's: the node its copies' gradients are all-reduced by (replicas.py)
        self.reducer = None
        self.computed_by = None  # a fallback's result: the node of the op on the gathered whole
        # A view's: the sharded tensor whose parts its parts view, kept alive as torch's
        # view keeps its `_base` (the lookup by part is weak)
        self.viewed = None
        self.grad = None  # the .grad last given out: the same object while its parts are
        # A view's: (the tensor it is a view of, op name, attrs, output index, that
        # tensor's version then), how to take it again (a compiled step's output)
        self.view_op = None

    def current(self, t) -> None:
        """Bring `t` (this sharding's tensor) up to date before its history is used: a copy
        standing in for a view is made again if its base was written since (_CopiedView);
        and raise torch's error for a view whose history may not be rebuilt (made under
        no_grad, one of several outputs, ...) after its base was written: a sharded tensor
        whose shards are such views is one, read as torch reads it."""
        if self.copied_view_of is not None:
            self.copied_view_of.check_rebase(t)
        self.refresh(t)
        if t._sharding is not self:
            return t._sharding.current(t)
        stale = []
        for part in self.shards:
            if part is not None and part._viewed is not None and \
                    part._view_version != part._storage.version:
                if part._forbids_rebase():
                    raise part._rebase_error(stale=True)
                part._refresh_view()
                stale.append(part)
        if stale:  # parts that are views made anew: t's history becomes theirs
            _take_shards_history(t, stale)

    def parts_view_kind(self):
        """Why torch forbids writing the views that are the parts in place (one of several
        outputs, made under no_grad, ...), or None."""
        return next((p._view_kind for p in self.shards
                     if p is not None and p._view_kind is not None), None)

    def parts_require_grad(self) -> bool:
        """Whether a part requires grad (a replicated tensor's first copy): parts that are
        views of a base written since with a value requiring grad do, as the views would."""
        history = self.shards[:1] if isinstance(self.placement, Replicate) else self.shards
        return any(p is not None and p.requires_grad for p in history)

    def refresh(self, t) -> None:
        """A copy standing in for a view whose base was written since is made again (reading
        its value or detaching it: no view is read as torch reads one, see current)."""
        if self.copied_view_of is not None:
            self.copied_view_of.refresh(t)

    def writes(self) -> int:
        """The most in-place writes one of its parts' memories has seen: a write through a
        sharded view (whose parts are views of these) counts, as a view's write counts for
        its base in torch."""
        return max((p._storage.version for p in self.shards if p is not None), default=0)

    @property
    def sizes(self):
        if not isinstance(self.placement, Shard):
            return None
        d = self.placement.dim
        return [s.shape[d] for s in self.shards]

    def map_parts(self, fn) -> Tensor:
        """A tensor placed as this sharding's tensor, whose part k is fn(part k)."""
        parts = [self.shards[k] if self.shards[k] is not None else self.replica(k)
                 for k in range(len(self.shards))]
        return _wrap(self.placement, [fn(p) for p in parts], self.workers)

    def held_by(self, t) -> "Sharding":
        """This sharding as `t`'s (a write through a view of a part finds `t`)."""
        _note_parts(t, self.shards)
        return self

    def detached(self, own_versions: bool = False) -> "Sharding":
        """The same shards without history (sharing memory and version counters, as
        detach(); with their own version counters, as .data, when `own_versions`); a
        replicated copy not made yet is made from the original, detached."""
        def untracked(t):
            return t.data if own_versions else t.detach()

        shards = [untracked(s) if s is not None else None for s in self.shards]
        makers = None
        if any(s is None for s in shards):
            makers = [lambda k=k: untracked(self.replica(k)) for k in range(len(shards))]
        out = Sharding(self.placement, shards, self.workers, makers)
        if self.copied_view_of is not None:  # still a view of the base's memory
            out.copied_view_of = self.copied_view_of.of_untracked_base(own_versions)
        return out

    def data_with_history_of(self, t) -> "Sharding | None":
        """For `t.data = ` a tensor of this sharding and t's shape, t a non-leaf: parts
        holding this sharding's memory (their own version counters, as .data) whose history
        is t's, scattered or copied as this sharding's are, so what reads t from now on
        reaches t's graph, as torch's does; None where t is not split so (uneven sizes)."""
        if not isinstance(self.placement, (Shard, Replicate)):
            return None
        source = t._alias()  # (a copy on t's own worker is t: its alias takes the memory)
        with grad_mode.enable_grad():
            placed = (shard(source, self.placement.dim, self.workers)
                      if isinstance(self.placement, Shard) else replicate(source, self.workers))
        carriers = placed._sharding
        if not carriers.same_split(self):
            return None
        memory = self.detached(own_versions=True)
        for k, carrier in enumerate(carriers.shards):
            carrier.data = memory.shards[k] if memory.shards[k] is not None \
                else memory.replica(k)
        return carriers

    def replica(self, k: int):
        """Worker k's copy of a replicated tensor, made on first use: computed there if it
        has a maker, else moved from the first copy (differentiably either way)."""
        if self.shards[k] is None:
            make = self.makers[k] if self.makers else None
            if make is None:  # a move of the first copy, which its gradient goes back to
                first = next(graph._sequence)
                with grad_mode.set_grad_enabled(self.shards[0]._requires_grad):
                    copy = _runs_inline(self.shards[0].to(self.workers[k]), first)
            else:
                copy = make()
            self.shards[k] = copy
            owner = _sharded_tensor_of.get(id(self.shards[0]))
            if owner is not None and owner._sharding is self:  # (a write through a view of
                _note_parts(owner, [copy])                     # it is then its write too)
            if copy._requires_grad:  # (a later write gives the copy another history)
                self.made_edges[k] = (copy._gradient_edge(), self.shards[0]._gradient_edge())
        return self.shards[k]

    def gather_value(self, t) -> np.ndarray:
        self.refresh(t)
        if t._sharding is not self:  # made again from its base
            return t._sharding.gather_value(t)
        if isinstance(self.placement, Replicate):
            return self.shards[0]._numpy_value()
        if isinstance(self.placement, Partial):  # added in worker order, as the all-reduce does
            total = None
            for s in self.shards:
                total = s._numpy_value() if total is None else total + s._numpy_value()
            return total
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
    # A replicated tensor is one logical value: the first copy is it; the others are moves
    # or recomputations of it (a leaf's copies are moves of its first copy).
    history = [first] if isinstance(placement, Replicate) else shards
    _laid_out_as_parts(t, history)
    t._requires_grad = any(s._requires_grad for s in history)
    if t._requires_grad and any(s.grad_fn is not None for s in history):
        t.grad_fn = _ShardedGradFn(t._sharding)
    else:
        _SHARDED_LEAVES.add(t)  # a hook on it is found at backward (_hook_joins)
        # (parts that are views made under no_grad: so is the whole, its gradient goes nowhere)
        t._no_accumulator = t._requires_grad and all(
            s._no_accumulator for s in history if s is not None and s._requires_grad)
        if t._no_accumulator:  # (views of their bases' parts: a detach_ of those ends it)
            for s in history:
                if s is not None and s._viewed is not None:
                    record.note_no_grad_view(s._viewed, t)
    _note_parts(t, shards)
    viewing = next((p for p in shards if p is not None and p._viewed is not None), None)
    if viewing is not None:
        t._sharding.viewed = _sharded_tensor_of.get(id(viewing._viewed))
    return t


def _laid_out_as_parts(t: Tensor, parts) -> None:
    """`t` laid out in its parts' memory format (channels_last: a shard of such a tensor, a
    convolution of one), as torch's tensor of theirs would be; else row-major."""
    formats = {layout.suggested_format(p.shape, p.stride()) for p in parts}
    fmt = formats.pop() if len(formats) == 1 else "contiguous_format"
    if fmt != "contiguous_format" and all(
            p.is_contiguous(memory_format=getattr(layouts, fmt)) for p in parts):
        t._layout = (layout.memory_format_strides(t.shape, fmt), 0)


# shard -> the sharded tensor it is part of: a write through a view of its shards gives it
# a new history (assign_inplace), as a plain base gets CopySlices.
_sharded_tensor_of = weakref.WeakValueDictionary()
_sharded_tensor_by_value = weakref.WeakValueDictionary()  # id(part._value) -> its tensor


def _note_parts(t: Tensor, parts) -> None:
    """Remember that `parts` are `t`'s (by the part, and by its value's handle, which a
    saved alias of the part shares)."""
    for part in parts:
        if part is not None:
            _sharded_tensor_of[id(part)] = t
            _sharded_tensor_by_value[id(part._value)] = t


def _holds(t: Tensor, part: Tensor) -> bool:
    # (a tensor given plain memory by `.data =` has no parts any more)
    return t._sharding is not None and any(p is part for p in t._sharding.shards)


def whole_of(part: Tensor):
    """The sharded or replicated tensor `part` (or an alias of it) is a part of, or None."""
    owner = _sharded_tensor_of.get(id(part))
    if owner is not None and _holds(owner, part):
        return owner
    owner = _sharded_tensor_by_value.get(id(part._value))
    if owner is not None and owner._sharding is not None and any(
            p is not None and p._value is part._value for p in owner._sharding.shards):
        return owner
    return None


def _take_shards_history(t: Tensor, changed) -> None:
    """`t`'s shards were written through views, or (`changed`, some of them) are views made
    anew: its grad_fn becomes theirs, named as theirs (torch's node for all of `t`, though
    the other shards keep theirs); a retained grad follows, as in torch; hooks stay with the
    old history."""
    old = t.grad_fn
    history = t._sharding.shards[:1] if isinstance(t._sharding.placement, Replicate) \
        else t._sharding.shards
    if not any(s is not None and s.grad_fn is not None for s in history):
        return
    t._requires_grad = True
    t.grad_fn = _ShardedGradFn(t._sharding)
    named = next((p.grad_fn for p in changed if p.grad_fn is not None), None)
    if named is not None:
        t.grad_fn._name = named.name()
    if t._retains_grad:
        if old is not None and old._retain_grad:
            old._retain_grad.pop(0, None)
        t._retains_grad = False
        t.retain_grad()


def take_views_history(t: Tensor) -> None:
    """`t` was written in place: if its parts are views (a sharded view), each was written
    through as a view and took its base's regenerated history, and so does `t`."""
    views = [p for p in t._sharding.shards if p is not None and p._viewed is not None]
    if views:
        _take_shards_history(t, views)


def replicated(value: Tensor, workers) -> Tensor:
    """`value` seen as replicated over `workers`; copies are made when an op needs them."""
    workers = list(workers)
    if value.device_str in workers:  # keep the value itself as the first copy
        workers.remove(value.device_str)
        workers.insert(0, value.device_str)
    return _wrap(Replicate(), [value] + [None] * (len(workers) - 1), workers)


class _ShardedGradFn:
    """grad_fn of a non-leaf sharded tensor: its edges are its shards' (or copies') nodes,
    taken when it was made. Backward goes through the shards themselves; hooks and
    retain_grad registered here (by Tensor.register_hook/retain_grad, as on any node) get
    the whole gradient through a `_JoinBackward` made at the next backward. It runs as a
    node only behind a plain tensor written in place with a sharded result (`a += s`):
    it splits that tensor's gradient among the shards."""

    n_outputs = 1
    _pre_hooks = _hooks = None
    _inline = False

    def __init__(self, sharding: Sharding):
        self._seq = next(graph._sequence)
        self.sharding = sharding
        self.next_functions = tuple(s._gradient_edge() if s is not None and s._requires_grad
                                    else (None, 0) for s in sharding.shards)
        made = [s for s in sharding.shards if s is not None]
        if isinstance(sharding.placement, Replicate):
            made = made[:1]
        names = {s.grad_fn.name() for s in made if s.grad_fn is not None}
        self._name = names.pop() if len(names) == 1 else "ShardedBackward"
        self._hook_list = None
        self._retained = None
        self._node_pre_hooks = []  # register_prehook's, run after the tensor hooks (torch's)
        self._node_post_hooks = []  # register_hook's: once its parts' nodes ran (_PartsRun)
        self.metadata = {}  # (torch's Node.metadata: the user's own notes)
        self.join = None
        _note_part_nodes(sharding)  # (an input's parts are told by their edges: _joined)
        if anomaly_mode._enabled:  # its forward stack kept, in metadata too, as a node's
            anomaly_mode.note(self)

    def name(self) -> str:
        return self._name

    def __getattr__(self, name: str):
        """What a custom Function's forward kept on its context (ctx.scale = ...), read on
        the node of an output placed from the Function's whole one (`function_node`): torch's
        grad_fn of that output is the context itself."""
        node = self.__dict__.get("function_node")
        if node is None or name.startswith("__"):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return getattr(node, name)

    @property
    def _name(self) -> str:
        return self._node_name

    @_name.setter
    def _name(self, name: str) -> None:
        # (its class is named as the node it stands for, as torch's node's class is:
        # code dispatches on type(grad_fn).__name__)
        self._node_name = name
        self.__class__ = _sharded_grad_fn_class(name)

    def register_prehook(self, fn):
        """fn(grad_outputs) before the node runs, on the whole gradient (its join's); may
        return new grad_outputs."""
        hook = _NodePreHook(fn)
        self._node_pre_hooks.append(hook)
        self._note_hooked()
        return RemovableHandle.listing(self._node_pre_hooks, hook)

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) once every part's node has run in a backward, on
        whole gradients, as a node's hook sees them: the one given (its join's), and each
        input's from what the parts' nodes gave it (a sharded input's parts joined, a
        copied one's summed)."""
        if not isinstance(self.sharding.placement, Shard) or any(
                node is None or node.name() != self._name for node, _ in self.next_functions):
            raise NotImplementedError(
                f"register_hook on the node of this tensor ({self._name}, placed "
                f"{self.sharding.placement!r}) is not supported: its op did not run part by "
                "part (a reduction or a matmul across the parts, a gathered fallback), so no "
                "one node per part has its inputs; register a tensor hook instead")
        self._node_post_hooks.append(fn)
        self._note_hooked()
        return RemovableHandle.listing(self._node_post_hooks, fn)

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"

    def save_original(self, tensor) -> None:
        """A sharded tensor's shards: each shard's own node keeps its original when it is
        written. A plain tensor written with this result: the shards' nodes ran on copies
        of it, which keep its original values (OpNode.save_original)."""
        for node, _ in self.next_functions:
            if node is not None and hasattr(node, "save_original"):
                node.save_original(tensor)
        # (a fallback's op ran on a gathered copy of the tensor, which that op's node saved)
        if hasattr(self.sharding.computed_by, "save_original"):
            self.sharding.computed_by.save_original(tensor)

    def has_saved(self) -> bool:
        return False

    def release(self) -> None:
        pass

    def apply(self, grads):
        g = grads[0]
        s = self.sharding
        if is_sharded(g):
            return list(placed_like(g, s).shards)
        if isinstance(s.placement, Replicate):
            first = s.shards[0].device_str
            return [g if g.device_str == first else g.to(first)] + [None] * (len(s.shards) - 1)
        return [_local_part(g, s, k, g.ndim) for k in range(len(s.shards))]

    # Tensor.register_hook and retain_grad set these, as on an OpNode: note that they did.
    @property
    def _tensor_pre_hooks(self):
        return self._hook_list

    @_tensor_pre_hooks.setter
    def _tensor_pre_hooks(self, hooks) -> None:
        self._hook_list = hooks
        self._note_hooked()

    @property
    def _retain_grad(self):
        return self._retained

    @_retain_grad.setter
    def _retain_grad(self, retained) -> None:
        self._retained = retained
        self._note_hooked()

    def _note_hooked(self) -> None:
        """Found at the next backward; and kept alive by its shards' nodes, as torch's hooks
        live on a node (the tensor may be dropped while its graph is still to be run)."""
        if self in _HOOKED_GRAD_FNS:
            return
        _HOOKED_GRAD_FNS.add(self)
        keep = _KeepAlive(self)
        for node, nr in self.next_functions:
            if node is not None and hasattr(node, "_tensor_pre_hooks"):
                if node._tensor_pre_hooks is None:
                    node._tensor_pre_hooks = []
                node._tensor_pre_hooks.append((nr, keep))

    def hooks(self) -> list:
        return [fn for _, fn in self._hook_list or ()]

    def pre_hooks(self) -> list:
        return list(self._node_pre_hooks)

    def post_hooks(self) -> list:
        return list(self._node_post_hooks)

    def current_edges(self) -> tuple:
        """Its edges; a replicated copy made since it was made adds its own, when it is a
        copy of this value (not of one written into the tensor since: its history leads
        back here)."""
        edges = list(self.next_functions)
        for k, (edge, copy_of) in self.sharding.made_edges.items():
            if edges[k][0] is None and copy_of == edges[0]:
                edges[k] = edge
        self.next_functions = tuple(edges)
        return self.next_functions

    def retained_tensor(self):
        ref = (self._retained or {}).get(0)
        return ref() if ref is not None else None


graph.Node.register(_ShardedGradFn)
_SHARDED_GRAD_FN_CLASSES: dict = {}


def _sharded_grad_fn_class(name: str) -> type:
    """The _ShardedGradFn subclass named as torch's node of this name is ("MulBackward0")."""
    cls = _SHARDED_GRAD_FN_CLASSES.get(name)
    if cls is None:
        short = name.rpartition("::")[2]  # torch::autograd::CopySlices -> CopySlices
        cls = _SHARDED_GRAD_FN_CLASSES[name] = type(short, (_ShardedGradFn,), {
            "__qualname__": short, "__module__": _ShardedGradFn.__module__})
    return cls


class _NodePreHook:
    """A node pre-hook called as a tensor hook is (the join calls both, in torch's order)."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, grad):
        new = self.fn((grad,))
        return None if new is None else new[0]


class _KeepAlive:
    """A tensor hook that does nothing: it holds a _ShardedGradFn while a node does."""

    __slots__ = ("owner",)

    def __init__(self, owner):
        self.owner = owner

    def __call__(self, grad):
        return None


def is_sharded(t) -> bool:
    return getattr(t, "_sharding", None) is not None


def placement_of(t) -> str:
    if is_sharded(t):
        s = t._sharding
        return f"{s.placement!r} over {s.workers}"
    if hasattr(t, "_storage"):
        return f"plain tensor on {t.device_str}"
    return "a number"


# ---- creating and gathering ------------------------------------------------------------------

def shard(tensor: Tensor, dim: int, workers=None, sizes=None) -> Tensor:
    """Split `tensor` along `dim` over `workers` (default: all), uneven sizes allowed:
    np.array_split's, or `sizes` (one per worker, some may be 0: torch.chunk's split).

    A leaf stays a leaf (each shard is a new leaf on its worker, keeping requires_grad);
    a non-leaf is scattered differentiably (its gradient is gathered back). A tensor that
    is already sharded or replicated is split again the same way, from its whole value.
    """
    workers = list(workers) if workers is not None else runtime.workers()
    if is_sharded(tensor):
        tensor = _whole(tensor, workers[0])
    if tensor.ndim == 0:
        raise IndexError("shard(): cannot shard a 0-dim tensor; reshape it to 1-D first")
    try:
        d = wrap_dim(dim, tensor.ndim)
    except IndexError as e:
        raise IndexError(f"{e}: shard() splits one of the tensor's dims, and a tensor of shape "
                         f"{list(tensor.shape)} has {tensor.ndim}; pass dim in that range") from None
    size = tensor.shape[d]
    if sizes is None:
        if size < len(workers):
            raise RuntimeError(f"shard(): dim {d} has size {size}, fewer rows than the "
                               f"{len(workers)} workers it should be split over; use fewer "
                               "workers")
        sizes = [len(p) for p in np.array_split(np.arange(size), len(workers))]
    elif len(sizes) != len(workers) or sum(sizes) != size:
        raise ValueError(f"shard(): sizes {list(sizes)} must give each of the {len(workers)} "
                         f"workers its rows of dim {d}, {size} in all")
    bounds = np.cumsum([0] + list(sizes))
    leaf = tensor.grad_fn is None
    # (shards in the tensor's memory format: channels_last stays so, as torch's copy would)
    fmt = getattr(layouts, layout.suggested_format(tensor.shape, tensor.stride()))
    shards = []
    for k, w in enumerate(workers):
        piece = tensor.narrow(d, int(bounds[k]), int(bounds[k + 1] - bounds[k]))
        shards.append(_new_leaf(piece, w, tensor._requires_grad, fmt) if leaf
                      else _copied(piece, w, fmt))
    return _wrap(Shard(d), shards, workers)


def _whole(t: Tensor, worker: str) -> Tensor:
    """A sharded or replicated `t` gathered on `worker`: of a leaf, a leaf with its values
    (the shards split from it are new leaves, as of a plain leaf); of a non-leaf, a
    differentiable gather."""
    if t.grad_fn is not None:
        return full_tensor(t, worker)
    with grad_mode.no_grad():
        whole = full_tensor(t, worker)
    return whole._set_requires_grad(t._requires_grad)


def _copied(piece: Tensor, worker: str, fmt=layouts.contiguous_format) -> Tensor:
    """A contiguous copy of `piece` on `worker` (differentiable), in memory of its own: a
    shard is a copy, and a piece that stays where it is would otherwise be a view of the
    tensor sharded, which a later write to that tensor (or a view of the shard) would
    reach. (Contiguous, as the sharded tensor says it is: a transpose's piece would keep
    its strides through .to(); a memory format's `fmt` is kept.)"""
    part = piece.contiguous(memory_format=fmt).to(worker)
    return part.clone() if part._storage.same_memory(piece._storage) else part


def from_parts(parts, dim: int) -> Tensor:
    """A tensor sharded on `dim` whose shards are `parts` (plain tensors, one per worker)."""
    return _wrap(Shard(dim), list(parts), [p.device_str for p in parts])


def shard_over_groups(tensor: Tensor, dim: int, groups, sizes=None) -> Tensor:
    """A leaf split along `dim` over the workers of each group alike (tensor parallel),
    each shard a replicated leaf over the workers that hold it in every group (data
    parallel): placements [Replicate(), Shard(dim)] on a 2-D mesh whose rows are `groups`.
    It is the shards of `groups[0]` that ops see; `group_view(t, groups[i])` is group i's.
    `sizes`: the shards' sizes along `dim`, as shard() takes them."""
    groups = [list(g) for g in groups]
    if len({len(g) for g in groups}) != 1:
        raise ValueError(f"shard_over_groups: groups {groups} must be of one size")
    if tensor.grad_fn is not None:
        raise RuntimeError("shard_over_groups: expected a leaf (a parameter); got a tensor "
                           f"made by {tensor.grad_fn.name()}")
    first = shard(tensor.detach(), dim, groups[0], sizes)
    columns = [[g[k] for g in groups] for k in range(len(groups[0]))]
    shards = [replicate(p._set_requires_grad(tensor._requires_grad), col)
              for p, col in zip(first._sharding.shards, columns)]
    return _wrap(first._sharding.placement, shards, groups[0])


def groups_of(t: Tensor) -> list | None:
    """The groups of a tensor made by shard_over_groups (None for any other)."""
    s = t._sharding if is_sharded(t) else None
    if s is None or not isinstance(s.placement, Shard) or not is_sharded(s.shards[0]):
        return None
    columns = [p._sharding.workers for p in s.shards]
    return [[col[i] for col in columns] for i in range(len(columns[0]))]


def group_view(t: Tensor, group: list) -> Tensor:
    """What the workers of `group` (one row of a 2-D mesh) hold of a leaf distributed over
    several groups: of one made by shard_over_groups, the shards there (sharded over the
    group); of a replicated one, its copies there (replicated over the group, or the one
    copy on the group's worker). Each is a leaf whose gradient is reduced with the other
    groups' copies'."""
    s = t._sharding
    if isinstance(s.placement, Replicate):
        ks = [s.workers.index(w) for w in group if w in s.workers]
        if len(ks) == 1:
            return s.replica(ks[0])
        placement, parts = s.placement, [s.replica(k) for k in ks]
    else:
        placement = s.placement
        parts = [p._sharding.replica(p._sharding.workers.index(w)) for p, w in zip(s.shards, group)]
    view = Tensor._make(None, t.shape, t.dtype, "sharded")
    view._sharding = Sharding(placement, parts, [c.device_str for c in parts])
    view._requires_grad = t._requires_grad
    return view


def _new_leaf(piece: Tensor, worker: str, requires_grad: bool,
              fmt=layouts.contiguous_format) -> Tensor:
    """A contiguous copy of `piece` (in `fmt`) on `worker` with no history (its own memory)."""
    with grad_mode.no_grad():
        part = piece.contiguous(memory_format=fmt).to(worker)
        if part is piece or part.device_str == piece.device_str:
            part = part.clone()
    return part._set_requires_grad(requires_grad)


def replicate(tensor: Tensor, workers=None) -> Tensor:
    """A full copy of `tensor` on each worker. Of a leaf that requires grad: a new leaf whose
    copies are leaves on their workers; their gradients are all-reduced worker to worker, so
    every copy holds the whole gradient (replicas.py), and an in-place update writes every
    copy where it lives. Of a non-leaf: its copies' gradients sum into `tensor`."""
    workers = list(workers) if workers is not None else runtime.workers()
    if is_sharded(tensor):  # a copy of its whole value (a replica's leaves are its own)
        tensor = _whole(tensor, workers[0])
    if tensor.grad_fn is None and tensor._requires_grad:
        first = _new_leaf(tensor, workers[0], True)
        copies = [first] + [_new_leaf(first, w, True) for w in workers[1:]]
        t = _wrap(Replicate(), copies, workers)
        t._sharding.reducer = replicas.attach([copies], reducer_copies=False)
        return t
    tensor = tensor.contiguous()  # (as a sharded tensor's parts are: its layout says so)
    copies = [tensor.to(w) for w in workers]
    return _wrap(Replicate(), copies, workers)


def full_tensor(t: Tensor, device: str = "cpu") -> Tensor:
    """The whole tensor on one device (differentiable gather)."""
    if grad_mode.is_grad_enabled():
        t._sharding.current(t)
    else:  # (its value only: a view whose history torch forbids may still be read)
        t._sharding.refresh(t)
    s = t._sharding
    if isinstance(s.placement, Replicate):
        return s.shards[0].to(device)
    if isinstance(s.placement, Partial):
        total = None
        for p in s.shards:
            q = p.to(device)
            total = q if total is None else record.call("add", total, q)
        return total
    return record.call("cat", *[p.to(device) for p in s.shards], dim=s.placement.dim)


def redistribute(t: Tensor, placement, workers=None) -> Tensor:
    """The same values under another placement (differentiable): gathered on the first
    worker, then split or copied again. For an op whose rule needs another layout."""
    s = t._sharding if is_sharded(t) else None
    workers = list(workers) if workers is not None else (s.workers if s else None)
    if s is not None and s.placement == placement and workers == s.workers:
        return t
    if s is not None and isinstance(s.placement, Partial) and workers == s.workers:
        if isinstance(placement, Replicate):  # all-reduce
            return _summed(t)
        if isinstance(placement, Shard):  # reduce-scatter
            d = wrap_dim(placement.dim, t.ndim)
            return _wrap(Shard(d), collectives.reduce_scatter(s.shards, d), s.workers)
    if isinstance(placement, Partial):
        raise ValueError("redistribute: a tensor cannot be made Partial (it is the result of "
                         "ops on sharded tensors, not a layout to ask for)")
    whole = full_tensor(t, (workers or [t.device_str])[0]) if s is not None else t
    if isinstance(placement, Replicate):
        return replicate(whole, workers)
    if isinstance(placement, Shard):
        if whole.grad_fn is None and whole._requires_grad:
            whole = whole * 1  # keep the result connected to `t` (shard() of a leaf makes new leaves)
        return shard(whole, placement.dim, workers)
    raise TypeError(f"redistribute: expected Shard(dim) or Replicate(), got {placement!r}")


def sharded_grad(t: Tensor):
    """`.grad` of a sharded tensor: its shards' grads, sharded alike; of a replicated one:
    its first copy's (where every copy's gradient is summed), replicated alike."""
    s = t._sharding
    if isinstance(s.placement, Replicate) and s.reducer is None:
        g = s.shards[0]._grad
        return replicated(g, s.workers) if g is not None else None
    grads = [_grad_of(p) for p in s.shards]
    if s.reducer is not None and s.reducer.keeps_parts(s.shards[0]):
        # (no_sync's parts, not reduced yet: read as their pending sum, written into)
        return _wrap(Partial(), s.reducer.pending_of(s.shards[0]), s.workers)
    if all(g is None for g in grads):
        return None
    grads = [g if g is not None else replicas.zeros_like(p) for g, p in zip(grads, s.shards)]
    given = s.grad
    if given is not None and given._sharding.placement == s.placement and len(grads) == len(
            given._sharding.shards) and all(a is b for a, b in zip(grads, given._sharding.shards)):
        return given  # (torch's .grad is one tensor, accumulated into in place: `is` holds)
    s.grad = _wrap(s.placement, grads, s.workers)
    return s.grad


def _grad_of(part: Tensor):
    """A shard's gradient; a shard that is itself replicated (the tensor-parallel shards
    of a data-parallel copy, on a 2-D mesh) has it on its copies."""
    return part._leaf_grad() if is_sharded(part) else part._grad


def set_sharded_grad(t: Tensor, value) -> None:
    s = t._sharding
    if value is None:
        for p in s.shards:
            if is_sharded(p):
                set_sharded_grad(p, None)
            elif p is not None:
                p._grad = None
        if s.reducer is not None:  # (zero_grad in no_sync drops the kept parts too)
            s.reducer.clear_pending(s.reducer.param_index(s.shards[0]))
        return
    value = placed_like(value, s)
    if isinstance(s.placement, Replicate) and s.reducer is None:
        s.shards[0]._grad = value._sharding.shards[0]
        return
    for p, g in zip(s.shards, value.shards):
        if is_sharded(p):
            set_sharded_grad(p, g)
        else:
            p._grad = g


def placed_like(t: Tensor, s: Sharding) -> Tensor:
    """`t` (sharded, replicated or plain) under the placement of `s`, split at its shards'
    sizes (which need not be np.array_split's: a slice of a sharded tensor keeps its rows
    where they were)."""
    if is_sharded(t) and t._sharding.same_split(s):
        return t
    if not isinstance(s.placement, Shard):
        return redistribute(t, s.placement, s.workers)
    d = s.placement.dim
    whole = full_tensor(t, s.workers[0]) if is_sharded(t) else t
    bounds = np.cumsum([0] + s.sizes)
    return _wrap(Shard(d), [whole.narrow(d, int(a), int(b - a)).to(w)
                            for a, b, w in zip(bounds, bounds[1:], s.workers)], s.workers)


def like_shards(t: Tensor, make) -> Tensor:
    """A new tensor placed as `t`, `make(part)` for each of its parts (for zeros_like and
    friends); a replicated one is made once and copied, so its copies are equal, and so is
    a pending sum's (as DTensor's: its parts would add up)."""
    s = t._sharding
    if isinstance(s.placement, (Replicate, Partial)):
        return replicate(make(s.shards[0]), s.workers)
    return _wrap(s.placement, [like_shards(p, make) if is_sharded(p) else make(p)
                               for p in s.shards], s.workers)


def new_placed(t: Tensor, make, make_part) -> Tensor:
    """A new_zeros/new_full/... of `t` placed as DTensor places it: split as `t` is when it
    has t's shape and `t` is split (`make_part(part)` for each part), else a copy on each of
    t's workers (Replicate; of a pending sum too, whose parts would add up)."""
    s = t._sharding
    if isinstance(s.placement, Shard) and make("meta").shape == t.shape:
        return like_shards(t, make_part)
    return replicate(make("cpu"), s.workers)


def assign_inplace(t: Tensor, result: Tensor) -> None:
    """`t.add_(...)` on a sharded tensor: each shard (every copy of a replicated one) is
    updated where it lives; a result placed otherwise is redistributed to `t`'s placement."""
    if not is_sharded(t):
        raise RuntimeError(f"in-place op: a sharded result ({placement_of(result)}) cannot be "
                           f"written into a {placement_of(t)}; use .full_tensor() first")
    copied = t._sharding.copied_view_of
    if copied is not None:
        check_view_writable(t, result)
        if not copied.write_back(result, t):
            raise RuntimeError(f"in-place op on the result of '{copied.name}' of a sharded "
                               "tensor: no sharding rule makes it a view (it was gathered and "
                               "copied), so the write would not reach its base; write to the "
                               "base, or to a .clone() of the result")
        _copy_written(t, result)
        return
    result = placed_like(result, t._sharding)
    written = {}  # id(base) -> (the sharded base, its parts written through t's)
    refused = None
    for dst, src in zip(t.shards, result.shards):
        try:
            dst._inplace(src, overlap_ok=True)  # (the whole tensor's write was checked)
        except RuntimeError as e:  # torch refuses an inference tensor's write once it is
            if not dst.is_inference():  # done: every part takes it before the error
                raise
            refused = e
            continue
        owner = _sharded_tensor_of.get(id(dst._viewed)) if dst._viewed is not None else None
        if owner is not None and owner is not t and _holds(owner, dst._viewed):
            written.setdefault(id(owner), (owner, []))[1].append(dst._viewed)
    for owner, parts in written.values():
        _count_on_every_shard(owner, parts)
        _take_shards_history(owner, parts)
    if refused is not None:
        raise refused


def _count_on_every_shard(owner: Tensor, written) -> None:
    """A write through a view of `owner` reached the shards `written`: torch's tensor has one
    version counter, so its other shards count the write too (what an op saved of them is
    stale: its backward refuses before any shard's gradient is accumulated)."""
    for part in owner._sharding.shards:
        if part is not None and not any(part is w for w in written):
            part._storage.wrote()


def check_view_write(t: Tensor, result: Tensor) -> None:
    """torch's autograd checks of a write into `t`, before the kernel's (an overlapping
    expand's): of a copy standing for a view, and of a view of a leaf whose parts' views
    torch would rebuild (the parts of one it forbids refuse it in their words)."""
    if t._sharding.copied_view_of is not None or (t._is_view() and _view_kind_of(t) is None):
        check_view_writable(t, result)


def check_view_writable(t: Tensor, result: Tensor) -> None:
    """torch's check_inplace of a write of `result` through `t`, a copy standing for a
    view, before anything is written: a view it forbids writing, or a view of a leaf."""
    if not grad_mode.is_grad_enabled() or not (result._requires_grad or t._requires_grad):
        return
    if t._view_kind is not None:
        raise t._rebase_error(stale=False)
    if t._requires_grad and _view_base(t).is_leaf:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")


def _copy_written(t: Tensor, result: Tensor) -> None:
    """`t`, a copy standing for a view, was written (into its base, write_back): what ops
    saved of it is stale now, as what they saved of torch's view would be; the writing
    op keeps the values from before the write, as torch's in-place ops keep `self`."""
    s = t._sharding
    base = s.copied_view_of.inputs[0]
    for src in (result._sharding.shards if is_sharded(result) else [result]):
        node = getattr(src, "_grad_fn", None)
        if hasattr(node, "saved_outputs_follow"):  # (exp_ keeps its result: torch's view)
            node.saved_outputs_follow(base)
    srcs = result._sharding.shards if is_sharded(result) and result._sharding.same_split(s) \
        else [None] * len(s.shards)
    # (a part that is the base's memory again, made anew from it, counted the write there)
    counted = {id(p._storage) for p in getattr(base._sharding, "shards", ()) if p is not None}
    for part, src in zip(s.shards, srcs):
        if part is None:
            continue
        node = getattr(src, "_grad_fn", None)
        if hasattr(node, "save_original"):
            node.save_original(part)
        if id(part._storage) not in counted:
            part._storage.wrote()


# ---- dispatch ----------------------------------------------------------------------------------

def dispatch(name: str, inputs, attrs):
    _bring_up_to_date(inputs)
    op = lookup(name)
    op.shape(*inputs, **attrs)  # (torch's checks, of the whole operands: a part's sizes differ)
    _check_driver_indices(name, op, inputs, attrs)
    if any(_is_partial(t) for t in inputs):
        out = _keep_pending(name, inputs, attrs)
        if out is not NotImplemented:
            return out
        inputs = [_summed(t) if _is_partial(t) else t for t in inputs]
    rule = RULES.get(op.sharding)
    # (saved-tensor hooks see each tensor the op saves once, whole: sharded_saved.py)
    out = NotImplemented if rule is None else sharded_saved.run_rule(rule, name, inputs, attrs)
    if out is NotImplemented:
        out = _fallback(name, inputs, attrs)
    else:
        out = _views_of_copies_are_copies(name, inputs, attrs, out)
    if op.view:
        return _laid_out_as_view(op, inputs, attrs, out)
    if op.elementwise:
        _laid_out_as_operands(inputs, out)
    _named_as_the_op(op, inputs, attrs, out)
    return out


# Ops that read their sharded operand at the places a tensor of indices gives.
_READ_AT_INDICES = {"index_select", "take_along_dim", "take", "index", "embedding"}


def _check_driver_indices(name, op, inputs, attrs) -> None:
    """An index out of range raises torch's error now, as torch's does, not when a result
    is read (the op runs on workers): when the indices are on the driver, its kernel runs
    there on a stand-in for the sharded operand that has its sizes and no memory."""
    x = inputs[0]
    indices = [t for t in inputs[1:] if hasattr(t, "_storage")]
    if name not in _READ_AT_INDICES or not is_sharded(x) or not indices or any(
            t.device_str != "cpu" for t in indices):
        return
    values = [t._value if hasattr(t, "_storage") else t for t in inputs[1:]]
    if name == "index":  # (its result may be large: the check its kernel makes first)
        from ..ops.indexing import _check_in_range

        _check_in_range(x.shape, values, attrs["key"])
        return
    shape = list(x.shape)
    if name == "index_select" and x.ndim > 1:  # (its result is the index's rows: of size 1)
        d = attrs["dim"] % x.ndim
        shape = [n if k == d else min(n, 1) for k, n in enumerate(shape)]
    op.forward(np.broadcast_to(np.zeros((), x.dtype.np), shape), *values, **attrs)


def _named_as_the_op(op, inputs, attrs, out) -> None:
    """A sharded result's node has torch's name for the op, whatever its parts ran: a sum
    over the split dim is an all-reduce's adds, a mean a division of them."""
    name = op.node_name(inputs, attrs)
    for o in out if isinstance(out, tuple) else (out,):
        node = o._grad_fn if is_sharded(o) else None
        if name and isinstance(node, _ShardedGradFn):
            node._name = name


def _bring_up_to_date(inputs) -> None:
    """The sharded operands of an op (or of a custom Function, apply_gathered) as they are
    now: a copy standing for a view whose base was written since is made again from it,
    with its history when grad mode is on; a leaf's shards require grad as it does."""
    history = grad_mode.is_grad_enabled()
    for t in inputs:
        if not is_sharded(t):
            continue
        if not history:  # (values only: as torch, a view whose history is forbidden may
            t._sharding.refresh(t)  # still be read; a copy standing for one is made again)
        if (t.grad_fn if history else t._grad_fn) is None:
            _leaf_shards_follow(t)  # (grad_fn brings t up to date first)


def _laid_out_as_operands(inputs, out) -> None:
    """An elementwise result of a sharded tensor laid out otherwise than row-major (a
    transpose of one) is laid out as its operands, as torch lays it out (its parts, computed
    from theirs, are already)."""
    tensors = [t for t in inputs if hasattr(t, "_storage")]
    if all(t._layout is None for t in tensors):
        return
    # (a row-major operand counts too: the first operand decides where strides disagree)
    operands = [(t.shape, t._strides_offset()[0]) for t in tensors]
    strides = layout.elementwise_strides(out.shape, operands)
    if strides is not None and is_sharded(out):
        out._layout = (strides, 0)


def _laid_out_as_view(op, inputs, attrs, out):
    """A view of a sharded tensor has the layout torch's view of the whole tensor would
    have (its stride(), is_contiguous()): a column of a row-sharded matrix is not
    contiguous, though each shard's piece of it is."""
    x = inputs[0]
    if not is_sharded(x):
        return out
    strides, offset = x._strides_offset()
    for k, o in enumerate(out if isinstance(out, tuple) else (out,)):
        if is_sharded(o):
            o._layout = op.strides(x.shape, strides, offset, o.shape, k, attrs)
            o._sharded_view = True  # (its parts are views, or it is a copy standing for one)
            o._sharding.view_op = (x, op.name, attrs, k, x._storage.counter.count)
            if o._sharding.copied_view_of is None:
                # torch's view shares its base's version counter (and memory): a write
                # through it counts once for the base, whichever parts it reached
                o._storage = x._storage
            else:  # (a copy standing for one counts its writes to the base itself)
                o._storage.memory = x._storage.memory or x._storage  # (overlap checks)
            node = o._grad_fn
            if isinstance(node, _ShardedGradFn):  # (torch's node, whatever the parts ran:
                node._name = op.node_name(inputs, attrs)  # a split's parts are slices)
            if isinstance(out, tuple):  # (torch's output_nr, and its errors' "Output k of":
                for named in [o] + [p for p in o._sharding.shards if p is not None]:
                    named._named_as = (node, k)  # a write to a part raises them too)
    return out


# ---- pending sums (Partial) --------------------------------------------------------------------

# Rules of ops that are linear in their one tensor operand: on a pending sum, part by part.
_LINEAR_RULES = {"transpose", "reshape", "unsqueeze", "select", "expand"}
_LINEAR_OPS = {"neg", "sum", "clone", "mul", "div"}


def _is_partial(t) -> bool:
    return is_sharded(t) and isinstance(t._sharding.placement, Partial)


def _summed(t: Tensor) -> Tensor:
    """A pending sum made whole: one all-reduce; each worker's copy made when first needed."""
    return _all_reduce(t._sharding.shards)


def _keep_pending(name, inputs, attrs):
    """The op on a pending sum, kept pending when the op is linear in it: part by part, or
    for `P + x`, x added to the first part only. NotImplemented: sum it first."""
    tensors = [t for t in inputs if hasattr(t, "_storage")]
    partials = [t for t in tensors if _is_partial(t)]
    s = partials[0]._sharding
    if any(p._sharding.workers != s.workers for p in partials):
        return NotImplemented
    others = [t for t in tensors if not _is_partial(t)]
    if any(is_sharded(t) and isinstance(t._sharding.placement, Shard) for t in others):
        return NotImplemented
    if name in ("add", "sub") and len(inputs) == 2 and _is_partial(inputs[0]):
        if not _is_partial(inputs[1]):  # the sum gets x once: on the first part
            first = record.call(name, s.shards[0], _replica_on(inputs[1], s.workers[0])
                                if hasattr(inputs[1], "_storage") else inputs[1], **attrs)
            return _wrap(Partial(), [first] + s.shards[1:], s.workers)
        return _part_by_part(name, inputs, attrs, s)
    linear = lookup(name).sharding in _LINEAR_RULES or name in _LINEAR_OPS
    if not linear or len(partials) != 1 or (name == "div" and not _is_partial(inputs[0])):
        return NotImplemented
    if name in ("mul", "div") and len(others) + len(partials) < len(tensors):
        return NotImplemented
    if lookup(name).sharding in _LINEAR_RULES and others:
        return NotImplemented  # (an index tensor: not linear in the operand)
    return _part_by_part(name, inputs, attrs, s)


def _part_by_part(name, inputs, attrs, s: Sharding) -> Tensor:
    parts = []
    for k, w in enumerate(s.workers):
        args = [t._sharding.shards[k] if _is_partial(t) else
                _replica_on(t, w) if hasattr(t, "_storage") else t for t in inputs]
        parts.append(record.call(name, *args, **attrs))
    return _wrap(Partial(), parts, s.workers)


def _views_of_copies_are_copies(name, inputs, attrs, out):
    """A view of a fallback's copy of a view is no view of the original either."""
    if lookup(name).view and any(is_sharded(t) and t._sharding.copied_view_of is not None
                                 for t in inputs):
        _mark_copied_view(name, inputs, attrs, out)
    return out


def _mark_copied_view(name, inputs, attrs, out) -> None:
    """`out`, a copy standing for view op `name`'s result, is marked so (_CopiedView.mark);
    made under no_grad of a tensor that requires grad, it is such a view (its history may
    not be made anew after a write to its base)."""
    _CopiedView.mark(name, inputs, attrs, out)
    if not grad_mode.is_grad_enabled() and getattr(inputs[0], "_requires_grad", False):
        base = _view_base(inputs[0])
        for o in out if isinstance(out, tuple) else (out,):
            _as_no_grad_view(o)
            record.note_no_grad_view(base, o)


def _leaf_shards_follow(t: Tensor) -> None:
    """A sharded leaf's shards require grad as it does (deepcopy sets its flag alone); a
    replicated leaf's other copies are moves of its first made while it did as now, else
    they are made again when needed."""
    s = t._sharding
    first = s.shards[0]
    if s.reducer is not None:  # every copy is a leaf of its own
        for p in s.shards:
            if p._requires_grad != t._requires_grad:
                p._set_requires_grad(t._requires_grad)
        return
    if first._requires_grad != t._requires_grad:
        first._set_requires_grad(t._requires_grad)
        if isinstance(s.placement, Shard):
            for p in s.shards[1:]:
                p._set_requires_grad(t._requires_grad)
    # (a view's other copies are views of its base's copies: a write through it reaches them)
    if isinstance(s.placement, Replicate) and not t._is_view() and (
            t._requires_grad and s.makers or any(
                p is not None and (p._requires_grad != t._requires_grad or
                                   t._requires_grad and p.grad_fn is None)
                for p in s.shards[1:])):
        s.shards[1:] = [None] * (len(s.shards) - 1)
        s.makers = None


_warned_ops = set()


def _fallback(name, inputs, attrs):
    """No rule covers these operands: gather them on the first sharded operand's first
    worker, run the op there, and place the result as that operand is (replicated when its
    shape does not allow it). Differentiable, as every step is; slower, so counted and
    warned about once per op."""
    ref = next(t for t in inputs if is_sharded(t))
    home = ref._sharding.workers[0]
    _note_fallback(name, inputs, home)
    out = record.call(name, *[whole_on(t, home) for t in inputs], **attrs)
    outs = tuple(_placed_as(o, ref) for o in (out if isinstance(out, tuple) else (out,)))
    for o, whole in zip(outs, out if isinstance(out, tuple) else (out,)):
        if is_sharded(o):
            o._sharding.computed_by = whole._grad_fn
    out = outs if isinstance(out, tuple) else outs[0]
    if lookup(name).view:  # a copy: a write to it would not reach its base
        _mark_copied_view(name, inputs, attrs, out)
    return out


def _view_base(t):
    """What torch would call the base of a view of `t`: `t`'s own base; for a sharded view,
    the sharded tensor whose parts its parts view; for a copy standing in for a view, its
    parent's base."""
    if not is_sharded(t):
        return t._viewed if getattr(t, "_viewed", None) is not None else t
    s = t._sharding
    if s.copied_view_of is not None:
        return _view_base(s.copied_view_of.inputs[0])
    part = next((p for p in s.shards if p is not None), None)
    owner = s.viewed if s.viewed is not None else _sharded_tensor_of.get(id(part._viewed)) \
        if part is not None and part._viewed is not None else None
    return owner if owner is not None and _holds(owner, part._viewed) else t


def _view_kind_of(t):
    """Why torch forbids rebuilding the history of `t`, a view (made under no_grad, in a
    custom Function, ...): its own, or its parts'; None for a view torch rebuilds."""
    kind = getattr(t, "_view_kind", None)
    if kind is None and is_sharded(t):
        kind = t._sharding.parts_view_kind()
    return kind


def _as_no_grad_view(t: Tensor) -> None:
    """As a view made under no_grad of a tensor that requires grad (record._make_view):
    it requires grad but gets no .grad, and a gradient reaching it goes nowhere; so do its
    parts, which the ops on it run on. Its history may not be made anew after a write to
    its base (_CopiedView.check_rebase)."""
    t._view_kind = "no_grad"
    for x in [t] + [p for p in t._sharding.shards if p is not None]:
        x._requires_grad = True
        x._no_accumulator = True


class _CopiedView:
    """A sharded copy standing in for a view no sharding rule makes (a flatten across the
    sharded dim): a write to it is written back into its base where the view op can be
    undone, and refused otherwise (assign_inplace); a write to its base since it was made
    makes it again from the base when it is next read, so it shows what torch's view would."""

    __slots__ = ("name", "inputs", "attrs", "index", "stamp", "made")

    def __init__(self, name, inputs, attrs, index):
        self.name, self.inputs, self.attrs, self.index = name, inputs, attrs, index
        self.stamp = _written(inputs)  # the base's writes this copy has seen
        self.made = self.stamp  # and those when the view was made (check_rebase)

    @classmethod
    def mark(cls, name, inputs, attrs, out) -> None:
        outs = out if isinstance(out, tuple) else (out,)
        for k, o in enumerate(outs):
            if is_sharded(o):
                o._sharding.copied_view_of = cls(name, list(inputs), dict(attrs), k)
                # What an op saves of it is stale after a write to the base, as torch's
                # view shares the base's version counter.
                for part in o._sharding.shards:
                    if part is not None and part._stands_for is None:
                        part._stand_for(inputs[0], shown=o)
                # (a view of such a view is one: record._make_view; so is an output of
                # unbind or split, whose history torch will not rebuild after a write)
                o._view_kind = ("multi" if isinstance(out, tuple) else None) or \
                    _view_kind_of(inputs[0])

    def of_untracked_base(self, own_versions: bool) -> "_CopiedView":
        """The same view of its base detached (or its .data, `own_versions`): the copy
        of torch's `view.detach()`, whose writes reach the base's memory, not its history."""
        base = self.inputs[0]
        untracked = base.data if own_versions else base.detach()
        return _CopiedView(self.name, [untracked] + self.inputs[1:], self.attrs, self.index)

    def write_back(self, value, copy) -> bool:
        """Write `value`, the new values of `copy` (this view's copy), into its base as a
        write through torch's view does (the copy is made again from it when next read);
        False if this view op cannot be undone (ops/views.py). The write was checked
        where it was made: the base may be an expanded view itself."""
        from ..ops.views import UNDOABLE, one_output, scatter_by_place, unexpand, unview

        base = self.inputs[0]
        if not hasattr(base, "_storage"):
            return False
        name, attrs = one_output(self.name, self.attrs, self.index, base.shape)
        if name == "expand":
            written = unexpand(base, copy.detach(), value)
        elif name == "as_strided":  # (its places are in the base's memory: checked when made)
            written = record.call("copy_slices", scatter_by_place(base, attrs, value))
        # (torch's reshape is a view only for some layouts: here, for a base that is
        # contiguous, shards and all; other reshapes' copies still refuse)
        elif name not in UNDOABLE or (name == "reshape" and not _contiguous_throughout(base)):
            return False
        else:
            written = unview(name, attrs, base, value)
        base._inplace(written, overlap_ok=True)
        node = base._grad_fn
        if isinstance(node, _ShardedGradFn) and not base._is_view():
            node._name = "torch::autograd::CopySlices"  # (torch's, whatever undid the view)
        return True

    def made_from_root(self):
        """This view made again from the base it copies (through new copies of the views
        between, when its parent is such a copy too): torch regenerates a view from its base
        as one as_strided, so a view between them, and its hooks and retained grad, are not
        on the new history's way."""
        inputs = list(self.inputs)
        parent = inputs[0]
        if is_sharded(parent) and parent._sharding.copied_view_of is not None:
            inputs[0] = parent._sharding.copied_view_of.made_from_root()
        elif is_sharded(parent) and _view_base(parent) is not parent:
            inputs[0] = _sharded_view_made_again(parent)
        fresh = record.call(self.name, *inputs, **self.attrs)
        return fresh[self.index] if isinstance(fresh, tuple) else fresh

    def check_rebase(self, t) -> None:
        """torch's error for a view made under no_grad (or one it forbids writing) whose
        base was written since, when its history is used: as Tensor._refresh_view."""
        base = self.inputs[0]
        if t._view_kind is not None and getattr(base, "_requires_grad", False) and \
                _written(self.inputs) != self.made:
            raise t._rebase_error(stale=True)

    def refresh(self, t) -> None:
        # A view torch will not give a new history (made under no_grad, in a custom Function)
        # is made again for its values only; using its history still raises (check_rebase).
        forbidden = t._view_kind is not None
        with_grad = not forbidden and any(getattr(x, "_requires_grad", False)
                                          for x in self.inputs)
        for x in self.inputs:  # (their values; their histories too when t takes one)
            if is_sharded(x):
                (x._sharding.current if with_grad else x._sharding.refresh)(x)
        if _written(self.inputs) == self.stamp:
            return
        with grad_mode.set_grad_enabled(with_grad):
            fresh = self.made_from_root()
        if forbidden:
            fresh._sharding.copied_view_of.made = self.made
        old = t._grad_fn
        t._sharding = fresh._sharding
        if not forbidden:  # (one keeps requiring grad; its history may not be used)
            t._requires_grad, t._grad_fn = fresh._requires_grad, fresh._grad_fn
            if isinstance(t._grad_fn, _ShardedGradFn):  # (torch's regenerated view's name)
                t._grad_fn._name = "AsStridedBackward0"
        _note_parts(t, t._sharding.shards)
        if t._retains_grad:  # (as a regenerated view's grad is retained on its new node)
            if old is not None and old._retain_grad:
                old._retain_grad.pop(0, None)
            t._retains_grad = False
            t.retain_grad()


def _sharded_view_made_again(t):
    """Sharded view `t` made again from its base: each part's view ops replayed on the
    base's part. The same memory and values, with a history that does not pass through
    `t`'s own node, so its hooks and retained grad are not on the way (as torch's view
    regenerated from its base); `t` itself when a part is not there to replay."""
    from ..ops.views import view_chain

    parts = []
    for part in t._sharding.shards:
        if part is None or part._viewed is None:
            return t
        x = part._viewed
        for _, name, attrs, k in view_chain(part):
            out = record.call(name, x, **attrs)
            x = out[k] if isinstance(out, tuple) else out
        parts.append(x)
    return _wrap(t._sharding.placement, parts, t._sharding.workers)


def _contiguous_throughout(t) -> bool:
    """Whether `t` is contiguous, and so is each of its parts if it is sharded."""
    if not t.is_contiguous():
        return False
    return not is_sharded(t) or all(p is None or _contiguous_throughout(p)
                                    for p in t._sharding.shards)


def _written(inputs) -> list:
    """The memory each tensor among `inputs` is in now, and how often it was written (by
    any handle on it, a `.data` one too): of a plain one, of a sharded one's shards."""
    stamp = []
    for x in inputs:
        if is_sharded(x):
            # (a replicated tensor's other copies are written with its first, and one made
            # since, on first use, is not a write)
            s = x._sharding
            parts = s.shards[:1] if isinstance(s.placement, Replicate) else s.shards
            stamp.extend(p._storage.memory_stamp() for p in parts if p is not None)
        elif hasattr(x, "_storage"):
            stamp.append(x._storage.memory_stamp())
    return stamp


def _writes(a):
    """An operand's version (None for a non-tensor); an inference tensor's writes (torch
    shows it no version, but it is written in inference_mode)."""
    if not hasattr(a, "_storage"):
        return None
    return a._storage.writes(a) if a._storage.inference else a._version


def apply_gathered(function, args, kwargs):
    """A custom autograd.Function on sharded operands falls back as an op without a rule:
    it runs on the gathered operands, and its outputs are placed as the first sharded
    one. An operand it wrote in place (mark_dirty) takes the new values and history, and
    stands for that output, as in torch."""
    _bring_up_to_date(args)  # (as an op's operands: a stale copied view is made again)
    ref = next(a for a in args if is_sharded(a))
    home = ref._sharding.workers[0]
    _note_fallback(function.__name__, args, home)
    whole = [whole_on(a, home) for a in args]
    versions = [_writes(a) for a in whole]
    out = function.apply(*whole, **kwargs)
    outs = list(out) if isinstance(out, tuple) else [out]
    for a, w, v in zip(args, whole, versions):
        if is_sharded(a) and _writes(w) != v:  # written in place
            writes = _writes(w) - v
            if a._requires_grad and a._grad_fn is None and any(o is w for o in outs):
                _refuse_written_leaf(a, w, writes)
            a._inplace(_placed_as(w, a))
            for _ in range(writes - 1):  # (torch's operand counts each of them)
                a._count_write()
            if w._stands_for is a:  # its writes are a's now: what the Function saved of
                w._storage.version -= writes  # it counts them once, as torch's operand
                _saved_outputs_stand_for(w, a)
            outs = [a if o is w else o for o in outs]
    placed = [o if is_sharded(o) or not hasattr(o, "_storage") else _placed_as(o, ref)
              for o in outs]
    # The tensors the Function made that its outputs view, placed once: an output that is
    # no view first (its views in torch have it as their base).
    made = {_memory_of(o): p for o, p in zip(outs, placed) if o is not p and o._viewed is None}
    placed = [p if p is o or o._viewed is None else
              _as_view_of_operand(o, p, args, whole, made) for o, p in zip(outs, placed)]
    for o, p in zip(outs, placed):
        if p is not o:
            _saved_as(o, p)
            if isinstance(p._grad_fn, _ShardedGradFn) and isinstance(o._grad_fn, function._backward_cls):
                p._grad_fn.function_node = o._grad_fn
    return tuple(placed) if isinstance(out, tuple) else placed[0]


def _memory_of(t: Tensor) -> tuple:
    """The memory a tensor views and how (a detached tensor is another on the same)."""
    return id(t._storage.memory or t._storage), t.shape, t._strides_offset()


def _refuse_written_leaf(a: Tensor, whole: Tensor, writes: int) -> None:
    """A sharded leaf that requires grad, written by a Function and returned (mark_dirty):
    torch writes it and counts the writes, then refuses it (function.py's refusal)."""
    with grad_mode.no_grad():
        a._inplace(_placed_as(whole.detach(), a))
    for _ in range(writes - 1):
        a._count_write()
    raise RuntimeError(WRITTEN_LEAF)


def parts_edges(t: Tensor):
    """The gradient edges of a sharded tensor's parts (None for a part that requires none);
    None for a replicated or pending one (its copies are one value's)."""
    s = t._sharding
    if not isinstance(s.placement, Shard):
        return None
    return [p._gradient_edge() if p._requires_grad else None for p in s.shards]


def with_parts_edges(t: Tensor, edges) -> Tensor | None:
    """t's values (what an unpack hook gave) split as they are, each part given its edge
    back (torch's unpacked tensor has the saved one's history); None when t is not split
    as the saved tensor was."""
    s = t._sharding
    if not isinstance(s.placement, Shard) or len(s.shards) != len(edges):
        return None
    parts = [graph.with_edge(p.detach(), e) if e is not None else p.detach()
             for p, e in zip(s.shards, edges)]
    return _wrap(s.placement, parts, s.workers)


def _saved_as(o: Tensor, placed: Tensor) -> None:
    """`o`, a Function's whole output, is what its node saved of it; `placed` is what the
    user holds. torch saves the output itself: a write to `placed` makes what was saved
    stale, and the error names `placed`."""
    if any(part is o for part in placed._sharding.shards):
        return  # (a replicated output's first copy is `o` itself: its writes are o's)
    o._stand_for(placed)
    _saved_outputs_stand_for(o, placed)


def _saved_outputs_stand_for(o: Tensor, placed: Tensor) -> None:
    """What o's node saved of it as an output (a handle of its own on o's memory) is
    checked, and named, as `placed` too."""
    for saved in getattr(o._grad_fn, "_saved", None) or ():
        if saved is not None and saved.is_output and saved.tensor is not None and \
                saved.tensor._storage is o._storage:
            saved.tensor._stand_for(placed)


def _as_view_of_operand(o: Tensor, placed: Tensor, args, whole, made: dict) -> Tensor:
    """`o`, a Function's output, placed (`placed`). When `o` is a view of the gathered copy
    of a sharded operand, torch's output shares that operand's memory: the same view ops
    are taken of the operand itself (a copy standing for a view where no rule makes one),
    and their parts take the history `placed` has, split as they are (a view made in a
    custom Function, which torch forbids writing in place while it requires grad). A view
    of a tensor the Function made is taken of that tensor placed (`made`: memory → placed)."""
    steps = None
    for a, w in zip(args, whole):
        steps = _view_steps(o, w) if is_sharded(a) else None
        if steps is not None:
            operand = a
            break
    if steps is None and o._viewed is not None:
        # a view of a tensor the Function made: torch's output views that tensor's memory
        # (which its other outputs may view too), placed as the Function's operands are
        steps, base = _view_steps(o, o._viewed), o._viewed
        memory = _memory_of(base)
        if memory not in made:  # (a detached base is another tensor on the same memory)
            with grad_mode.no_grad():
                made[memory] = _placed_as(base, next(a for a in args if is_sharded(a)))
        operand = made[memory]
    if steps is None:
        return placed
    with grad_mode.no_grad():
        view = operand
        for _, op, attrs, k in steps:
            view = record.call(op, view, **attrs)
            view = view[k] if isinstance(view, tuple) else view
        if view is operand:  # the operand returned as it is: torch's output is an alias of it
            view = record.call("alias", operand)
    s = view._sharding if is_sharded(view) else None
    if s is None or not isinstance(s.placement, (Shard, Replicate)):
        return placed
    history = None
    if placed._requires_grad:  # placed's history, split as the view is
        history = placed if s.same_split(placed._sharding) else placed_like(placed, s)
    kind = o._view_kind or "function"  # (the Function made it: one of several outputs, ...)
    for k in range(len(s.workers)):
        part = _part(s, k)
        part._view_kind = kind
        part._no_accumulator = False
        part._requires_grad = False
        if history is not None:
            part._take_history(_part(history._sharding, k))
            part._named_as = (o._grad_fn, o._output_nr)  # (torch's errors name the Function)
    out = _wrap(s.placement, s.shards, s.workers)
    if isinstance(out._grad_fn, _ShardedGradFn) and history is not None:
        out._grad_fn._name = placed._grad_fn.name()  # (the Function's: the parts' are moves)
    out._sharding.copied_view_of = s.copied_view_of  # (a copy: written back to the operand)
    out._view_kind = kind
    out._sharded_view = True
    # (laid out as the view, in its memory: the operand's, whose counter the view shares)
    out._layout, out._storage.memory = view._layout, view._storage.memory or view._storage
    return out


def _view_steps(o: Tensor, w) -> list | None:
    """The view ops that make `o` of `w` (the gathered copy of an operand), None when `o`
    is no view of it. `w` may be a view itself (of a transpose, gathered in memory order
    and permuted back: _gathered_in_layout): the steps are those below it, none for `w`
    returned as it is."""
    from ..ops.views import view_chain

    if not hasattr(w, "_storage") or o._viewed is None or o._viewed is not (
            w if w._viewed is None else w._viewed):
        return None
    chain = view_chain(o)
    if w._viewed is None:
        return chain
    if o._view_of is None:  # an input returned as it is (autograd.function._alias)
        return [] if (o.shape, o._strides_offset()) == (w.shape, w._strides_offset()) else None
    below = next((i for i, (parent, _, _, _) in enumerate(chain) if parent is w), None)
    return None if below is None else chain[below:]


def _part(s: Sharding, k: int) -> Tensor:
    """Part k of a sharding: a shard, or the copy on worker k of a replicated tensor
    (made now if it was not yet)."""
    return s.replica(k) if isinstance(s.placement, Replicate) else s.shards[k]


def _note_fallback(name, inputs, home) -> None:
    runtime.fallbacks[(home, name)] += 1
    if name in _warned_ops:
        return
    _warned_ops.add(name)
    places = [placement_of(t) for t in inputs if t is not None and not isinstance(t, (int, float))]
    warnings.warn(f"no sharding rule covers op '{name}' with operands {' and '.join(places)}: "
                  f"it gathers them on {home}, computes there and reshards (a fallback, counted "
                  "in distgrad.distributed.stats()); use .full_tensor() or "
                  "distgrad.distributed.redistribute() to choose the layout", UserWarning,
                  stacklevel=6)


def whole_on(t, worker):
    """`t` (plain, sharded, replicated or a pending sum) whole on `worker` (differentiable)."""
    if not hasattr(t, "_storage"):
        return t
    return _carried(t, lambda t: _whole_copy_on(t, worker))


def _whole_copy_on(t, worker):
    if is_sharded(t):
        if isinstance(t._sharding.placement, Replicate):
            return _replica_on(t, worker)
        return _gathered_in_layout(t, worker)._stand_for(t)
    return _moved(t, worker, t)


def _carried(t, make):
    """make(t): what an op on the workers runs on in place of operand `t` (a move, a slice,
    a gather). Of a tensor whose gradient goes nowhere (a view made under no_grad), one
    whose gradient goes nowhere too, made from its detached self: the op's node then needs
    nothing of it at backward, nor reads what it saved for it, as torch's."""
    first = next(graph._sequence)
    if not (t._no_accumulator and t._grad_fn is None):
        return _runs_inline(make(t), first)
    out = make(t.detach())
    out._requires_grad = out._no_accumulator = True
    return out


def _runs_inline(out: Tensor, first: int) -> Tensor:
    """`out`, the nodes made for it since seq `first` marked to run as soon as they are
    ready (OpNode._inline): torch's graph goes from the op straight to its operand."""
    stack = [out._grad_fn]
    while stack:
        node = stack.pop()
        if isinstance(node, graph.OpNode) and node._seq > first and not node._inline:
            node._inline = True
            stack.extend(child for child, _ in node.next_functions)
    return out


def _gathered_in_layout(t, worker):
    """The whole of sharded `t` on `worker`, laid out as torch's `t` is when that layout is
    dense (a transpose): what an op computes from it follows that layout, as in torch (an
    elementwise result is transposed too). Gathered in memory order, then permuted back."""
    strides = layout.preserved(t.shape, t._layout[0]) if t._layout is not None else None
    if strides is None:
        return full_tensor(t, worker)
    order = sorted(range(t.ndim), key=lambda d: (-strides[d], d))
    whole = full_tensor(record.call("permute", t, dims=order), worker)
    return record.call("permute", whole, dims=sorted(range(t.ndim), key=order.__getitem__))


def _placed_as(out: Tensor, ref: Tensor) -> Tensor:
    """A fallback's result placed as `ref`: sharded on the same dim when it has that dim
    with a row for every worker, else replicated; its node named as the result's (torch's
    node, of the op or custom Function: the parts' are moves)."""
    s = ref._sharding
    if isinstance(s.placement, Shard) and out.ndim == ref.ndim \
            and out.shape[s.placement.dim] >= len(s.workers):
        placed = shard(out, s.placement.dim, s.workers)
    else:
        placed = replicated(out, s.workers)
    if isinstance(placed._grad_fn, _ShardedGradFn) and out._grad_fn is not None:
        placed._grad_fn._name = out._grad_fn.name()
    if out._layout is not None and placed._layout is None:  # (as torch's result: a transpose)
        strides = layout.preserved(out.shape, out._layout[0])
        if strides is not None:
            placed._layout = (strides, 0)
    return placed


def _sharded_operands(inputs):
    return [t for t in inputs if is_sharded(t)]


def _local_part(t, ref: Sharding, k: int, out_ndim: int):
    """Operand `t`'s part for shard k of an op whose sharded output follows `ref`."""
    if t is None or not hasattr(t, "_storage"):
        return t
    worker = ref.workers[k]
    replica = is_sharded(t) and isinstance(t._sharding.placement, Replicate)
    if is_sharded(t) and not replica:
        if not isinstance(t._sharding.placement, Shard) or _split_as(t, ref, out_ndim):
            return t._sharding.shards[k]  # (a pending sum's parts are its terms)
        t = whole_on(t, worker)  # split otherwise (a bias split across a row split): whole
    # A plain or replicated operand: the slice shard k needs (all of it where it broadcasts
    # along the sharded dim), taken from the copy on that worker, or sent from the driver.
    if replica:
        t = _replica_on(t, worker)
    d = ref.placement.dim - (out_ndim - t.ndim)
    # (a size-1 dim broadcasts, unless the output is 1 long there too: then it is split)
    if d >= 0 and (t.shape[d] != 1 or sum(ref.sizes) == 1):
        start, size = sum(ref.sizes[:k]), ref.sizes[k]
        def part_of(t):
            return t.narrow(d, start, size)

        return _carried(t, lambda t: _moved(part_of(t), worker, t, part_of))
    return _carried(t, lambda t: _moved(t, worker, t))


def _split_as(t, ref, out_ndim: int) -> bool:
    """Whether sharded `t`'s parts are the output's (`ref`'s) parts of it: split along the
    same output dim at the same sizes over the same workers."""
    s = t._sharding
    return (s.placement.dim + out_ndim - t.ndim == ref.placement.dim
            and s.workers == ref.workers and s.sizes == ref.sizes)


def _moved(t, worker, operand, part_of=None):
    """t on worker, standing for `operand` (whose slice `part_of(operand)` it may be)."""
    return t if t.device_str == worker else t.to(worker)._stand_for(operand, copied_from=t,
                                                                    taken=part_of)


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
            return NotImplemented
    if ref is None:
        return None
    if _broadcast_size(inputs, ref_dim, out_ndim) != sum(ref.sizes):
        return NotImplemented  # the sharded dim (of size 1) is broadcast: no rule
    return _OutputSplit(ref_dim, ref.sizes, ref.workers)


def _broadcast_size(inputs, dim: int, out_ndim: int) -> int:
    """The size of the output's dim `dim` when `inputs` broadcast together."""
    sizes = [t.shape[dim - (out_ndim - t.ndim)] for t in inputs
             if hasattr(t, "_storage") and dim - (out_ndim - t.ndim) >= 0]
    return max(sizes, default=1)


class _OutputSplit:
    """How an op's sharded result is split: along its dim `dim`, `sizes` rows per worker
    (read as a Sharding is: .placement.dim, .sizes, .workers)."""

    def __init__(self, dim: int, sizes, workers):
        self.placement = Shard(dim)
        self.sizes = sizes
        self.workers = workers


def _out_ndim(inputs):
    return max((t.ndim for t in inputs if hasattr(t, "_storage")), default=0)


def _elementwise(name, inputs, attrs):
    ndim = _out_ndim(inputs)
    ref = _shard_ref(name, inputs, ndim)
    if ref is NotImplemented:
        return ref
    if ref is None:  # only replicated operands: compute once, on the first copy
        return _on_replicas(name, inputs, attrs)
    outs = []
    for k in range(len(ref.workers)):
        parts = [_local_part(t, ref, k, ndim) for t in inputs]
        outs.append(record.call(name, *parts, **attrs))
    if isinstance(outs[0], tuple):  # several outputs (adam_update), each sharded alike
        return tuple(_wrap(Shard(ref.placement.dim), list(o), ref.workers) for o in zip(*outs))
    return _wrap(Shard(ref.placement.dim), outs, ref.workers)


def _on_replicas(name, inputs, attrs):
    """Only replicated and plain operands: the first copy of the result is computed now
    (backward follows it); each other worker computes its own copy from its copies of
    the operands, when an op there first needs it (a loss nobody reads on worker 1 is
    never computed there). No data moves for it."""
    if any(is_sharded(t) and isinstance(t._sharding.placement, Shard) for t in inputs):
        return NotImplemented  # a sharded operand beside a replicated one this rule expects
    workers = next(t for t in inputs if is_sharded(t))._sharding.workers
    results = {}

    def result_on(w):  # once per worker, all outputs of a multi-output op at once
        if w not in results:
            if results and _written(inputs) != stamp:  # an operand was written since: a
                results[w] = _moved_to(results[workers[0]], w)  # copy of the first holds
            else:  # the values this op saw, as torch's result does
                results[w] = record.call(name, *[_replica_on(t, w) if hasattr(t, "_storage")
                                                 else t for t in inputs], **attrs)
        return results[w]

    stamp = _written(inputs)
    first = result_on(workers[0])
    if isinstance(first, tuple):
        return tuple(_lazy_replicas([lambda w=w, i=i: result_on(w)[i] for w in workers], workers)
                     for i in range(len(first)))
    return _lazy_replicas([lambda w=w: result_on(w) for w in workers], workers)


def _moved_to(result, worker):
    """A copy of an op's result (each of a multi-output op's) on `worker`."""
    if isinstance(result, tuple):
        return tuple(_moved_to(r, worker) for r in result)
    with grad_mode.set_grad_enabled(result._requires_grad):
        return result.to(worker)


def _lazy_replicas(makers, workers) -> Tensor:
    """A replicated tensor whose first copy is made now and the others on first use, in
    the grad mode of now: a copy first needed under no_grad (an in-place write there) is
    still the view or result the op made, as the first copy is."""
    enabled = grad_mode.is_grad_enabled()

    def in_this_mode(make):
        def made():
            with grad_mode.set_grad_enabled(enabled):
                return make()
        return made

    makers = [in_this_mode(m) for m in makers]
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
    runtime.collectives["all_reduce"] += 1
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
    # torch accumulates float16/bfloat16 in float32 and rounds once: so do the partial sums
    wide = x.dtype in dtypes.LOW_FLOATS and attrs.get("dtype") is None
    summed = dict(attrs, dtype="float32") if wide else attrs
    if name == "sum":
        total = _all_reduce([record.call("sum", p, **summed) for p in s.shards])
        return _rounded_to(total, x.dtype) if wide else total
    if name == "mean":
        n = 1
        for r in dims:
            n *= x.shape[r]
        total = _all_reduce([record.call("sum", p, **summed) for p in s.shards])
        mean = _on_replicas("div", (total, n), {})
        return _rounded_to(mean, x.dtype) if wide else mean
    # amax/amin/max/min over the sharded dim: no rule (the gradient of tied extremes is split
    # among all of them, wherever they are), so they fall back to a gather.
    if name == "logsumexp":
        parts = [record.call("logsumexp", p.float() if wide else p, **attrs).unsqueeze(0)
                 for p in s.shards]
        root = s.shards[0].device_str
        stacked = record.call("cat", *[p.to(root) for p in parts], dim=0)
        total = record.call("logsumexp", stacked, dim=0)
        return replicated(total.to(x.dtype) if wide else total, s.workers)
    if name == "norm" and attrs.get("p", 2.0) == 2.0:
        summed = {k: v for k, v in attrs.items() if k not in ("p", "aten")}  # (aten: its name)
        parts = [p.float() if wide else p for p in s.shards]
        # (each square one op: its gradient a new tensor, as norm's, not two added in place)
        squares = _all_reduce([record.call("sum", record.call("pow", p, 2), **summed)
                               for p in parts])
        norm = _on_replicas("norm_of_squares", (squares,), {})
        return _rounded_to(norm, x.dtype) if wide else norm
    return NotImplemented


def _rounded_to(t: Tensor, dtype) -> Tensor:
    """A replicated result accumulated in float32, in its operand's dtype."""
    return _on_replicas("to_dtype", (t,), {"dtype": dtype.name})


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
    if _row_parallel(sa, sb, a, b):  # a pending sum until an op needs its value
        if a.dtype in dtypes.LOW_FLOATS:  # (torch accumulates these in float32, rounds once)
            parts = [_local_matmul(name, x.float(), w.float())
                     for x, w in zip(sa.shards, sb.shards)]
            return _rounded_to(_all_reduce(parts), a.dtype)
        return _wrap(Partial(), [_local_matmul(name, x, w) for x, w in zip(sa.shards, sb.shards)],
                     sa.workers)
    # Batch-sharded input @ replicated/plain weight: each worker multiplies its rows (and
    # the weight's matching batch, when it has one).
    if isinstance(pa, Shard) and pa.dim < a.ndim - 1 and (sb is None or isinstance(pb, Replicate)) \
            and b.ndim <= a.ndim:
        batch_dim = pa.dim < a.ndim - 2 and b.ndim > 2
        outs = [_local_matmul(name, sa.shards[k], _local_part(b, sa, k, a.ndim) if batch_dim
                              else _replica_on(b, w)) for k, w in enumerate(sa.workers)]
        return _wrap(Shard(pa.dim), outs, sa.workers)
    if (sa is None or isinstance(pa, Replicate)) and (sb is None or isinstance(pb, Replicate)):
        return _on_replicas(name, inputs, attrs)
    return NotImplemented


def _addmm(name, inputs, attrs):
    """bias + a @ b. Batch-sharded a (data parallel) or column-sharded b (column parallel):
    each worker runs addmm on its part; other layouts run as the matmul rule and an add."""
    bias, a, b = inputs
    sa = a._sharding if is_sharded(a) else None
    sb = b._sharding if is_sharded(b) else None
    split_rows = isinstance(sa and sa.placement, Shard) and sa.placement.dim == 0 and \
        not isinstance(sb and sb.placement, Shard)
    split_cols = isinstance(sb and sb.placement, Shard) and sb.placement.dim == 1 and \
        not isinstance(sa and sa.placement, Shard)
    if split_rows or split_cols:
        ref = sa if split_rows else sb
        out_split = _OutputSplit(0 if split_rows else 1, ref.sizes, ref.workers)
        outs = []
        for k, w in enumerate(ref.workers):
            ak = sa.shards[k] if split_rows else _replica_on(a, w)
            bk = sb.shards[k] if split_cols else _replica_on(b, w)
            outs.append(record.call(name, _local_part(bias, out_split, k, 2), ak, bk, **attrs))
        return _wrap(out_split.placement, outs, ref.workers)
    from ..ops.functions import matmul

    beta = attrs.get("beta", 1)
    if beta == 0:  # the bias is ignored (its nan too) yet gets a zero gradient: as one op
        return NotImplemented
    prod = matmul(a, b)
    if attrs.get("alpha", 1) != 1:
        prod = prod * attrs["alpha"]
    return prod + (bias * beta if beta != 1 else bias)


def _row_parallel(sa, sb, a, b) -> bool:
    """a sharded on its last dim, b (a matrix) on its first, the same way: a @ b is a sum
    of per-worker products."""
    return (sa is not None and sb is not None and isinstance(sa.placement, Shard)
            and sa.placement.dim == a.ndim - 1 and isinstance(sb.placement, Shard)
            and sb.placement.dim == 0 and b.ndim == 2 and sa.workers == sb.workers
            and sa.sizes == sb.sizes)


def _out_ndim_mm(a, b):
    return max(a.ndim, b.ndim)


def _replica_on(t, worker):
    if is_sharded(t):
        s = t._sharding
        if worker in s.workers:
            return s.replica(s.workers.index(worker))
        t = s.shards[0]
    return _carried(t, lambda t: _moved(t, worker, t))


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
    # squeeze exactly the whole tensor's unit dims in every shard
    return _each_shard(name, s, dict(attrs, dim=gone), d - sum(1 for g in gone if g < d))


def _reshape(name, inputs, attrs):
    """Each shard (or copy) reshaped as Tensor.reshape does: a view where its layout
    allows, else a copy (an unsafe_view: an alias)."""
    from ..ops.shape import infer_shape

    def reshaped(p, shape):
        return p.reshape(shape) if name == "reshape" else record.call(name, p, shape=shape)

    x = inputs[0]
    s = x._sharding
    if isinstance(s.placement, Replicate):
        makers = [lambda w=w: reshaped(_replica_on(x, w), attrs["shape"]) for w in s.workers]
        return _lazy_replicas(makers, s.workers)
    d = s.placement.dim
    target = list(infer_shape(attrs["shape"], x.numel()))
    new_d = _reshaped_shard_dim(x.shape, d, target, [p.shape[d] for p in s.shards])
    if new_d is None:
        return NotImplemented
    inner, new_inner = int(np.prod(x.shape[d + 1:])), int(np.prod(target[new_d + 1:]))
    outs = []
    for p in s.shards:
        local = list(target)
        local[new_d] = p.shape[d] * inner // new_inner
        outs.append(reshaped(p, local))
    return _wrap(Shard(new_d), outs, s.workers)


def _reshaped_shard_dim(shape, d: int, target, sizes):
    """The dim of `target` that a reshape of a tensor sharded on `d` (`sizes` rows per
    worker) is sharded on, or None when its shards are not whole slices of one dim there.
    The dims before d may merge or split (the leading block keeps its size and order); each
    shard's rows must become whole rows of the new dim (split or merged with the dims after
    it: heads out of a column-parallel projection are a split)."""
    lead, inner = int(np.prod(shape[:d])), int(np.prod(shape[d + 1:]))
    if not inner:
        return None
    for new_d in range(len(target)):
        new_inner = int(np.prod(target[new_d + 1:]))
        if int(np.prod(target[:new_d])) == lead and new_inner and \
                not any(n * inner % new_inner for n in sizes):
            return new_d
    return None


@_shards_of_first
def _select_like(name, inputs, attrs, x, s):
    """select/slice: views of the shards. Along another dim the sharded dim is kept; along
    the sharded dim a slice keeps what each shard holds of it (some shards may hold
    nothing), and a select is the one shard's row, replicated over its worker alone."""
    d = s.placement.dim
    dim = wrap_dim(attrs["dim"], x.ndim)
    if dim != d:
        return _each_shard(name, s, attrs, d - 1 if (name == "select" and dim < d) else d)
    if name == "select":
        index = attrs["index"]
        if not -x.shape[d] <= index < x.shape[d]:
            return NotImplemented  # the fallback raises torch's IndexError
        k, local = _shard_of_row(s, index % x.shape[d])
        row = record.call("select", s.shards[k], dim=d, index=local)
        return replicated(row, [s.workers[k]])
    return _slice_of_shards(s, attrs, x.shape[d])


@_shards_of_first
def _expand(name, inputs, attrs, x, s):
    """expand: views of the shards (the sharded dim, of size 2 or more, is not expanded)."""
    shape = list(attrs["shape"])
    d = s.placement.dim + len(shape) - x.ndim
    if d < 0 or shape[d] not in (-1, x.shape[s.placement.dim]):
        return NotImplemented  # the fallback raises torch's error
    parts = [record.call(name, p, shape=shape[:d] + [p.shape[s.placement.dim]] + shape[d + 1:])
             for p in s.shards]
    return _wrap(Shard(d), parts, s.workers)


@_shards_of_first
def _split(name, inputs, attrs, x, s):
    """split/unbind: views of the shards. Along another dim each output is sharded as x;
    along the sharded dim each holds what the shards hold of it (an unbound row: the one
    shard's, replicated over its worker)."""
    from ..ops.shape import split_sizes

    d = s.placement.dim
    dim = wrap_dim(attrs.get("dim", 0), x.ndim)
    if dim != d:
        per_shard = [record.call(name, p, **attrs) for p in s.shards]
        out_d = d - 1 if name == "unbind" and dim < d else d
        return tuple(_wrap(Shard(out_d), list(parts), s.workers) for parts in zip(*per_shard))
    if name == "unbind":
        return tuple(replicated(row, [w]) for p, w in zip(s.shards, s.workers)
                     for row in record.call(name, p, **attrs))
    outs, start = [], 0
    for n in split_sizes(x.shape[d], attrs["split_size_or_sections"]):
        outs.append(_slice_of_shards(s, {"start": start, "stop": start + n}, x.shape[d]))
        start += n
    if grad_mode.is_grad_enabled():  # (slices of the shards, but outputs of one split:
        for out in outs:            # torch will not rebuild their history after a write)
            for part in out._sharding.shards:
                part._view_kind = part._view_kind or "multi"
    return tuple(outs)


def _shard_of_row(s: Sharding, row: int):
    """(k, row within shard k) for a row along the sharded dim."""
    start = 0
    for k, n in enumerate(s.sizes):
        if row < start + n:
            return k, row - start
        start += n
    raise IndexError(row)


def _slice_of_shards(s: Sharding, attrs, size: int) -> Tensor:
    rows = range(*slice(attrs["start"], attrs["stop"], attrs.get("step", 1)).indices(size))
    parts, start = [], 0
    for part, n in zip(s.shards, s.sizes):
        mine = [r - start for r in rows if start <= r < start + n]
        local = (mine[0], mine[-1] + 1) if mine else (0, 0)
        parts.append(record.call("slice", part, dim=s.placement.dim, start=local[0],
                                 stop=local[1], step=attrs.get("step", 1)))
        start += n
    return _wrap(s.placement, parts, s.workers)


@_shards_of_first
def _softmax_like(name, inputs, attrs, x, s):
    if wrap_dim(attrs["dim"], x.ndim) == s.placement.dim:
        return NotImplemented
    return _each_shard(name, s, attrs, s.placement.dim)


def _softmax_backward_like(name, inputs, attrs):
    """(log_)softmax's VJP over an unsharded dim: shard by shard, as an elementwise op. Its
    row sums run over `dim`: an operand (the gradient or the output) split along it falls
    back to a gather."""
    for t in inputs[:2]:
        s = t._sharding if is_sharded(t) else None
        if s is not None and isinstance(s.placement, Shard) and \
                wrap_dim(attrs["dim"], t.ndim) == s.placement.dim:
            return NotImplemented
    return _elementwise(name, inputs, attrs)


def _moves(name, inputs, attrs):
    """The whole tensor on the device, laid out as torch's `to` keeps a dense layout (a
    transposed view stays column-major there)."""
    return _gathered_in_layout(inputs[0], attrs["device"])


# ---- losses on sharded batches ----------------------------------------------------------------

def _batch_loss(name, inputs, attrs):
    """A loss over a batch sharded on dim 0: per-shard sums, one all-reduce, then the mean."""
    x = inputs[0]
    s = x._sharding if is_sharded(x) else None
    if s is None or isinstance(s.placement, Replicate):
        return _on_replicas(name, inputs, attrs)
    if s.placement.dim != 0:
        return NotImplemented
    if name == "nll_loss" and x.ndim < 2:  # dim 0 holds the classes, not a batch
        return NotImplemented
    reduction = attrs.get("reduction", "mean")
    ndim = x.ndim
    per_shard = []
    for k in range(len(s.workers)):
        # nll_loss's class indices are split with the rows; every other operand (targets,
        # weight, pos_weight) broadcasts against the input and is sliced as it needs.
        parts = [_batch_part(t, s, k) if name == "nll_loss" and i == 1
                 else _local_part(t, s, k, ndim) for i, t in enumerate(inputs)]
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
        weights = [record.call("nll_weights", parts[1], parts[2], classes=x.shape[1],  # (N, C, ...)
                               dtype=x.dtype.name, ignore_index=attrs.get("ignore_index", -100)
                               ).sum() for _, parts in per_shard]
        return _on_replicas("div", (total, _all_reduce(weights)), {})
    return _on_replicas("div", (total, x.numel()), {})


def _batch_part(t, ref, k):
    """A target with fewer dims than the input (class indices): split on its dim 0."""
    return _local_part(t, ref, k, t.ndim)


# The rules an op row can name (`defop(..., sharding=...)`); an op without one falls back.
RULES = {"elementwise": _elementwise, "reduction": _reduction, "matmul": _matmul, "addmm": _addmm,
         "transpose": _transpose_like, "select": _select_like, "expand": _expand,
         "split": _split, "unsqueeze": _unsqueeze, "reshape": _reshape,
         "softmax": _softmax_like, "softmax_backward": _softmax_backward_like, "move": _moves,
         "batch_loss": _batch_loss}



# ---- backward through sharded roots and inputs ---------------------------------------------------

def expand_outputs(outputs, grads):
    """Roots of a backward that are sharded become their shards, with gradients to match;
    then the gradients of sharded tensors with hooks are routed through their joins."""
    if any(is_sharded(t) for t in outputs):
        outputs, grads = _shard_roots(outputs, grads)
    joins = _hook_joins()
    if joins:
        outputs = _route_through_joins(outputs, joins)
    return outputs, grads


def _shard_roots(outputs, grads):
    """A replicated root is one value: only its first copy is seeded (the others are moves
    of it). A sharded root's gradient is split the same way (or taken shard by shard)."""
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
    """Sharded inputs of autograd.grad become their shards, and the gradient edge of a
    sharded tensor's node its parts' edges (taken when it was made); `rebuild` reassembles
    the grads."""
    if not any(is_sharded(t) or _parts_edges_of(t) for t in inputs):
        return inputs, None
    flat, layout = [], []
    for t in inputs:
        edges = _parts_edges_of(t)
        if edges:
            layout.append((t.node.sharding, len(flat), len(edges)))
            flat.extend(edges)
        elif is_sharded(t):
            s = t._sharding
            parts = s.shards[:1] if isinstance(s.placement, Replicate) and s.reducer is None \
                else s.shards
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
            elif isinstance(s.placement, Replicate) and s.reducer is None:
                out.append(replicated(gs[0], s.workers))
            elif isinstance(s.placement, Replicate):  # a replicated leaf: its copies' sum
                gs = [g if g is not None else replicas.zeros_like(p) for g, p in zip(gs, s.shards)]
                out.append(_wrap(Replicate(), collectives.all_reduce(gs), s.workers))
            else:
                gs = [g if g is not None else replicas.zeros_like(p) for g, p in zip(gs, s.shards)]
                out.append(_wrap(s.placement, gs, s.workers))
        return tuple(out)

    return tuple(flat), rebuild


def _parts_edges_of(t) -> list | None:
    """The parts' gradient edges of a GradientEdge into a sharded tensor's node (None for
    any other input, or when a part requires no grad)."""
    node = getattr(t, "node", None)
    if not isinstance(node, _ShardedGradFn) or not isinstance(node.sharding.placement, Shard):
        return None
    if any(part is None for part, _ in node.next_functions):
        return None
    return [type(t)(part, nr) for part, nr in node.next_functions]


# ---- hooks and retain_grad on sharded tensors ----------------------------------------------------
#
# Backward runs shard by shard, but a hook must see the whole gradient at once. So at each
# backward, the graph reachable from its roots is rewired once: every edge into a hooked
# tensor's shard now goes into that tensor's join node, which sums what arrives, calls the
# hooks on the whole (sharded) gradient, and passes the result on to the shards' nodes.

_SHARDED_LEAVES = weakref.WeakSet()  # hooks of a leaf sit on the tensor (Tensor._hooks)
_HOOKED_GRAD_FNS = weakref.WeakSet()  # those of a non-leaf on its _ShardedGradFn


class _JoinBackward:
    """A node between a sharded tensor's consumers and its shards' nodes (see above)."""

    _inline = False

    def __init__(self, sharding: Sharding, edges, hooks, retained, seq, pre_hooks=list,
                 post_hooks=list):
        self.sharding = sharding
        self.next_functions = tuple(edges)
        self.n_outputs = len(edges)
        self._seq = seq  # the engine's priority: that of the hooked tensor's own node
        self.hooks = hooks  # () -> the hook functions, in registration order
        self.retained = retained  # () -> the tensor whose .grad is retained, or None
        self.pre_hooks = pre_hooks  # () -> the node's pre-hooks (torch runs them after both)
        self.post_hooks = post_hooks  # () -> the node's hooks, called by a _PartsRun
        self.accumulated = None  # a leaf's _AfterParts: its post-accumulate-grad hooks
        self._tensor_pre_hooks = self._retain_grad = self._pre_hooks = self._hooks = None

    def name(self) -> str:
        return "ShardedHooksBackward"

    def __repr__(self) -> str:
        return f"<ShardedHooksBackward object at {hex(id(self))}>"

    def has_saved(self) -> bool:
        return False

    def release(self) -> None:
        pass

    def apply(self, grads):
        whole = self._hooked(self._whole(grads), self.hooks())
        t = self.retained()
        if t is not None:
            _retain_whole(t, whole)
        given = self._hooked(whole, self.pre_hooks())
        parts = self._split(given)
        post_hooks = self.post_hooks()
        if post_hooks:
            _PartsRun(self.next_functions, parts, given, post_hooks)
        if self.accumulated is not None:
            self.accumulated.waiting = sum(g is not None for g in parts)
        return parts

    def _hooked(self, whole: Tensor, hooks) -> Tensor:
        for hook in hooks:
            new = hook(whole)
            if new is not None:
                whole = placed_like(new, self.sharding)
        return whole

    def _whole(self, grads) -> Tensor:
        s = self.sharding
        if isinstance(s.placement, Replicate):
            # every copy's gradient is part of the one value's: their sum, on the first copy
            first = s.shards[0].device_str
            total = None
            for g in grads:
                if g is not None:
                    g = g if g.device_str == first else g.to(first)
                    total = g if total is None else total + g
            return replicated(total, s.workers)
        return _wrap(s.placement, [g if g is not None else replicas.zeros_like(p)
                                   for g, p in zip(grads, s.shards)], s.workers)

    def _split(self, whole: Tensor) -> list:
        parts = whole._sharding.shards
        if isinstance(self.sharding.placement, Replicate):
            return [parts[0]] + [None] * (self.n_outputs - 1)  # the copies' sum, given once
        return list(parts)


graph.Node.register(_JoinBackward)


class _PartsRun:
    """A sharded tensor's node hooks in one backward: each part's node, once it has run,
    hands in the gradients it gave its inputs; after the last, the hooks are called with
    each input's whole gradient and the whole gradient the parts were given."""

    def __init__(self, edges, parts, given: Tensor, hooks):
        self.given, self.hooks = given, hooks
        self.got = {}  # part index -> (its node, the gradients it gave)
        self.waiting = {}  # part index -> the handle of the hook on its node
        for k, ((node, _), g) in enumerate(zip(edges, parts)):
            if node is not None and g is not None:
                self.waiting[k] = node.register_hook(
                    lambda ins, outs, k=k, node=node: self._ran(k, node, ins))

    def _ran(self, k, node, grad_inputs) -> None:
        self.waiting.pop(k).remove()
        self.got[k] = (node, grad_inputs)
        if self.waiting:
            return
        wholes = _whole_input_grads([self.got[j] for j in sorted(self.got)])
        for hook in self.hooks:
            if hook(wholes, (self.given,)) is not None:
                raise RuntimeError("a hook on the node of a sharded tensor cannot replace its "
                                   "input gradients: its parts' nodes have passed them on")


def _whole_input_grads(ran) -> tuple:
    """Per input of the parts' nodes (`ran`: (node, gradients it gave) per part), the
    input's whole gradient (None where no part gave one)."""
    from ..autograd.engine import validated

    wholes = []
    for i in range(len(ran[0][1])):
        edges = [node.next_functions[i] for node, _ in ran]
        grads = [None if gi[i] is None else validated(node, i, gi[i]) for node, gi in ran]
        wholes.append(None if all(g is None for g in grads) else _joined(edges, grads))
    return tuple(wholes)


def _joined(edges, grads) -> Tensor:
    """One input's gradient from its parts': a sharded input's parts (each part's node got
    one of them) made whole again, else (copies of one tensor) their sum."""
    parts = [_part_reached(e) for e in edges]
    first = parts[0]
    if first is not None and isinstance(first.placement, Shard) and \
            len(edges) == first.count and all(p is not None and p.whole is first.whole and
                                              p.k == k for k, p in enumerate(parts)):
        return _wrap(first.placement, [g if g is not None else p.zeros()
                                       for g, p in zip(grads, parts)], first.workers)
    if first is None:  # a driver tensor's copies or pieces: down to the tensor itself
        edges, grads = _down_the_moves(list(edges), list(grads))
    present = [g for g in grads if g is not None]
    device = present[0].device_str
    total = present[0]
    for g in present[1:]:
        total = total + (g if g.device_str == device else g.to(device))
    if first is not None and isinstance(first.placement, Replicate):
        return replicated(total, first.workers)
    return total


_MOVES = ("ToCopyBackward0", "SliceBackward0")  # (how a driver tensor's piece reaches a part)


def _down_the_moves(edges: list, grads: list):
    """The parts' gradients for the copies or pieces of one tensor, taken back through the
    moves and slices that made them (each part's own) to the edge they all share."""
    from ..autograd.engine import validated
    from ..autograd.graph import OpNode

    while len({id(node) for node, _ in edges}) > 1 and all(
            isinstance(node, OpNode) and node.name() in _MOVES for node, _ in edges):
        for k, (node, _) in enumerate(edges):
            if grads[k] is not None:
                grads[k] = validated(node, 0, node.apply([grads[k]])[0])
            edges[k] = node.next_functions[0]
    return edges, grads


class _PartOf:
    """What a part's node (or accumulator) tells of the sharded tensor it made: its
    placement, workers and which part; `whole`: one token per sharded tensor. Light, so
    that a graph keeps no sharded tensor alive by it."""

    __slots__ = ("placement", "workers", "k", "count", "shape", "dtype", "device", "whole")

    def __init__(self, sharding, k, whole):
        part = sharding.shards[k]
        self.placement, self.workers = sharding.placement, list(sharding.workers)
        self.k, self.count, self.whole = k, len(sharding.shards), whole
        self.shape, self.dtype, self.device = list(part.shape), part.dtype, part.device_str

    def zeros(self) -> Tensor:
        from ..creation import zeros

        return zeros(self.shape, dtype=self.dtype, device=self.device)


_PARTS_MADE = weakref.WeakKeyDictionary()  # a part's node -> {output nr: _PartOf}


def _note_part_nodes(sharding) -> None:
    """Remember, on the nodes that made a sharded non-leaf's parts, which part each made."""
    whole = object()
    for k, part in enumerate(sharding.shards):
        node = part._grad_fn if part is not None else None
        if node is not None:
            try:
                _PARTS_MADE.setdefault(node, {})[part._output_nr] = _PartOf(sharding, k, whole)
            except TypeError:  # (a node that takes no weak reference)
                pass


def _part_reached(edge):
    """The _PartOf of the part an edge leads to (a sharded leaf's part's accumulator, a
    sharded non-leaf's part's node, a join), or None."""
    from ..autograd.graph import AccumulateGrad

    node, nr = edge
    if isinstance(node, _JoinBackward):
        return _PartOf(node.sharding, nr, node)
    if isinstance(node, AccumulateGrad):
        whole = whole_of(node.variable)
        if whole is None:
            return None
        k = next(j for j, p in enumerate(whole._sharding.shards) if p is node.variable or (
            p is not None and p._value is node.variable._value))
        return _PartOf(whole._sharding, k, whole._sharding)
    return _PARTS_MADE.get(node, {}).get(nr)


def _retain_whole(t: Tensor, whole: Tensor) -> None:
    """retain_grad of a sharded non-leaf: its shards keep their part (its first copy all)."""
    parts = whole._sharding.shards[:1] if isinstance(whole._sharding.placement, Replicate) \
        else whole._sharding.shards
    for shard_, g in zip(t._sharding.shards, parts):
        shard_._grad = g.clone() if shard_._grad is None else shard_._grad + g


def _hook_joins() -> dict:
    """{edge into a hooked tensor's shard: (its join, k)} for the live hooked tensors."""
    from ..autograd.graph import AccumulateGrad

    joins = {}
    for fn in list(_HOOKED_GRAD_FNS):
        if fn.hooks() or fn.pre_hooks() or fn.post_hooks() or fn.retained_tensor() is not None:
            if fn.join is None:
                fn.join = _JoinBackward(fn.sharding, fn.next_functions, fn.hooks,
                                        fn.retained_tensor, fn._seq, fn.pre_hooks,
                                        fn.post_hooks)
            fn.join.next_functions = fn.current_edges()
            _add_join(joins, fn.join)
    for t in list(_SHARDED_LEAVES):
        s = t._sharding
        # (a leaf with a reduce node, a data-parallel copy's, runs them itself: replicas.py)
        after = t._post_acc_hooks and s.reducer is None
        if (t._hooks or after) and t._requires_grad:
            edges = [_edge_as_it_stands(p) for p in s.shards]
            if s.join is None:
                s.join = _JoinBackward(s, edges, lambda t=weakref.ref(t): list(t()._hooks or ()),
                                       lambda: None, AccumulateGrad.priority)
            s.join.next_functions = tuple(edges)  # a leaf's AccumulateGrad nodes may be new
            for node, _ in edges:  # torch's one AccumulateGrad: the parts' add in its step
                if isinstance(node, AccumulateGrad):
                    node._inline = True
            if after:
                _call_after_parts(t, s.join)
            _add_join(joins, s.join)
        if t._post_acc_hooks and s.reducer is not None:
            s.reducer.accumulated[id(t)] = t
    return joins


class _AfterParts:
    """A sharded leaf's post-accumulate-grad hooks, called as torch calls them once its
    .grad holds the backward's gradient: when each part its join gave a gradient has added
    it (every part's AccumulateGrad calls this, a hook of the part's own)."""

    def __init__(self, t: Tensor):
        self.leaf = weakref.ref(t)
        self.waiting = 0  # parts still to add theirs in this backward (_JoinBackward.apply)

    def __call__(self, part) -> None:
        self.waiting -= 1
        t = self.leaf()
        if self.waiting == 0 and t is not None:
            run_post_accumulate_hooks(t)


def _call_after_parts(t: Tensor, join: _JoinBackward) -> None:
    if join.accumulated is None:
        join.accumulated = _AfterParts(t)
    for part in t._sharding.shards:
        if part is not None and not is_sharded(part):
            hooks = part._post_acc_hooks = part._post_acc_hooks or []
            if join.accumulated not in hooks:
                hooks.append(join.accumulated)


def _edge_as_it_stands(part) -> tuple:
    """A hooked leaf's part's gradient edge, for every backward (whatever its graph): a
    stale view whose history torch forbids keeps the edge it had (reading its grad_fn would
    raise, and the backward may not even reach it)."""
    if part is None:
        return (None, 0)
    if part._viewed is not None and part._view_version != part._storage.version \
            and part._forbids_rebase():
        return (part._grad_fn, part._output_nr) if part._grad_fn is not None else (None, 0)
    return part._gradient_edge()


def hooks_node(t: Tensor, node):
    """The join that runs a hooked sharded tensor's hooks in the backward under way (made
    as it starts: _hook_joins), else `node` (its gradient edge's, which no backward runs)."""
    join = t._sharding.join if t.grad_fn is None else getattr(node, "join", None)
    return node if join is None else join


def watch_leaf_hooks(t: Tensor) -> None:
    """A sharded leaf was given a hook: one made otherwise than by _wrap (a detach()) is
    watched from now on. (By identity: a set's lookup would compare two tensors by ==.)"""
    if not any(x is t for x in _SHARDED_LEAVES):
        _SHARDED_LEAVES.add(t)


def _add_join(joins: dict, join: _JoinBackward) -> None:
    for k, edge in enumerate(join.next_functions):
        if edge[0] is not None:
            joins[edge] = (join, k)


def _route_through_joins(roots, joins):
    """Point every edge in the graph from `roots` that goes into a hooked shard at its join
    instead (a root that is such a shard starts at the join)."""
    out = []
    for t in roots:
        if t._requires_grad and t._gradient_edge() in joins:
            join, k = joins[t._gradient_edge()]
            t = t._alias(keep_graph=False)
            t._requires_grad, t.grad_fn, t._output_nr = True, join, k
        out.append(t)
    # A replicated tensor's copies are moves of its first copy: those edges stay inside.
    join_of = {id(node): join for (node, _), (join, _) in joins.items()}
    stack = [t.grad_fn for t in out if t.grad_fn is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if not isinstance(node, _JoinBackward):
            own = join_of.get(id(node))
            if isinstance(node, _ShardedGradFn) and node.join is not None:
                # It runs as a node (a plain tensor written in place with a sharded result):
                # the engine runs its hooks there, so its edges skip the join's second run.
                own = node.join
            edges = tuple(e if e not in joins or joins[e][0] is own else joins[e]
                          for e in node.next_functions)
            if any(a is not b for a, b in zip(edges, node.next_functions)):
                node.next_functions = edges
        stack.extend(child for child, _ in node.next_functions if child is not None)
    return tuple(out)


# Sharded tensors stand for their shards in a backward (expand_outputs, expand_inputs).
storage.register_backward(sys.modules[__name__])
