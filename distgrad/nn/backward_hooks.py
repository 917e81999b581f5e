"""torch's module backward hooks (`register_full_backward_hook`, `..._pre_hook` and the
deprecated `register_backward_hook`), as torch.utils.hooks.BackwardHook builds them.

For one call of a module with full or pre hooks, its tensor inputs and then its outputs go
through `BackwardHookFunction`, an identity Function. A hook on the outputs' node sees the
gradients w.r.t. the outputs (the pre-hooks run there and may replace them); a hook on
the inputs' node sees those w.r.t. the inputs once they are all summed, and runs the full
hooks with both. So, as in torch, forward gets views of its inputs and the caller views of
the outputs, and writing either in place raises.
"""
from __future__ import annotations

import functools
import warnings
import weakref

from ..autograd import grad_mode
from ..autograd.function import Function
from ..tensor import Tensor
from ..user_frames import user_stacklevel


class BackwardHookFunction(Function):
    """The identity, so that its node's hooks see the gradients of what passes through."""

    @staticmethod
    def forward(ctx, *args):
        ctx.mark_non_differentiable(*[a for a in args if not a.requires_grad])
        return args

    @staticmethod
    def backward(ctx, *grads):
        return grads


class BackwardHook:
    """The backward hooks of one call of `module`: set up on its inputs before forward
    and on its outputs after; fires the user's hooks during backward."""

    def __init__(self, module, hooks: list, pre_hooks: list) -> None:
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_outputs = None  # from the outputs' node to the inputs' node
        self.n_inputs = self.n_outputs = -1
        self.input_slots = self.output_slots = None  # positions of the tensors, if recorded

    # ---- forward ------------------------------------------------------------------------
    def setup_input_hook(self, args: tuple) -> tuple:
        args, self.input_slots = _through_identity(args, self._hook_inputs_node)
        self.n_inputs = len(args)
        return args

    def setup_output_hook(self, result):
        if not isinstance(result, (Tensor, tuple)):
            warnings.warn("For backward hooks to be called, module output should be a Tensor or a "
                          f"tuple of Tensors but received {type(result)}", stacklevel=4)
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        outputs, self.output_slots = _through_identity(outputs, self._hook_outputs_node)
        self.n_outputs = len(outputs)
        return outputs[0] if single else outputs

    # ---- backward -----------------------------------------------------------------------
    def _hook_outputs_node(self, node) -> None:
        def on_grad_outputs(_, grad_outputs):
            self.grad_outputs = self._run_pre_hooks(
                _spread(self.output_slots, grad_outputs, self.n_outputs))
            grads = self.grad_outputs
            if self.input_slots is None:  # no input requires grad: fire now, as torch does
                self._fire_without_inputs()
            return tuple(grads[i] for i in self.output_slots)

        node.register_hook(on_grad_outputs)

    def _hook_inputs_node(self, node) -> None:
        def on_grad_inputs(grad_inputs, _):
            if self.grad_outputs is None:
                # The gradient reached the inputs without passing the outputs (double
                # backward, for one): torch does not fire then.
                return None
            grads = self._run_hooks(_spread(self.input_slots, grad_inputs, self.n_inputs))
            self.grad_outputs = None
            return tuple(grads[i] for i in self.input_slots)

        node.register_hook(on_grad_inputs)

    def _run_pre_hooks(self, grad_outputs: tuple) -> tuple:
        for hook in self.pre_hooks:
            new = hook(self.module, grad_outputs)
            if new is None:
                continue
            if len(new) != len(grad_outputs):
                raise RuntimeError("Backward pre hook returned an invalid number of grad_output, "
                                   f"got {len(new)}, but expected {len(grad_outputs)}")
            grad_outputs = new
        return grad_outputs

    def _run_hooks(self, grad_inputs: tuple) -> tuple:
        for hook in self.hooks:
            new = hook(self.module, grad_inputs, self.grad_outputs)
            if new is None:
                continue
            if len(new) != len(grad_inputs):
                raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                   f"got {len(new)}, but expected {len(grad_inputs)}")
            grad_inputs = new
        return grad_inputs

    def _fire_without_inputs(self) -> None:
        warnings.warn("Full backward hook is firing when gradients are computed with respect to "
                      "module outputs since no inputs require gradients. See "
                      "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html#torch.nn."
                      "Module.register_full_backward_hook for more details.",
                      stacklevel=user_stacklevel())
        grad_inputs = (None,) * self.n_inputs
        for hook in self.hooks:
            new = hook(self.module, grad_inputs, self.grad_outputs)
            if new is not None and not (isinstance(new, tuple) and all(g is None for g in new)):
                raise RuntimeError("Backward hook for Modules where no input requires gradient "
                                   "should always return None or None for all gradients.")
        self.grad_outputs = None


def _spread(slots, grads, size: int) -> tuple:
    """The gradients of the tensors at `slots`, as a tuple of `size` with None elsewhere."""
    out = [None] * size
    for i, g in zip(slots, grads):
        out[i] = g
    return tuple(out)


