"""torch.cond and torch.while_loop, run eagerly as torch 2.13 runs them outside a compiled
region: the branch (or the loop) runs on the operands where they live, and one node,
CondAutogradOpBackward or WhileLoopAutogradOpBackward, stands for it in the graph; its
backward runs the branch (the loop) again with grad and differentiates that.

torch traces both branches (and the body) before it runs them, and refuses what it cannot
compile: outputs that alias an operand, branches whose outputs differ in number or dtype,
a body whose outputs differ from the carried inputs. distgrad runs the other branch too, to
refuse the same things with torch's words (under its exception classes, distgrad._dynamo.exc).
"""
from __future__ import annotations

import inspect

from . import dtypes
from .autograd import grad_mode
from .autograd.function import Function
from .tensor import Tensor


class TorchDynamoException(RuntimeError):
    pass


class UncapturedHigherOrderOpError(TorchDynamoException):
    pass


class TorchRuntimeError(TorchDynamoException):
    pass


_UNCAPTURED = ("This higher order operator doesn't work unless it is captured completely with "
               "torch.compile. Got graph break/error:\n\n")


def _leaves(tree) -> list:
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves(item)]
    if isinstance(tree, dict):
        return [leaf for item in tree.values() for leaf in _leaves(item)]
    return [tree]


def _rebuild(tree, leaves):
    """`tree`'s structure with its leaves taken in order from the iterator `leaves`."""
    if isinstance(tree, (tuple, list)):
        return type(tree)(_rebuild(item, leaves) for item in tree)
    if isinstance(tree, dict):
        return {k: _rebuild(v, leaves) for k, v in tree.items()}
    return next(leaves)


def _aliases(output, inputs) -> bool:
    base = output._base if output._base is not None else output
    return any(base is x or base is x._base for x in inputs if isinstance(x, Tensor))


def _refuse_aliasing(op: str, outputs, inputs) -> None:
    if any(isinstance(o, Tensor) and _aliases(o, inputs) for o in outputs):
        raise UncapturedHigherOrderOpError(
            _UNCAPTURED + "Encountered aliasing during higher order op tracing\n"
            f"  Higher Order Operator: {op}\n  Explanation: Higher order ops do not support "
            "aliasing.")


class _Replay(Function):
    """One node for a traced region: forward runs `fn` on the tensors without grad; backward
    runs it again with grad on detached copies and differentiates it."""

    @staticmethod
    def forward(ctx, fn, *tensors):
        ctx.fn = fn
        ctx.save_for_backward(*tensors)
        outs = fn(*tensors)
        ctx.mark_non_differentiable(*[o for o in outs if not o.is_floating_point()])
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        inputs = [t.detach()._set_requires_grad(t.requires_grad) for t in ctx.saved_tensors]
        with grad_mode.enable_grad():
            outs = ctx.fn(*inputs)
        pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad and g is not None]
        wanted = [x for x in inputs if x.requires_grad]
        from .autograd import grad as _grad

        found = iter(_grad([o for o, _ in pairs], wanted, [g for _, g in pairs],
                           allow_unused=True) if pairs and wanted else [None] * len(wanted))
        return (None, *[next(found) if x.requires_grad else None for x in inputs])


class CondAutogradOp(_Replay):
    pass


class WhileLoopAutogradOp(_Replay):
    pass


def _needs_grad(tensors) -> bool:
    return grad_mode.is_grad_enabled() and any(t.requires_grad for t in tensors)


# ---- cond ---------------------------------------------------------------------------------------

def _check_cond_inputs(pred, true_fn, false_fn, operands) -> None:
    if not isinstance(pred, (bool, int, float, Tensor)):
        raise RuntimeError(f"Expected pred to be bool or tensor, but got {pred}.")
    if not callable(true_fn) or not callable(false_fn):
        raise RuntimeError("Expect both branches to be callable.")
    if not isinstance(operands, (tuple, list)) or not all(
            isinstance(x, Tensor) for x in _leaves(operands)):
        raise RuntimeError("Expect operands to be a tuple of possibly nested dict/list/tuple "
                           f"that only consists of tensor leaves, but got {operands}.")
    if isinstance(pred, Tensor) and pred.numel() != 1:
        raise RuntimeError(f"Expected pred to be bool or single-element tensor, but got {pred}.")


def _branch_outputs(fn, operands) -> tuple:
    result = fn(*operands)
    return result, _leaves(result)


