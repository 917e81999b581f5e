"""Saved-tensor hooks on an op of sharded tensors: they see what torch's one node saves.

A sharding rule runs the op once per part, each run a node of its own that saves its
parts. torch's program, on one device, has one node, which packs each tensor it saves
once: the operand or result as the user holds it. So the parts' nodes run with the hooks
suspended; then each tensor the op saves is packed once, whole, and each part's node keeps
that pack and, at backward, takes its part of the whole that unpack gives (unpacked once
for all parts).

Only where the parts' nodes are the op's own, input for input (a rule running other ops,
a pending sum saved, a fallback's gathered run), each part's node packs its parts as
before.
"""
from __future__ import annotations

from ..autograd import grad_mode, saved_hooks
from ..autograd.graph import OpNode


def run_rule(rule, name, inputs, attrs):
    """rule(name, inputs, attrs), its parts' saved tensors packed as torch's node's."""
    hooks = saved_hooks.current()
    if hooks is None:
        return rule(name, inputs, attrs)
    with saved_hooks.suspended():
        out = rule(name, inputs, attrs)
    if out is NotImplemented:
        return out
    outs = out if isinstance(out, tuple) else (out,)
    nodes = _part_nodes(outs)
    if nodes and all(_runs_the_op(node, name, inputs) for node, _ in nodes):
        _pack_whole(hooks, nodes, inputs, outs)
    else:
        for node, parts in nodes:
            if node.has_saved():
                node.pack_saved(hooks, parts)
    return out


def _part_nodes(outs) -> list:
    """[(node, its outputs)] of the parts of the sharded results, in part order: part k's
    node made part k of each result."""
    from .sharding import is_sharded

    found, seen = [], set()
    for o in outs:
        if not is_sharded(o):
            continue
        for k, part in enumerate(o._sharding.shards):
            node = getattr(part, "_grad_fn", None)
            if isinstance(node, OpNode) and id(node) not in seen:
                seen.add(id(node))
                found.append((k, node, [r._sharding.shards[k] if is_sharded(r) and
                                        k < len(r._sharding.shards) else None for r in outs]))
    return [(node, parts) for _, node, parts in sorted(found, key=lambda e: e[0])]


def _runs_the_op(node, name, inputs) -> bool:
    """Whether the part's node is the op's, with the op's inputs at their positions, each
    of a kind whose part can be taken from the whole (no pending sum)."""
    from .sharding import Partial, is_sharded

    return node.op.name == name and len(node._metas) == len(inputs) and not any(
        is_sharded(inputs[i]) and isinstance(inputs[i]._sharding.placement, Partial)
        for i in node._saved)


def _pack_whole(hooks, nodes, inputs, outs) -> None:
    first = nodes[0][0]
    for i in first.packing_order():
        _share(hooks, inputs[i], [(node._saved.get(i), node) for node, _ in nodes], None)
    waiting = saved_hooks.waiting_for_write()
    for k, saved in enumerate(first._saved_outs or ()):
        nr = saved.output_nr
        whole = _WholeOutput([node for node, _ in nodes], k, [parts[nr] for _, parts in nodes])
        if waiting is not None:  # (an in-place op's result: the written tensor is packed)
            whole.pack_after_write = hooks
            waiting.append((whole, hooks, outs[nr]))
        else:
            whole.pack(hooks, outs[nr])


class _WholeOutput:
    """Saved output k of the parts' nodes, packed whole once: now, or once written in place
    (saved_hooks), when each part's node saves its part of the written tensor instead."""

    def __init__(self, nodes, k: int, output_parts):
        self.nodes, self.k, self.output_parts = nodes, k, output_parts
        self.pack_after_write = None

    def pack(self, hooks, whole) -> None:
        _share(hooks, whole, [(node._saved_outs[self.k], node) for node in self.nodes],
               self.output_parts)


def _share(hooks, whole, saved_parts, output_parts) -> None:
    """Pack `whole` once; each part's SavedTensor keeps that pack and unpacks its part."""
    with grad_mode.no_grad():
        packed = hooks[0](whole)
    shared = _Unpacked(hooks[1], packed, whole, len(saved_parts))
    start = 0
    for k, (saved, node) in enumerate(saved_parts):
        if saved is None:
            continue
        part = output_parts[k] if output_parts is not None else saved.tensor
        narrowed = _narrowed(whole, part, start)
        if narrowed is not None:
            start += narrowed[2]
        where = (part.device_str, k, narrowed)
        saved.pack((lambda _: packed, lambda _, where=where: shared.part(*where)), part)


def _narrowed(whole, part, start: int):
    """(dim, start, size) of `part` in `whole` when the part's node saved only the rows its
    shard needs of a plain or replicated operand (sharding._local_part), else None."""
    from .sharding import Replicate, is_sharded

    if is_sharded(whole) and not isinstance(whole._sharding.placement, Replicate):
        return None  # (its part is a shard: taken as it is)
    if not hasattr(part, "shape") or tuple(part.shape) == tuple(whole.shape):
        return None
    dim = next(d for d, (a, b) in enumerate(zip(part.shape, whole.shape)) if a != b)
    return dim, start, part.shape[dim]


class _Unpacked:
    """The whole unpack gives, unpacked once for its parts' nodes (again at the next
    backward through them: after every part took its own)."""

    def __init__(self, unpack, packed, like, n_parts: int):
        self.unpack, self.packed, self.like, self.n_parts = unpack, packed, like, n_parts
        self.whole, self.taken = None, set()

    def part(self, device: str, k: int, narrowed=None):
        got = self._part(device, k)
        if narrowed is not None and hasattr(got, "_storage"):
            got = got.narrow(*narrowed)
        return got

    def _part(self, device: str, k: int):
        from .sharding import Replicate, _replica_on, is_sharded, placed_like

        if self.whole is None or k in self.taken:
            self.whole, self.taken = self.unpack(self.packed), set()
        self.taken.add(k)
        whole = self.whole
        if len(self.taken) == self.n_parts:
            self.whole = None  # (not kept past this backward)
        if not hasattr(whole, "_storage"):
            return whole  # (unpack's own error: it must give a tensor)
        if is_sharded(self.like) and not isinstance(self.like._sharding.placement, Replicate):
            if not is_sharded(whole):
                whole = placed_like(whole, self.like._sharding)
            return whole._sharding.shards[k]
        if is_sharded(whole):
            return _replica_on(whole, device)
        return whole if whole.device_str == device else whole.to(device)
