"""Higher-level derivatives of a function: `vjp`, `jvp`, `jacobian`, `hessian`, `vhp`,
`hvp`, with torch.autograd.functional's arguments, return structures and errors.

All of them are reverse mode (`autograd.grad`); `jvp` and `hvp` use the double-backward
trick, as torch does, so they need a function whose backward is differentiable.

    >>> jacobian(lambda x: x.exp(), distgrad.ones(2))
    tensor([[2.7183, 0.0000],
            [0.0000, 2.7183]])
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

from . import anomaly_mode, forward_ad
from . import grad as _grad
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


# ---- argument handling (as torch's private helpers) ---------------------------------------

def _is_tensor(x) -> bool:
    return hasattr(x, "_storage")


def _as_tuple(inp, arg_name: str, fn_name: str):
    """(was it a tuple, the tuple of tensors)."""
    is_tuple = isinstance(inp, tuple)
    if not is_tuple:
        inp = (inp,)
    for i, el in enumerate(inp):
        if not _is_tensor(el):
            where = f"the value at index {i} has type" if is_tuple else f"the given {arg_name} has type"
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of "
                            f"Tensors but {where} {type(el)}.")
    return is_tuple, inp


def _unpack(res, to_unpack):
    """Undo `_as_tuple` on a result: one flag, or (outer, inner) flags for a nested one."""
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        if not to_unpack[0]:
            res = res[0]
    elif not to_unpack:
        res = res[0]
    return res


def _preprocess(inputs, create_graph: bool, need_graph: bool):
    """Fresh tensor objects the function is called on: differentiable views of the inputs
    under create_graph, detached leaves otherwise (so captured inputs are told apart)."""
    res = []
    for inp in inputs:
        if create_graph and inp.requires_grad:
            res.append(inp.view_as(inp))
        else:
            res.append(forward_ad.detached(inp).requires_grad_(bool(need_graph)))
    return tuple(res)


def _postprocess(res, create_graph: bool):
    if _is_tensor(res[0]):
        return res if create_graph else tuple(forward_ad.detached(r) for r in res)
    return tuple(_postprocess(r, create_graph) for r in res)


def _validate_v(v, other, is_other_tuple: bool) -> None:
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got "
                               f"{len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for idx, (el_v, el_other) in enumerate(zip(v, other)):
        if el_v.size() != el_other.size():
            prepend = f"Entry {idx} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {el_other.size()} but got "
                               f"{el_v.size()}.")


def _check_requires_grad(inputs, input_type: str, strict: bool) -> None:
    if not strict:
        return
    for i, inp in enumerate(inputs):
        if inp is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input "
                               f"{i}. This is not allowed in strict mode.")
        if inp.requires_grad:
            continue
        if input_type == "hessian":
            raise RuntimeError(f"The hessian of the user-provided function with respect to input {i} "
                               "is independent of the input. This is not allowed in strict mode. You "
                               "should ensure that your function is thrice differentiable and that "
                               "the hessian depends on the inputs.")
        if input_type == "jacobian":
            raise RuntimeError("While computing the hessian, found that the jacobian of the "
                               f"user-provided function with respect to input {i} is independent of "
                               "the input. This is not allowed in strict mode. You should ensure that "
                               "your function is twice differentiable and that the jacobian depends "
                               "on the inputs (this would be violated by a linear function for "
                               "example).")
        if input_type == "grad_inputs":
            raise RuntimeError(f"The gradient with respect to input {i} is independent of the inputs "
                               "of the user-provided function. This is not allowed in strict mode.")
        raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The "
                           "outputs must be computed in a differentiable manner from the input when "
                           "running in strict mode.")


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """autograd.grad that skips outputs not requiring grad and allows unused inputs."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    new_outputs, new_grads = [], []
    for out, g in zip(outputs, grad_outputs):
        if out is not None and out.requires_grad:
            new_outputs.append(out)
            new_grads.append(g)
    if not new_outputs:
        return (None,) * len(inputs)
    return _grad(tuple(new_outputs), inputs, tuple(new_grads), allow_unused=True,
                 create_graph=create_graph, retain_graph=retain_graph)


_ZERO_ERRORS = {
    "back": "The output of the user-provided function is independent of input {i}. This is not "
            "allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
                  "grad_outputs when using the double backward trick to compute forward mode "
                  "gradients. This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This is "
                   "not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in "
                         "the grad_jacobian. This is not allowed in strict mode as it prevents from "
                         "using the double backward trick to replace forward mode AD.",
}


def _fill_in_zeros(grads, refs, strict: bool, create_graph: bool, stage: str):
    from ..creation import zeros_like

    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_ZERO_ERRORS[stage].format(i=i))
            g = zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input "
                               f"{i}. This is not allowed in strict mode when create_graph=True.")
        res.append(g)
    return tuple(res)


# ---- public API ----------------------------------------------------------------------------