def _through_identity(values: tuple, hook_node):
    """(values with their tensors passed through BackwardHookFunction, the tensors'
    positions); `hook_node(node)` is given its node. Unchanged, positions None, when no
    tensor requires grad or grad mode is off: there is no backward to hook."""
    slots = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
    tensors = [values[i] for i in slots]
    if not (any(t.requires_grad for t in tensors) and grad_mode.is_grad_enabled()):
        return values, None
    passed = BackwardHookFunction.apply(*tensors)
    node = _identity_node(passed)
    if node is None:
        raise RuntimeError("Error while setting up backward hooks. Please open an issue with a "
                           "code sample to reproduce this.")
    hook_node(node)
    new = list(values)
    for i, t in zip(slots, passed):
        new[i] = t
    return (tuple(new) if type(values) is tuple else type(values)(*new)), slots


def _identity_node(passed):
    """BackwardHookFunction's node: the grad_fn of the tensors it passed or, when they are
    sharded (it ran on gathered copies, then they were resharded), the first such node
    behind those grad_fns. Every path from them leads to it, so none goes past it to a node
    of an earlier call."""
    frontier = [t.grad_fn for t in passed if t.grad_fn is not None]
    seen = set()
    while frontier:
        node = frontier.pop(0)
        if isinstance(node, BackwardHookFunction._backward_cls):  # (a sharded tensor's
            return node  # node is named as its parts' Function, but is not it)
        if node not in seen:
            seen.add(node)
            frontier.extend(child for child, _ in node.next_functions if child is not None)
    return None


# ---- the deprecated register_backward_hook ----------------------------------------------

class ModuleHook:
    """A hook on a node that calls `hook(module, ...)`; holds the module weakly, as torch."""

    def __init__(self, hook, module) -> None:
        functools.update_wrapper(self, hook)
        self.hook = hook
        self.module = weakref.ref(module)

    def __call__(self, *args):
        module = self.module()
        if module is None:
            raise RuntimeError("You are trying to call the hook of a dead Module!")
        return self.hook(module, *args)


def hook_output_node(module, args: tuple, result, hooks: list) -> None:
    """register_backward_hook's hooks run as hooks of the node that made the first output
    tensor: they see that node's gradients, which are the module's only for a module of
    one op (torch's FutureWarnings say when they are not)."""
    first = result
    while not isinstance(first, Tensor):
        if isinstance(first, dict):
            first = next(v for v in first.values() if isinstance(v, Tensor))
        else:
            first = first[0]
    node = first.grad_fn
    if node is None:
        return
    for hook in hooks:
        node.register_hook(ModuleHook(hook, module))
    _warn_when_partial(args, result, node)


def _warn_when_partial(inputs, result, node) -> None:
    """torch's FutureWarnings for a module whose output node's gradients are not quite its
    own (Module._maybe_warn_non_full_backward_hook)."""
    if isinstance(result, Tensor):
        result = (result,)
    elif not (isinstance(result, tuple) and all(isinstance(r, Tensor) for r in result)):
        return _deprecated("Using non-full backward hooks on a Module that does not return a "
                           "single Tensor or a tuple of Tensors is deprecated and will be removed "
                           "in future versions. This hook will be missing some of the "
                           "grad_output. Please use register_full_backward_hook to get the "
                           "documented behavior.")
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    elif not (isinstance(inputs, tuple) and all(isinstance(i, Tensor) for i in inputs)):
        return _deprecated("Using non-full backward hooks on a Module that does not take as input "
                           "a single Tensor or a tuple of Tensors is deprecated and will be "
                           "removed in future versions. This hook will be missing some of the "
                           "grad_input. Please use register_full_backward_hook to get the "
                           "documented behavior.")
    out_nodes = {r.grad_fn for r in result if r.grad_fn is not None}
    if not out_nodes or (len(out_nodes) == 1 and node not in out_nodes):
        _deprecated("Using a non-full backward hook when outputs are nested in python data "
                    "structure is deprecated and will be removed in future versions. This hook "
                    "will be missing some grad_output.")
    elif len(out_nodes) > 1:
        _deprecated("Using a non-full backward hook when outputs are generated by different "
                    "autograd Nodes is deprecated and will be removed in future versions. This "
                    "hook will be missing some grad_output. Please use "
                    "register_full_backward_hook to get the documented behavior.")
    elif {i.grad_fn for i in inputs if i.grad_fn is not None} != \
            {child for child, _ in node.next_functions}:
        _deprecated("Using a non-full backward hook when the forward contains multiple autograd "
                    "Nodes is deprecated and will be removed in future versions. This hook will "
                    "be missing some grad_input. Please use register_full_backward_hook to get "
                    "the documented behavior.")


def _deprecated(message: str) -> None:
    warnings.warn(message, FutureWarning, stacklevel=user_stacklevel())
