"""torch.autograd.forward_ad: forward-mode AD with dual tensors.

    >>> with dual_level():
    ...     y = f(make_dual(x, v))
    ...     jvp = unpack_dual(y).tangent      # J(x) @ v

Within a level, every op with an input that has a tangent gives its outputs the tangent
J @ v: a view op applies itself to the tangent (the tangent of `x[1:]` is a view of x's
tangent, as torch's); any other op gets it by the double-vjp trick on a fresh copy of
itself (its VJP is linear in the cotangent u, so d(vjp(u) . v)/du = J v), so every op whose
backward is differentiable has a forward derivative, with torch's values. An in-place op
writes the new tangent into the written tensor's (a view without one: into its part of its
base's, which a view reads when it has none of its own); a custom Function uses its `jvp`. Leaving
the level drops every tangent made in it. One level at a time, as torch (no nesting).

A tangent is itself differentiable where it depends on primals or tangents that require
grad (forward-over-reverse). Differences from torch: torch's formulas also connect a tangent
to primals it does not depend on (a zero term), so its `requires_grad` can be True where
this one's is False; each op with a tangent runs about three times; a saved output unpacked through
saved_tensors_hooks loses its tangent in a backward run inside the level.
"""
from __future__ import annotations

import contextlib
import sys
import weakref
from typing import NamedTuple

from . import grad_mode, record, saved_hooks

__all__ = ["UnpackedDualTensor", "enter_dual_level", "exit_dual_level", "make_dual",
           "unpack_dual", "dual_level"]

_current_level = -1
_duals: list = []  # weak references to the tensors given a tangent in the current level


class UnpackedDualTensor(NamedTuple):
    """What unpack_dual returns: the primal and its tangent (None when it has none)."""

    primal: object
    tangent: object


def enter_dual_level() -> int:
    global _current_level
    if _current_level >= 0:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _current_level = 0
    record.forward_ad = sys.modules[__name__]  # ops now push tangents (push, below)
    return _current_level


def exit_dual_level(*, level=None) -> None:
    global _current_level
    if level is None:
        level = _current_level
    if level != _current_level:
        raise RuntimeError("Trying to exit a forward AD level that was not the last one that "
                           "was created. This is not supported.")
    record.forward_ad = None
    for ref in _duals:
        t = ref()
        if t is not None:
            t.__dict__.pop("_fw_tangent", None)
            t.__dict__.pop("_fw_own_tangent_only", None)
    _duals.clear()
    _current_level = level - 1


