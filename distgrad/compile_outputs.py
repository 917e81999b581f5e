"""A compiled step's outputs (compiled.py): which of them a replay can hand back as the
eager call does, and how it makes them again.

The program hands over plain tensors the step made on workers whose history holds nothing
of the step: none (they require no grad, or are leaves the step made), or a graph a
backward in the step freed (its loss), whose nodes are plain ones that keep nothing. A
replay's tensor gets a twin of that node, leading to the same freed graph
(graph.OpNode.spent_twin), so that printing it, its next_functions and the error of a
second backward are the eager call's; its version count, strides and inference flag are
the eager call's too.

A sharded output is wrapped anew around such parts (a replicated one's copies not made yet
are made as moves of its first), and a view of an output (the loss vector's slice, a
transpose; of a sharded one too, its parts' views made by the sharded op again) is taken
anew by the view ops that made it, in the grad mode they ran in: its `_base`, shared
version counter and view node are then those of the eager call's view.
The recording call itself returns outputs made so, after checking that they are like the
eager ones (the originals' worker tensors are then the program's temporaries).

A tensor of the step's state that it returns (a parameter, not made by the step) is
returned itself by a replay, as by the eager call, and a view of it is taken anew from it
(after the replay's writes, as the eager call's is taken after the step's).

Any other output (a graph a backward could still use, a view of a tensor the step was
given, a tensor with hooks or a retained gradient) cannot be made by a replay: the
recording call returns it as it is, and calls that match the recording run eagerly.
"""
from __future__ import annotations

import sys
import weakref

from .autograd import grad_mode, record
from .autograd.graph import AccumulateGrad, OpNode
from .distributed.replicas import ReplicaReduce
from .tensor import Tensor

_ACCUMULATORS = (AccumulateGrad, ReplicaReduce)


class OutputPlan:
    """How a replay makes a step's output tensors from the plain tensors its program hands
    over: `steps` in order, each ("plain", index of the tensor handed over), ("state", a
    weak reference to a tensor of the state returned as it is), ("detach",
    step index of the tensor it is a detach() of), ("sharded", step index of each part or
    None, placement, workers, the node of a fallback's whole, the name of its node) or
    ("view", step index of its parent, op, attrs, output nr, grad mode); `outputs`, the
    step index of each output."""

    def __init__(self):
        self.metas: list = []  # per tensor handed over: what a replay makes it as (meta)
        self.steps: list = []
        self.outputs: list = []

    def make(self, handed: list) -> list:
        """The outputs, made from `handed` (the tensors handed over, in order): sharded
        tensors wrapped anew around their parts, views taken anew."""
        from .distributed.sharding import _wrap

        made = []
        for step in self.steps:
            kind = step[0]
            if kind == "plain":
                made.append(handed[step[1]])
            elif kind == "state":
                made.append(step[1]())
            elif kind == "detach":
                made.append(made[step[1]].detach())
            elif kind == "sharded":
                _, shards, placement, workers, computed_by, name = step
                t = _wrap(placement, [None if j is None else made[j] for j in shards], workers)
                t._sharding.computed_by = computed_by
                if name is not None:  # (named as the op on the whole, not its parts' ops)
                    t._grad_fn._name = name
                made.append(t)
            else:
                _, parent, op, attrs, k, grad = step
                base = made[parent]
                with grad_mode.inference_mode(base._storage.inference), \
                        grad_mode.set_grad_enabled(grad):
                    view = record.call(op, base, **attrs)
                made.append(view[k] if isinstance(view, tuple) else view)
        return [made[i] for i in self.outputs]

    def alive(self) -> bool:
        """Whether the tensors of the state it returns are still there to return."""
        return all(step[1]() is not None for step in self.steps if step[0] == "state")


def plan_outputs(flat: list, of_state=lambda t: False, detached_from=lambda t: None):
    """(plan, handed) for a recorded call's output tensors `flat`: the plan and the plain
    tensors its program hands over, or (None, None) if a replay could not make one of them
    as the eager call returned it. `of_state(t)`: whether a tensor is one of the state's
    that the step did not make (guarded by the state walk: a replay may return it);
    `detached_from(t)`: such a tensor that `t` is a detach() of, or None."""
    plan, handed, memo, aliased = OutputPlan(), [], {}, {}

    def entry(t) -> int | None:
        if id(t) in memo:
            return memo[id(t)]
        if t._viewed is None and t._sharding is None and of_state(t):
            step = ("state", weakref.ref(t))
        elif t._viewed is not None:
            step = _view_step(t, entry)
        elif t._sharding is not None and t._sharding.view_op is not None:
            step = _sharded_view_step(t, entry)
        elif t._sharding is not None:
            step = _sharded_step(t, entry)
        elif id(t._value) in aliased:  # (a detach() of another: its memory, no history)
            step = ("detach", aliased[id(t._value)]) if _detached(t) else None
        elif _detached(t) and (source := detached_from(t)) is not None:
            j = entry(source)  # (a detach() of the state's, taken anew from it)
            step = None if j is None else ("detach", j)
        else:
            meta_of = meta(t)
            step = None if meta_of is None else ("plain", len(handed))
            if step is not None:
                handed.append(t)
                plan.metas.append(meta_of)
        if step is None:
            return None
        plan.steps.append(step)
        memo[id(t)] = len(plan.steps) - 1
        if t._sharding is None:
            aliased.setdefault(id(t._value), memo[id(t)])
        return memo[id(t)]

    for t in flat:
        i = entry(t)
        if i is None:
            return None, None
        plan.outputs.append(i)
    return plan, handed