def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J): the vector-Jacobian product at `inputs`."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
            v = _preprocess(v, create_graph, need_graph=False)
            _validate_v(v, outputs, is_outputs_tuple)
        elif len(outputs) != 1 or outputs[0].nelement() != 1:
            raise RuntimeError("The vector v can only be None if the user-provided function returns "
                               "a single Tensor with a single element.")
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(outputs, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, inputs, strict, create_graph, "back")
    outputs = _postprocess(outputs, create_graph)
    result = _postprocess(result, create_graph)
    return _unpack(outputs, is_outputs_tuple), _unpack(result, is_inputs_tuple)


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v): the Jacobian-vector product, by the double-backward trick."""
    from ..creation import zeros_like

    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", "jvp")
            v = _preprocess(v, create_graph, need_graph=False)
            _validate_v(v, inputs, is_inputs_tuple)
        elif len(inputs) != 1 or inputs[0].nelement() != 1:
            raise RuntimeError("The vector v can only be None if the input to the user-provided "
                               "function is a single Tensor with a single element.")
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        # The backward is linear in grad_outputs, so their value does not matter (zeros).
        grad_outputs = tuple(zeros_like(out, requires_grad=True) for out in outputs)
        grad_inputs = _autograd_grad(outputs, inputs, grad_outputs, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    with enable_grad() if create_graph else nullcontext():
        grad_res = _autograd_grad(grad_inputs, grad_outputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, outputs, strict, create_graph, "back_trick")
    outputs = _postprocess(outputs, create_graph)
    result = _postprocess(result, create_graph)
    return _unpack(outputs, is_outputs_tuple), _unpack(result, is_outputs_tuple)


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian of `func` at `inputs`: a tensor of shape out.shape + in.shape, or
    (nested) tuples of them when `func` takes or returns tuples. Reverse mode is one
    backward per output element (`vectorize` changes nothing); forward mode one forward per
    input element, with dual tensors (autograd.forward_ad)."""
    from ..creation import zeros_like
    from ..ops.functions import stack

    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: '
                             'If your function has more outputs than inputs, "forward-mode" tends to '
                             'be more performant. Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError("torch.autograd.functional.jacobian: `create_graph=True` and "
                                      '`strategy="forward-mode"` are not supported together (yet). '
                                      "Please either set `create_graph=False` or "
                                      '`strategy="reverse-mode"`.')
        # torch's own refusals (its _jacfwd) come before the missing forward-mode AD
        if strict:
            raise RuntimeError('torch.autograd.functional.jacobian: `strict=True` and '
                               '`strategy="forward-mode"` are not supported together (yet). '
                               'Please either set `strict=False` or `strategy="reverse-mode"`.')
        _as_tuple(inputs, "inputs", "jacobian")
        if not vectorize:
            raise NotImplementedError("Computing Jacobian using forward-AD or forward-over-reverse "
                                      "Hessian isonly implemented for `vectorize=True`.")
        return _jacobian_forward(func, inputs)
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        jac, every_row, used = [], tuple([] for _ in inputs), [False] * len(inputs)
        for i, out in enumerate(outputs):
            rows = tuple([] for _ in inputs)
            flat = out.reshape(-1)
            for j in range(out.nelement()):
                # (torch's vectorized backward runs under its legacy vmap)
                with anomaly_mode.batched_backward() if vectorize else nullcontext():
                    vj = _autograd_grad((flat[j],), inputs, retain_graph=True,
                                        create_graph=create_graph)
                for k, (row, g, inp) in enumerate(zip(rows, vj, inputs)):
                    if g is not None:
                        used[k] = True
                        if strict and create_graph and not g.requires_grad:
                            raise RuntimeError("The jacobian of the user-provided function is "
                                               f"independent of input {i}. This is not allowed in "
                                               "strict mode when create_graph=True.")
                        row.append(g)
                    else:
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is "
                                               f"independent of input {k}. This is not allowed in "
                                               "strict mode.")
                        row.append(zeros_like(inp))
            if not vectorize:
                jac.append(tuple(_stack_rows(row, out, inp, stack)
                                 for row, inp in zip(rows, inputs)))
            for row, every in zip(rows, every_row):
                every.extend(row)
        if vectorize:
            jac = _as_one_batch(every_row, used, outputs, inputs, stack)
        jac = _postprocess(tuple(jac), create_graph)
        return _unpack(jac, (is_outputs_tuple, is_inputs_tuple))