class dual_level(contextlib.ContextDecorator):
    """A forward AD level: tangents made in it are dropped at its end."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc) -> None:
        exit_dual_level()


def make_dual(tensor, tangent, *, level=None):
    """A view of `tensor` (differentiable) carrying `tangent`: `tangent` itself when it is
    laid out as `tensor`, else a copy that is."""
    if level is None:
        level = _current_level
    if level < 0:
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, "
                           "make sure to enter_dual_level() first.")
    if not tensor.is_floating_point():
        raise ValueError(f"Expected primal to be floating point or complex, but got: "
                         f"{tensor.dtype}")
    if not tangent.is_floating_point():
        raise ValueError(f"Expected tangent to be floating point or complex, but got: "
                         f"{tangent.dtype}")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError("Trying to set a forward gradient that has a different size than "
                           "that of the original Tensor, this is not supported. Tensor is of "
                           f"size {list(tensor.shape)} while the given forward gradient is of "
                           f"size {list(tangent.shape)}.")
    if tangent_of(tensor) is not None:
        raise RuntimeError(f"Making a dual Tensor based on a Tensor that already has a forward "
                           f"gradient at the same level {level} is not supported.")
    if tangent.device_str != tensor.device_str:
        raise RuntimeError(f"Expected tangent to be on the same device as the primal: "
                           f"{tensor.device_str} and {tangent.device_str}")
    dual = _without_push(lambda: tensor.view(tuple(tensor.shape)))  # (ViewBackward0, as torch)
    if grad_mode.is_inference_mode_enabled() or (tensor.is_inference() and
                                                 tangent.is_inference()):
        return dual  # (torch's _make_dual does not reach its autograd kernel: no tangent)
    _set_tangent(dual, tangent if _laid_out_alike(tangent, tensor) else _copy_laid_out(
        tangent, tensor))
    return dual


def unpack_dual(tensor, *, level=None) -> UnpackedDualTensor:
    """(primal, tangent): the primal a view of `tensor` without the tangent, the tangent as
    it is held (None outside a level or for a tensor without one)."""
    if level is None:
        level = _current_level
    if level < 0:
        return UnpackedDualTensor(tensor, None)
    unpacked = aliased_primal(tensor)
    if unpacked.primal._grad_fn is not None:  # (torch's _fw_primal makes its node by hand)
        unpacked.primal._grad_fn._name = "torch::autograd::Identity"
    return unpacked


def aliased_primal(tensor) -> UnpackedDualTensor:
    """(primal, tangent) in the current level, the primal an alias of `tensor` (AliasBackward0:
    as torch.func's transforms hand their outputs back)."""
    tangent = tangent_of(tensor)
    primal = _without_push(lambda: record.call("alias", tensor))
    _own_tangent_only(primal)  # (torch's _fw_primal: a view, but not forward-differentiable)
    return UnpackedDualTensor(primal, tangent)


# ---- tangents ------------------------------------------------------------------------------

def detached(x):
    """x.detach(), keeping x's tangent: the tensors a transform (torch.func,
    autograd.functional) makes of its inputs stay dual, as torch's levels keep the tangent
    (only a user's detach() drops it)."""
    d = x.detach()
    keep_tangent(x, d)
    return d


def ordinary(d):
    """A detached `d` that may be made to require grad: an inference tensor's copy (torch's
    transforms wrap one in an ordinary tensor)."""
    return d.clone() if d.is_inference() else d


def keep_tangent(src, dst) -> None:
    """`dst`, a new handle on `src`'s values (a saved output unpacked), has src's tangent."""
    _set_tangent(dst, tangent_of(src))


def tangent_of(t):
    """t's tangent in the current level, or None. A view without one of its own sees its
    part of its base's (as torch's: a write into the base reached it)."""
    d = getattr(t, "__dict__", None)
    if d is None:
        return None
    tangent = d.get("_fw_tangent")
    base = getattr(t, "_viewed", None)
    if tangent is None and base is not None and "_fw_tangent" in base.__dict__ \
            and not d.get("_fw_own_tangent_only"):
        tangent = _part_of_base_tangent(t, base.__dict__["_fw_tangent"])
    return tangent


def _own_tangent_only(t) -> None:
    """t (and the views made of it in the level) has no part of its base's tangent."""
    if "_fw_own_tangent_only" not in t.__dict__:
        _duals.append(weakref.ref(t))
    t.__dict__["_fw_own_tangent_only"] = True


def _part_of_base_tangent(view, tangent):
    """The view's part of its base's tangent (laid out as the base), now the view's."""
    from ..ops.views import as_strided_of

    base = view._viewed
    if base._sharding is not None or not _laid_out_alike(tangent, base):
        return None
    strides, offset = view._strides_offset()
    with grad_mode.no_grad(), no_push():
        part = as_strided_of(tangent, list(view.shape), list(strides),
                             offset - base.storage_offset() + tangent.storage_offset())
    _set_tangent(view, part)
    return part


def _set_tangent(t, tangent) -> None:
    if tangent is None:
        return
    if "_fw_tangent" not in t.__dict__:
        _duals.append(weakref.ref(t))
    t.__dict__["_fw_tangent"] = tangent


def _laid_out_alike(a, b) -> bool:
    return a.dtype is b.dtype and tuple(a.stride()) == tuple(b.stride())


def _copy_laid_out(tangent, primal):
    with grad_mode.no_grad():
        out = primal.new_empty_strided(tuple(primal.shape), tuple(primal.stride()))
        return out.copy_(tangent)


@contextlib.contextmanager
def no_push():
    """No tangent propagation within (the tangents' own computations, a custom Function's
    forward, as torch runs it)."""
    level, record.forward_ad = record.forward_ad, None
    try:
        yield
    finally:
        record.forward_ad = level


def _without_push(fn):
    with no_push():
        return fn()


def function_pushed(cls, ctx, args, outputs) -> None:
    """A custom Function applied to dual tensors: its outputs' tangents from its `jvp`
    (a tangent per input; zeros for a tensor without one, None for other arguments)."""
    from ..creation import zeros_like

    tangents = [(tangent_of(a) if tangent_of(a) is not None else zeros_like(a))
                if hasattr(a, "_storage") else None for a in args]
    saved = getattr(ctx, "saved_for_forward", None)
    ctx._in_jvp = tuple(saved) if saved is not None else None  # (its ctx.saved_tensors)
    try:
        with no_push():
            pushed = cls.jvp(ctx, *tangents)
    finally:
        ctx._in_jvp = None
    outs = outputs if isinstance(outputs, tuple) else (outputs,)
    pushed = pushed if isinstance(pushed, tuple) else (pushed,)
    if len(pushed) != len(outs):
        raise RuntimeError(f"jvp() returned {len(pushed)} tangents, forward() {len(outs)} "
                           "outputs")
    for out, tangent in zip(outs, pushed):
        if hasattr(out, "_storage") and tangent is not None:
            _set_tangent(out, tangent)


def took_write(t, result) -> None:
    """`t` was written in place with `result`'s values (Tensor._inplace): its tangent becomes
    result's, written into t's own tangent when it has one (a view of a tangent sees it)."""
    new, old = tangent_of(result), tangent_of(t)
    if new is None and old is None:
        return
    if old is None and t._viewed is not None:
        old = _tangent_through_view(t)
    if old is None:
        _set_tangent(t, new)
        return
    # (recorded when the new tangent has a graph, as torch's in-place tangent update is:
    # the tangent stays differentiable; not into a leaf that requires grad, which refuses)
    keep = new is not None and new.requires_grad and not (old.is_leaf and old.requires_grad)
    with grad_mode.set_grad_enabled(keep and grad_mode.is_grad_enabled()):
        _without_push(lambda: old.copy_(new) if new is not None else old.zero_())


def _tangent_through_view(view):
    """A view without a tangent written with one: as torch's, the base takes a tangent
    laid out as itself (zeros where it had none), and the view's is its part of it."""
    from ..creation import zeros_like

    base = view._viewed
    if base._sharding is not None:
        return None
    had = tangent_of(base)
    with grad_mode.no_grad(), no_push():
        tangent = _copy_laid_out(zeros_like(base) if had is None else had, base)
    _set_tangent(base, tangent)
    return _part_of_base_tangent(view, tangent)


def push(op, inputs, attrs, outs) -> None:
    """(record.call, in a level) Give `outs`, the outputs of `op` on `inputs`, their tangents
    (none in inference mode: torch's inference tensors carry none)."""
    if grad_mode.is_inference_mode_enabled() or not _reaches_autograd(op, inputs):
        return
    tangents = [tangent_of(t) for t in inputs]
    if op.view and inputs[0].__dict__.get("_fw_own_tangent_only"):
        for out in outs if isinstance(outs, (tuple, list)) else (outs,):
            _own_tangent_only(out)
    if all(v is None for v in tangents):
        return
    if op.view:  # the same view of the tangent (views of it see writes to it)
        if tangents[0] is not None:
            views = _without_push(lambda: record.call(op.name, tangents[0], **attrs))
            for out, view in zip(outs, views if isinstance(views, tuple) else (views,)):
                _set_tangent(out, view)
        return
    floating = [o for o in outs if o.dtype.is_floating_point]
    if not floating:
        return
    # (when the new tangents get a graph, the old enter as copies: an in-place op's new
    # tangent is written into the one it was computed from (took_write), which that graph
    # must not have saved)
    if _tangents_get_a_graph(inputs, tangents):
        tangents = [None if v is None else _without_push(v.clone) for v in tangents]
    if op.jvp is not None:  # (its own formula, as torch's)
        pushed = _without_push(lambda: op.jvp(inputs, tangents, outs, **attrs))
    else:
        pushed = _pushed_forward(op, inputs, attrs, tangents, outs)
    for out, tangent in zip(floating, pushed):
        tangent = _unshared(tangent, tangents)
        _set_tangent(out, tangent)
        # The node keeps its own handle on an output it saved (exp's result): a backward
        # run inside the level reads the tangent there (forward-over-reverse).
        for saved in getattr(out._grad_fn, "_saved_outs", None) or ():
            if saved.output_nr == out._output_nr and saved.tensor is not None:
                _set_tangent(saved.tensor, tangent)


# torch's copies of a tensor: a copy_ into a new ordinary tensor, whose kernel computes the
# tangent whatever the source is
_COPIES = frozenset({"clone", "to_dtype"})


def _reaches_autograd(op, inputs) -> bool:
    """Does torch's call of `op` reach the autograd kernel that computes tangents? Not when
    every operand is an inference tensor (they carry no autograd key): a Python number an
    elementwise op wraps in an ordinary 0-dim tensor is an operand (`d * 2`), a number the
    kernel takes as it is (`d.pow(2)`, `d.clamp(0)`) is not."""
    if op.name in _COPIES:
        return True
    wraps_numbers = op.elementwise and op.number_operands
    return any(not t.is_inference() if hasattr(t, "_storage") else
               wraps_numbers and type(t) in (bool, int, float) for t in inputs)


def _unshared(tangent, input_tangents):
    """A tangent of its own for an op's output: the double-vjp trick hands back an input's
    tangent itself where the op's backward passes the cotangent through (clone, a
    same-dtype to), and a later in-place write to the output must not reach the input's."""
    if any(v is not None and v._storage.same_memory(tangent._storage) for v in input_tangents):
        return _without_push(tangent.clone)
    return tangent


def _tangents_get_a_graph(inputs, tangents) -> bool:
    """A tangent is differentiable (forward-over-reverse) where the primals or tangents it
    comes from require grad."""
    return grad_mode.is_grad_enabled() and (
        any(getattr(t, "_requires_grad", False) for t in inputs) or
        any(v.requires_grad for v in tangents if v is not None))


def _pushed_forward(op, inputs, attrs, tangents, outs) -> list:
    """J @ tangents for each floating output of `op`, by the double-vjp trick on a copy of
    the op that does not touch the inputs' histories."""
    from ..creation import zeros_like
    from .differentiate import grad
    from .engine import sums_of_wrapped_gradients

    # (the copy of the op is made from the primals, not detached, when the tangents get a
    # graph)
    keep = _tangents_get_a_graph(inputs, tangents)

    def operand(t, v):
        if not hasattr(t, "_storage"):
            return t
        if v is None:  # (an inference tensor's copy: the trick's graph may save it)
            return t if keep else ordinary(t.detach())
        if keep and t._requires_grad:
            return record.call("alias", t)  # (differentiated, and connected to t)
        return ordinary(t.detach())._set_requires_grad()

    def run():
        with grad_mode.enable_grad(), saved_hooks.suspended():
            xs = [operand(t, v) for t, v in zip(inputs, tangents)]
            ys = record.call(op.name, *xs, **attrs)
            ys = [y for y in (ys if isinstance(ys, tuple) else (ys,))
                  if y.dtype.is_floating_point]
            # torch's tangent formulas read the op's own result (exp's t * result): the
            # copy's saved result follows it, so a write to the result before a backward
            # through the tangent's graph is seen there, as torch sees it
            for y, out in zip(ys, (o for o in outs if o.dtype.is_floating_point)):
                for saved in getattr(y._grad_fn, "_saved_outs", None) or ():
                    if saved.output_nr == y._output_nr:
                        saved.follow(out)
            wrt = [(x, v) for x, v in zip(xs, tangents) if v is not None]
            us = [zeros_like(y, requires_grad=True) for y in ys]
            live = [k for k, y in enumerate(ys) if y.requires_grad]
            if not live:
                return [zeros_like(y) for y in ys]
            gs = grad([ys[k] for k in live], [x for x, _ in wrt], [us[k] for k in live],
                      create_graph=True, allow_unused=True)
            # A gradient without a graph is constant in the cotangent: zeros (a copy's to
            # the values it overwrites) add nothing; any other is a backward that cannot
            # be differentiated.
            pairs = [(g, v) for g, (_, v) in zip(gs, wrt) if g is not None and
                     (g.requires_grad or bool(g.any()))]
            if not pairs:
                return [zeros_like(y) for y in ys]
            try:
                # (summed out of place: torch's tangent formulas make new tensors, which no
                # write has counted)
                with sums_of_wrapped_gradients():
                    jvps = grad([g for g, _ in pairs], [us[k] for k in live],
                                [v for _, v in pairs], allow_unused=True, create_graph=keep)
            except RuntimeError as e:
                raise NotImplementedError(f"forward-mode AD: the derivative of {op.name} is "
                                          f"not differentiable here ({e})") from None
            out = [zeros_like(y) for y in ys]
            for k, j in zip(live, jvps):
                if j is not None:
                    out[k] = j
            return out

    return _without_push(run)