def _view_step(t: Tensor, entry):
    """The plan's step that takes view `t` from its parent, or None: a view whose history
    was made anew since (written through), of its own making (a hook, requires_grad_ on
    it), or of a parent a replay cannot make."""
    if t._view_of is None or t._view_version != t._storage.counter.count or \
            t._sharding is not None or not _plain_handle(t):
        return None
    parent, op, attrs, k = t._view_of
    if any(isinstance(v, Tensor) for v in (attrs or {}).values()):
        return None
    j = entry(parent)
    if j is None:
        return None
    # (a view made under no_grad of a base that requires grad has no node of its own)
    grad = t._grad_fn is not None or (not t._viewed._requires_grad and
                                      t._view_kind != "no_grad")
    return ("view", j, op, attrs or {}, k, grad)


def _sharded_view_step(t: Tensor, entry):
    """The plan's step that takes sharded view `t` again from the tensor it views (the
    sharded op makes its parts' views and wraps them as it did), or None: a view written
    through since, a copy standing for one (a fallback's), one with anything of its own."""
    s = t._sharding
    parent, op, attrs, k, version = s.view_op
    if s.copied_view_of is not None or t._storage.counter.count != version or \
            not _plain_handle(t) or s.reducer is not None or s.join is not None or \
            s.made_edges or s.grad is not None or _hooked(t._grad_fn) or \
            any(isinstance(v, Tensor) for v in (attrs or {}).values()):
        return None
    j = entry(parent)
    if j is None:
        return None
    return ("view", j, op, attrs or {}, k, t._grad_fn is not None or not parent.requires_grad)


def _sharded_step(t: Tensor, entry):
    """The plan's step that wraps sharded `t`'s parts anew, or None. A replicated tensor's
    copies not made yet are made as moves of its first (a fallback's result would compute
    them from what the step computed, which a replay does not keep): the same values."""
    s = t._sharding
    if not _plain_handle(t) or s.copied_view_of is not None or s.reducer is not None \
            or s.join is not None or s.viewed is not None or s.made_edges or s.grad is not None \
            or s.shards[0] is None or _hooked(t._grad_fn):
        return None
    shards = [None if p is None else entry(p) for p in s.shards]
    if any(j is None for p, j in zip(s.shards, shards) if p is not None) or any(
            p is not None and p._viewed is not None for p in s.shards):
        return None
    return ("sharded", shards, s.placement, list(s.workers), s.computed_by,
            None if t._grad_fn is None else t._grad_fn.name())


def _detached(t: Tensor) -> bool:
    """Whether `t` could be a detach(): no history, no grad, nothing of its own on it."""
    return t._grad_fn is None and not t._requires_grad and _plain_handle(t)


def _hooked(node) -> bool:
    """Whether a sharded tensor's node has what a node made anew from its parts would not
    (hooks, a retained gradient, a join met in a backward)."""
    return node is not None and any(getattr(node, name, None) for name in (
        "join", "_hook_list", "_retained", "_node_pre_hooks", "_node_post_hooks"))


def same_as_made(made: list, flat: list) -> bool:
    """Whether the outputs a plan made are like the recorded call's own."""
    return all(_facts(a) == _facts(b) for a, b in zip(made, flat))


def _facts(t: Tensor) -> tuple:
    node = t.grad_fn
    s = t._sharding
    return (tuple(t.shape), t.requires_grad, t._requires_grad, t._is_view(),
            None if node is None else node.name(), t._base is None,
            None if s is None else (s.placement, tuple(s.workers)),
            None if t._viewed is None else (t.stride(), t.storage_offset(), t._view_kind,
                                            t._no_accumulator, t._version))


_OWN_ATTRIBUTES = {"_sharded_view"}  # (what distgrad itself sets on a sharded view)


def _plain_handle(t: Tensor) -> bool:
    """No hooks, retained or accumulated gradient, or attributes of the user's on it: what
    a fresh tensor of a replay would not have."""
    return (t._hooks is None and not t._retains_grad and t._grad is None and
            t._post_acc_hooks is None and t._stands_for is None and not t._no_accumulator
            and not t.__dict__.keys() - _OWN_ATTRIBUTES)