def _jacobian_forward(func, inputs):
    """jacobian(strategy="forward-mode"): row e of the stacked tangents is the outputs'
    tangents when the inputs' flattened tangent is the unit vector e (autograd.forward_ad).
    The inputs are not detached, as torch's are not: a tangent that reads an input which
    requires grad carries a graph, and so does its Jacobian."""
    from ..creation import zeros, zeros_like
    from ..ops.functions import stack
    from . import forward_ad

    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided "
                                          "function", "jacobian")
    rows = [[] for _ in outputs]
    for k, x in enumerate(inputs):
        for e in range(x.nelement()):
            unit = zeros(x.nelement(), dtype=x.dtype, device=x.device)
            unit[e] = 1
            with forward_ad.dual_level():
                args = list(inputs)
                args[k] = forward_ad.make_dual(x, unit.view(x.shape))
                _, outs = _as_tuple(func(*args), "outputs of the user-provided function",
                                    "jacobian")
                for per_output, out in zip(rows, outs):
                    tangent = forward_ad.unpack_dual(out).tangent
                    per_output.append(zeros_like(out) if tangent is None else tangent)
    numels = [x.nelement() for x in inputs]
    jac = []
    for per_output, out in zip(rows, outputs):
        if not per_output:  # (no input has elements)
            jac.append(tuple(zeros(tuple(out.shape) + tuple(x.shape), dtype=out.dtype,
                                   device=out.device) for x in inputs))
            continue
        # (as torch's: the stacked tangents split by input, their first dim moved last)
        stacked = stack(per_output, dim=0)
        jac.append(tuple(block.permute(*range(1, block.ndim), 0)
                         .reshape(tuple(out.shape) + tuple(x.shape))
                         for block, x in zip(stacked.split(numels, dim=0), inputs)))
    return _unpack(tuple(jac), (is_outputs_tuple, is_inputs_tuple))


def _as_one_batch(every_row, used, outputs, inputs, stack):
    """The Jacobian's blocks as torch's vectorized backward lays them out: per input, one
    batch of every output's rows (zeros expanded, for an input no output uses), split by
    output and each part viewed as its block: a view of a multi-output op, which refuses
    writes when it requires grad."""
    from ..creation import zeros_like

    numels = [out.nelement() for out in outputs]
    per_input = []
    for rows, is_used, inp in zip(every_row, used, inputs):
        batch = stack(rows, dim=0) if is_used else \
            zeros_like(inp).expand((sum(numels),) + tuple(inp.shape))
        per_input.append([part.view(tuple(out.shape) + tuple(inp.shape))
                          for part, out in zip(batch.split(numels, dim=0), outputs)])
    return [tuple(blocks) for blocks in zip(*per_input)]


def _stack_rows(rows, out, inp, stack):
    shape = tuple(out.shape) + tuple(inp.shape)
    if not rows:  # an output with no elements
        from ..creation import zeros

        return zeros(shape, dtype=inp.dtype, device=inp.device)
    return stack(rows, dim=0).view(shape)


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar `func`: a tensor of shape in.shape + in.shape, or a tuple of
    tuples (`H[i][j]` for inputs i and j) when `inputs` is a tuple."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def ensure_single_output_function(*inp):
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict)
        if is_out_tuple or not _is_tensor(out):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.nelement() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain "
                               "a single element")
        return out.squeeze()

    def jac_func(*inp):
        jac = jacobian(ensure_single_output_function, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                   strategy=outer_jacobian_strategy)
    return _unpack(res, (is_inputs_tuple, is_inputs_tuple))


def _hv_prepare(func, inputs, v, create_graph, strict, fn_name):
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _preprocess(inputs, create_graph, need_graph=True)
    if v is not None:
        _, v = _as_tuple(v, "v", fn_name)
        v = _preprocess(v, create_graph, need_graph=False)
        _validate_v(v, inputs, is_inputs_tuple)
    elif len(inputs) != 1 or inputs[0].nelement() != 1:
        raise RuntimeError("The vector v can only be None if the input to the user-provided "
                           "function is a single Tensor with a single element.")
    outputs = func(*inputs)
    is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", fn_name)
    _check_requires_grad(outputs, "outputs", strict)
    if is_outputs_tuple or not _is_tensor(outputs[0]):
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].nelement() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should contain "
                           "a single element")
    jac = _autograd_grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T H) for a scalar `func`."""
    with enable_grad():
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _hv_prepare(
            func, inputs, v, create_graph, strict, "vhp")
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(jac, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, inputs, strict, create_graph, "double_back")
    outputs = _postprocess(outputs, create_graph)
    result = _postprocess(result, create_graph)
    return _unpack(outputs, is_outputs_tuple), _unpack(result, is_inputs_tuple)


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H v) for a scalar `func`, by the double-backward trick."""
    from ..creation import zeros_like

    with enable_grad():
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _hv_prepare(
            func, inputs, v, create_graph, strict, "hvp")
        grad_jac = tuple(zeros_like(inp, requires_grad=True) for inp in inputs)
        double_back = _autograd_grad(jac, inputs, grad_jac, create_graph=True)
        _check_requires_grad(jac, "hessian", strict)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(double_back, grad_jac, v, create_graph=create_graph)
        result = _fill_in_zeros(grad_res, inputs, strict, create_graph, "double_back_trick")
    outputs = _postprocess(outputs, create_graph)
    result = _postprocess(result, create_graph)
    return _unpack(outputs, is_outputs_tuple), _unpack(result, is_inputs_tuple)