def _eager_hint(context: str, page: str) -> str:
    """The lines torch's tracer adds to an error user code would raise in eager too: its
    hint, the debug context and the page of that graph break."""
    return ("\n  Hint: Your code may result in an error when running in eager. Please double "
            "check that your code doesn't contain a similar error when actually running "
            "eager/uncompiled. You can do this by removing the `torch.compile` call, or by "
            "using `torch.compiler.set_stance(\"force_eager\")`. \n\n  Developer debug "
            f"context: {context}\n\n For more details about this graph break, please visit: "
            f"https://meta-pytorch.github.io/compile-graph-break-site/gb/{page}.html")


def _fake(t) -> str:
    """A tensor as torch's fake tensor prints in its tracing errors."""
    dtype = "" if t.dtype is dtypes.float32 else f", dtype={t.dtype}"
    return f"FakeTensor(..., size={tuple(t.shape)}{dtype})"


def _unmerged(pred, operands, what: str, a, b) -> TorchRuntimeError:
    """torch's error for branch outputs it cannot merge (dtypes, numbers of dims)."""
    call = (f"cond(*({_fake(pred)}, GraphModule(), GraphModule(), "
            f"{_rebuild_as_text(operands)}), **{{}})")
    return TorchRuntimeError(
        "RuntimeError when making fake tensor call\n  Explanation: Dynamo failed to run FX node "
        f"with fake tensors: call_function {call}: got RuntimeError(\"When merging two branches' "
        f"output in torch.cond,  expected same {what} but got {a} and {b}.\")" +
        _eager_hint("", "gb4315"))


def _rebuild_as_text(tree) -> str:
    if isinstance(tree, (tuple, list)):
        items = [_rebuild_as_text(item) for item in tree]
        if isinstance(tree, list):
            return f"[{', '.join(items)}]"
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    return _fake(tree) if isinstance(tree, Tensor) else repr(tree)


def _check_branches(taken, other, pred, operands) -> None:
    for outs in (taken, other):
        for o in outs:
            if not isinstance(o, Tensor):
                raise TorchRuntimeError(
                    "RuntimeError when making fake tensor call\n  Explanation: expected both "
                    f"branches to return tensors, got {type(o)}")
    if len(taken) != len(other):
        raise TorchRuntimeError(
            "RuntimeError when making fake tensor call\n  Explanation: Expect branches to "
            f"return the same number of outputs, but got {len(taken)} and {len(other)}")
    for a, b in zip(taken, other):
        if a.dtype != b.dtype:
            raise _unmerged(pred, operands, "dtype", a.dtype, b.dtype)
        if a.ndim != b.ndim:
            raise _unmerged(pred, operands, "dim", a.ndim, b.ndim)


def cond(pred, true_fn, false_fn, operands=()):
    """true_fn(*operands) if pred else false_fn(*operands); a Python bool pred calls the
    branch as it is, a one-element tensor runs it as one CondAutogradOpBackward node."""
    _check_cond_inputs(pred, true_fn, false_fn, operands)
    if not isinstance(pred, Tensor):
        return true_fn(*operands) if pred else false_fn(*operands)
    taken, other = (true_fn, false_fn) if bool(pred) else (false_fn, true_fn)
    flat = _leaves(operands)
    with grad_mode.no_grad():
        structure, outs = _branch_outputs(lambda *xs: taken(*xs), operands)
        _, other_outs = _branch_outputs(lambda *xs: other(*xs), operands)
    _refuse_aliasing("torch.cond", outs + other_outs, flat)  # (torch's, as it traces each)
    true_outs, false_outs = (outs, other_outs) if taken is true_fn else (other_outs, outs)
    _check_branches(true_outs, false_outs, pred, operands)

    if not _needs_grad(flat):
        return structure

    def run(*tensors):
        return _leaves(taken(*_rebuild(operands, iter(tensors))))

    return _rebuild(structure, iter(CondAutogradOp.apply(run, *flat)))


# ---- while_loop ---------------------------------------------------------------------------------

def _check_cond_value(value) -> bool:
    if isinstance(value, Tensor):
        if value.dim() != 0:
            raise UncapturedHigherOrderOpError(
                _UNCAPTURED + "torch.while_loop: unsupported cond_fn return type\n  Higher Order "
                "Operator: torch.while_loop\n  Explanation: Expected cond_fn to return a scalar "
                f"tensor or a bool but got {value.shape}.")
        return bool(value)
    return bool(value)