def meta(t: Tensor):
    """What a replay needs to hand back a tensor like plain `t` but its id, or None if it
    cannot (module doc)."""
    if not t.device_str.startswith("worker:") or not _plain_handle(t):
        return None
    history = None
    if t._grad_fn is not None:
        node = _spent_node(t)
        if node is None:
            return None
        history = (node, t._output_nr)
    return (t.device_str, t.shape, t.dtype, history, t._requires_grad, t._storage.version,
            t._layout, t._storage.inference)


def replayed(facts, ref) -> Tensor:
    """A tensor a replay hands over as `ref`, made as `facts` (meta) say."""
    device, shape, dtype, history, requires_grad, version, strides, inference = facts
    t = Tensor._make(ref, shape, dtype, device)
    t._storage.inference = inference
    t._storage.version = version
    t._layout = strides
    t._requires_grad = requires_grad
    if history is not None:
        t._grad_fn, t._output_nr = history[0].spent_twin(), history[1]
    return t


# sys.getrefcount(t) inside `writable_in_place(t, ...)` when nothing else holds t: the
# caller's name for it, the parameter and getrefcount's own argument
_CALL_REFS = 3


def writable_in_place(t, facts, places: int) -> bool:
    """Whether a replay may write the tensor the step makes anew (as `facts`, meta, say)
    into `t`, the one an earlier call made, instead of handing a new one over: when only
    its `places` in the state refer to it (no caller, view, detach() or .data of it holds
    it, its memory or its version counter; no weak reference, hook or attribute of the
    user's is on it) and it is as `facts` say but its version, nothing can tell the
    eager step's new tensor from it once its version is set to the new one's."""
    device, shape, dtype, history, requires_grad, _, strides, inference = facts
    return (sys.getrefcount(t) == places + _CALL_REFS and sys.getrefcount(t._value) == 2
            and sys.getrefcount(t._storage) == 2 and not weakref.getweakrefcount(t)
            and history is None and t._grad_fn is None and t._viewed is None
            and t._sharding is None and t.device_str == device and t.shape == shape
            and t.dtype is dtype and t._requires_grad == requires_grad
            and t._layout == strides and t._storage.inference == inference
            and _plain_handle(t))


def parts(t: Tensor):
    """(shard index or None, tensor) for a tensor's pieces on workers."""
    if t._sharding is None:
        return [(None, t)]
    return [(j, s) for j, s in enumerate(t._sharding.shards) if s is not None]


def _spent_node(t: Tensor):
    """The grad_fn of `t` if its graph holds no tensor of the step (its nodes are plain ones
    that keep nothing: a backward in the step freed what they saved, a step's loss, or they
    saved nothing), else None. Such a graph raises when differentiated again where it was
    freed, as torch's does, and elsewhere gives gradients that no value of the step
    decides: a replay's output gets a node of its own like it, leading to the same graph
    (graph.OpNode.spent_twin)."""
    node = t._grad_fn
    if not isinstance(node, OpNode):
        return None
    seen, todo = {id(node)}, [node]
    while todo:
        n = todo.pop()
        if type(n) in _ACCUMULATORS:  # (the state's: where its leaves' gradients go)
            continue
        # (below the output's own node, which a replay twins, any kind of node: a
        # sharded op's, run in the driver, holds what it saved as an OpNode does)
        if n.has_saved() or getattr(n, "_wraps", None) is not None or any(
                isinstance(v, Tensor) for v in (getattr(n, "attrs", None) or {}).values()):
            return None
        for child, _ in n.next_functions:
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                todo.append(child)
    return node


def keeps_saved(t: Tensor) -> bool:
    """Whether a node of output `t`'s graph (of its parts', if sharded) still holds what it
    saved: a backward through `t` could use it, as torch's can."""
    todo = [t._grad_fn] + [p._grad_fn for _, p in parts(t)]
    seen = set()
    while todo:
        n = todo.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        if n.has_saved():
            return True
        todo.extend(child for child, _ in n.next_functions)
    return False


def flatten_outputs(out):
    """(tensors, rebuild, plain): the tensors in fn's result, a function that builds the
    same structure from new tensors (anything else in it as it was), and whether it held
    nothing else (None aside)."""
    tensors, plain = [], True

    def spec(obj):
        nonlocal plain
        if isinstance(obj, Tensor):
            tensors.append(obj)
            return len(tensors) - 1
        if obj is None:
            return None
        if type(obj) in (list, tuple):
            return (type(obj), [spec(v) for v in obj])
        if type(obj) is dict:
            return (dict, {k: spec(v) for k, v in obj.items()})
        plain = False
        return (object, obj)

    shape = spec(out)

    def rebuild(new, s=shape):
        if s is None:
            return None
        if isinstance(s, int):
            return new[s]
        kind, inner = s
        if kind is object:
            return inner
        if kind is dict:
            return {k: rebuild(new, v) for k, v in inner.items()}
        return kind(rebuild(new, v) for v in inner)

    return tensors, rebuild, plain
