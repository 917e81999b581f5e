"""`distgrad.utils.swap_tensors`: two tensor objects trade everything they are.

torch swaps the two Python objects' classes, attributes and the C tensors under them (data,
shape, dtype, version counter, grad, history, hooks), so each keeps its identity with the
other's content. It refuses a tensor something else still holds (torch's use count of the
C tensor): a view's base, a tensor saved for backward, another tensor's .grad. A leaf that
requires grad whose AccumulateGrad a graph holds is swapped, and that node poisoned: a
backward through it raises.
"""
from __future__ import annotations

import gc
import weakref

from ..autograd.graph import AccumulateGrad, SavedTensor
from ..tensor import Tensor

_POISONED = (
    "Trying to execute AccumulateGrad node that was poisoned by swap_tensors this can happen "
    "when you try to run backward on a tensor that was swapped. For a module m with "
    "`torch.__future__.set_swap_module_params_on_conversion(True)` you should not change the "
    "device or dtype of the module (e.g. `m.cpu()` or `m.half()`) between running forward "
    "and backward. To resolve this, please only change the device/dtype before running "
    "forward (or after both forward and backward).")


def swap_tensors(t1, t2) -> None:
    """t1 takes t2's content and t2 takes t1's; each stays the object it was.

    >>> a, b = distgrad.ones(2), distgrad.zeros(3)
    >>> distgrad.utils.swap_tensors(a, b); a
    tensor([0., 0., 0.])
    """
    for name, t in (("t1", t1), ("t2", t2)):
        if any(not _held_by_distgrad(ref) for ref in weakref.getweakrefs(t)):
            raise RuntimeError(f"Cannot swap {name} because it has weakref associated with it")
    for t in (t1, t2):
        if not isinstance(t, Tensor):
            raise AttributeError(f"'{type(t).__name__}' object has no attribute '_use_count'")
    referrers = gc.get_referrers(t1, t2)  # (one scan of the heap for both)
    _check_use_count(t1, "t1", referrers)
    _check_use_count(t2, "t2", referrers)
    if t1 is t2:
        return
    for name, t in (("t1", t1), ("t2", t2)):
        if t._retains_grad:  # (torch's retain_grad hook holds the tensor weakly: it refuses
            # last, having swapped the objects' classes and attributes but not their tensors)
            _swap_users_attributes(t1, t2)
            raise RuntimeError(f"Expected no weakrefs to {name}'s Tensor object but got  1")
    t1.__class__, t2.__class__ = t2.__class__, t1.__class__
    t1.__dict__, t2.__dict__ = t2.__dict__, t1.__dict__
    for slot in Tensor.__slots__:
        if slot in ("__dict__", "__weakref__"):
            continue
        first, second = getattr(t1, slot), getattr(t2, slot)
        setattr(t1, slot, second)
        setattr(t2, slot, first)
    for t in (t1, t2):
        _follow_accumulator(t)


def _follow_accumulator(t) -> None:
    """The gradient accumulator t took over is now t's: torch's holds the tensor whose
    content moved, so a later swap counts it against the object that holds it."""
    accumulator = t._acc() if t._acc is not None else None
    if accumulator is not None:
        accumulator.variable = t


def _swap_users_attributes(t1, t2) -> None:
    """Swap what a user set on the objects (torch's __dict__ holds only that; the names
    distgrad keeps there start with "_" and stay with their tensors)."""
    ours = [{k: v for k, v in t.__dict__.items() if not k.startswith("_")} for t in (t1, t2)]
    for t, own, other in ((t1, ours[0], ours[1]), (t2, ours[1], ours[0])):
        for k in own:
            del t.__dict__[k]
        t.__dict__.update(other)


def _held_by_distgrad(obj, depth: int = 2) -> bool:
    """Whether distgrad itself holds `obj` (a weak reference: torch's graph holds no Python
    weak references, so only the caller's count), directly or through a container."""
    for holder in gc.get_referrers(obj):
        if type(holder).__module__.startswith("distgrad."):
            return True
        if depth and isinstance(holder, (list, tuple, dict)) and \
                _held_by_distgrad(holder, depth - 1):
            return True
    return False


def _holders(t, referrers) -> tuple[int, AccumulateGrad | None]:
    """How many holders of `t` (among `referrers`) torch's use count would count besides
    t's own object (views of it, saves of it as an input, a tensor whose .grad it is, its
    AccumulateGrad), and that AccumulateGrad if one is alive."""
    count, accumulator = 0, None
    for holder in referrers:
        if isinstance(holder, Tensor):
            count += (holder._viewed is t) + (holder._grad is t)
        elif isinstance(holder, SavedTensor):
            count += holder.tensor is t and not holder.is_output
        elif isinstance(holder, AccumulateGrad) and holder.variable is t:
            count, accumulator = count + 1, holder
    return count, accumulator


def _check_use_count(t, name: str, referrers) -> None:
    held, accumulator = _holders(t, referrers)
    use_count = 1 + held
    if use_count == 1:
        return
    if use_count == 2 and t.is_leaf:
        if not t.requires_grad:
            raise RuntimeError("It is not possible to get the gradient edge for a Tensor that "
                               "does not require gradients")
        if accumulator is not None:
            accumulator.register_prehook(_raise_poisoned)
            return
    raise RuntimeError(f"Expected use_count of {name} to be 1 or 2 with an AccumulateGrad node "
                       f"but got {use_count} make sure you are not holding references to the "
                       "tensor in other places.")


def _raise_poisoned(grad_outputs):
    raise RuntimeError(_POISONED)