def _check_body_outputs(outs, carried) -> None:
    if len(outs) != len(carried):
        raise UncapturedHigherOrderOpError(
            "Expected body_fn_output and carried_inputs to have same number of outputs but got "
            f"lhs:{list(outs)} and rhs:{list(carried)}\n  Higher Order Operator: torch.while_loop")
    for k, (o, c) in enumerate(zip(outs, carried)):
        if isinstance(o, Tensor) and isinstance(c, Tensor):
            for what, a, b in (("dtype", o.dtype, c.dtype), ("shape", o.shape, c.shape)):
                if a != b:
                    raise UncapturedHigherOrderOpError(
                        "Expected body_fn_output and carried_inputs to have same metadata but "
                        f"found:\npair[{k}] differ in '{what}: {a} vs {b}'\n  Higher Order "
                        "Operator: torch.while_loop")


def _loop(cond_fn, body_fn, carried):
    """(the carried values after the loop, the body's last output as it returned it)."""
    carried, structure = list(carried), None
    first = cond_fn(*carried)
    if not isinstance(first, Tensor) and first:
        raise UncapturedHigherOrderOpError(
            _UNCAPTURED + "torch.while_loop: infinite loop detected\n  Higher Order Operator: "
            "torch.while_loop\n  Explanation: Infinite loop detected because while_loop's "
            f"cond_fn always returns the same value {first}.")
    going = _check_cond_value(first)
    while going:
        structure = body_fn(*carried)
        outs = list(structure) if isinstance(structure, (tuple, list)) else [structure]
        _check_body_outputs(outs, carried)
        carried = outs
        going = _check_cond_value(cond_fn(*carried))
    return carried, structure


def _refuse_carried(cond_fn, carried) -> None:
    """torch's errors for carried_inputs that are no tuple or list: its tracer iterates them
    (a tensor by its rows, which cond_fn must take), and refuses a None leaf."""
    if carried is None:
        raise AssertionError("[None] can only be of (<class 'torch.Tensor'>, <class 'int'>, "
                             "<class 'torch.SymInt'>) but got (<class 'NoneType'>,)")
    if not isinstance(carried, Tensor):
        raise UncapturedHigherOrderOpError(
            _UNCAPTURED + f"ConstantVariable(str: \"'{type(carried).__name__}' object is not "
            "iterable\")\n  Higher Order Operator: torch.while_loop")
    try:
        inspect.signature(cond_fn).bind(*range(len(carried)))
    except TypeError:
        name = getattr(cond_fn, "__name__", cond_fn)
        code = getattr(cond_fn, "__code__", None)
        where = f" {code.co_filename}:{code.co_firstlineno}" if code is not None else ""
        args = ", ".join(["<class 'torch.Tensor'>"] * len(carried))
        raise UncapturedHigherOrderOpError(
            _UNCAPTURED + "failed to bind arguments when attempting to inline\n  Higher Order "
            "Operator: torch.while_loop\n  Explanation: Argument mismatch when attempting to "
            f"trace function {name}." + _eager_hint(
                f"func='{name}'{where}; args = [{args}]; kwargs = {{}}", "gb7312")) from None
    raise RuntimeError(f"carried_inputs must be a tuple or list, got {type(carried)}")


def while_loop(cond_fn, body_fn, carried_inputs):
    """Runs body_fn on the carried values while cond_fn of them is true, and returns the last
    ones as body_fn returned them; one WhileLoopAutogradOpBackward node when grad is needed."""
    if not isinstance(carried_inputs, (tuple, list)):
        _refuse_carried(cond_fn, carried_inputs)
    positions = [k for k, c in enumerate(carried_inputs) if isinstance(c, Tensor)]
    with grad_mode.no_grad():
        final, structure = _loop(cond_fn, body_fn, carried_inputs)
    if structure is None:
        return tuple(carried_inputs)
    _refuse_aliasing("torch.while_loop", _leaves(final), list(carried_inputs))
    inputs = [carried_inputs[k] for k in positions]
    if not _needs_grad(inputs):
        return structure if not isinstance(structure, (tuple, list)) else type(structure)(final)
    numbers = [c for c in final if not isinstance(c, Tensor)]

    def run(*tensors):
        values = list(carried_inputs)
        for k, t in zip(positions, tensors):
            values[k] = t
        return [v for v in _loop(cond_fn, body_fn, values)[0] if isinstance(v, Tensor)]

    tensors = iter(WhileLoopAutogradOp.apply(run, *inputs))
    number_values = iter(numbers)
    out = [next(tensors) if isinstance(c, Tensor) else next(number_values) for c in final]
    if isinstance(structure, (tuple, list)):
        return type(structure)(out)
    return out[0]
