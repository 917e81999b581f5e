"""Custom differentiable operations: torch's `autograd.Function`.

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            y, = ctx.saved_tensors
            return grad * y

    y = Exp.apply(x)          # y.grad_fn is an ExpBackward

As in torch, each Function subclass gets a node class `<Name>Backward` (made by the
metaclass), and one instance of it is both the `ctx` the user's forward and backward see
and the graph node the engine runs. The user's code always runs in the driver; the
tensor ops it calls run where their tensors live.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import warnings
from contextlib import nullcontext
from typing import Any

from ..storage import serial_now
from . import anomaly_mode, forward_ad, grad_mode, record, saved_hooks
from .graph import FREED, Node, OpNode, SavedTensor, _sequence

__all__ = ["Function", "FunctionCtx", "BackwardCFunction", "once_differentiable",
           "InplaceFunction"]


def _is_tensor(x) -> bool:
    return hasattr(x, "_storage")


_transforms = threading.local()  # the torch.func transforms running a function now
_EXTENDING = "For more details, please see https://pytorch.org/docs/main/notes/extending.func.html"


@contextlib.contextmanager
def transform(kind: str, inputs=()):
    """Mark a torch.func transform ("vmap", "grad", ...) as running its function: torch
    lets an autograd.Function run under one only with setup_context (and, under vmap,
    a vmap rule). Under a grad transform ("grad", "jvp"), a tensor made before it and not
    among the function's `inputs` is captured: no in-place op may write it."""
    stack = _transforms.__dict__.setdefault("stack", [])
    frames = _transforms.__dict__.setdefault("frames", [])
    lifts = _transforms.__dict__.setdefault("lifts", [])
    stack.append(kind)
    frames.append((serial_now(), [t._storage for t in inputs if _is_tensor(t)],
                   {id(t) for t in inputs if _is_tensor(t)}))
    # (an input with history is a stand-in for a tensor an outer graph differentiates:
    # that graph records the function's ops too, and it saves no inference tensor)
    lifts.append(kind == "grad" and not any(_is_tensor(t) and t._grad_fn is not None
                                            for t in inputs))
    try:
        yield
    finally:
        stack.pop()
        frames.pop()
        lifts.pop()


def refuse_requires_grad_in_transform() -> None:
    """torch refuses Tensor.requires_grad_() called from a function a torch.func transform
    runs (the transform decides what requires grad at its level); setting the attribute
    is allowed."""
    if getattr(_transforms, "stack", None):
        raise RuntimeError(
            "You are attempting to call Tensor.requires_grad_() (or perhaps using "
            "torch.autograd.functional.* APIs) inside of a function being transformed by a "
            "functorch transform. This is unsupported, please attempt to use the functorch "
            "transforms (e.g. grad, vjp, jacrev, jacfwd, hessian) or call requires_grad_() "
            "outside of a function being transformed instead.")


def _captured(t, frame) -> bool:
    """Whether the function a transform runs took `t` from outside: made before the call
    and sharing no memory with the call's inputs."""
    made_before, inputs, _ = frame
    storage = t._storage
    return (storage.memory or storage).serial < made_before and \
        not any(storage.same_memory(s) for s in inputs)


def lifts_inference_tensors() -> bool:
    """Whether a torch.func grad transform (grad, vjp, jacrev) with no outer graph runs a
    function now: torch lifts every tensor the function meets into the transform's level,
    an inference tensor too, so one may be saved there."""
    return any(getattr(_transforms, "lifts", ()))


def captured_by_vmap(t) -> bool:
    """Whether the function under the innermost vmap took `t` from outside the slices it
    maps (torch: an unbatched tensor); False outside vmap."""
    stack = getattr(_transforms, "stack", None)
    if not stack:  # (no transform has run in this thread: no frames either)
        return False
    for kind, frame in zip(reversed(stack), reversed(_transforms.frames)):
        if kind == "vmap":
            return _captured(t, frame)
    return False


def _outside_view_of_input(t, frame) -> bool:
    """Whether `t` is the tensor from outside whose memory an input views (the base of an
    input made a view outside; the user's tensor a fresh input stands for): no view the
    function made itself, and no input."""
    made_before, inputs, ids = frame
    storage = t._storage
    return (storage.memory or storage).serial < made_before and t._viewed is None and \
        id(t) not in ids and any(storage.same_memory(s) for s in inputs)


def refuse_captured_write(t, op: str) -> None:
    """torch's error for an in-place op (`op`, as aten names it) on a tensor the function
    under the innermost grad transform captured (a buffer, a module's running stats)."""
    stack = getattr(_transforms, "stack", None)
    if not stack or stack[-1] not in ("grad", "jvp"):
        return
    frame = _transforms.frames[-1]
    if not (_captured(t, frame) or _outside_view_of_input(t, frame)):
        return
    raise RuntimeError(f"During a grad (vjp, jvp, grad, etc) transform, the function provided "
                       f"attempted to call in-place operation ({op}) that would mutate a "
                       "captured Tensor. This is not supported; please rewrite the function "
                       "being transformed to explicitly accept the mutated Tensor(s) as inputs.")


def _check_transforms(cls) -> None:
    stack = getattr(_transforms, "stack", None)
    if not stack:
        return
    if cls.setup_context is Function.setup_context:
        raise RuntimeError("In order to use an autograd.Function with functorch transforms (vmap, "
                           "grad, jvp, jacrev, ...), it must override the setup_context "
                           f"staticmethod. {_EXTENDING}")
    if "vmap" in stack and not cls.generate_vmap_rule and cls.vmap is Function.vmap:
        raise RuntimeError(f"You tried to vmap over {cls.__name__}, but it does not have vmap "
                           "support. Please override and implement the vmap staticmethod or set "
                           f"generate_vmap_rule=True. {_EXTENDING}")


class FunctionCtx:
    """What `forward` (or `setup_context`) can tell `backward` through `ctx`."""

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors (inputs, outputs, or None) for `backward`, read back through
        `ctx.saved_tensors`, checked against in-place changes made in between."""
        self.to_save = tensors  # (checked once forward has returned, as torch does)

    def save_for_forward(self, *tensors) -> None:
        """Keep tensors for `jvp` (forward-mode AD), read there through
        `ctx.saved_tensors`."""
        self.saved_for_forward = tensors

    def mark_dirty(self, *args) -> None:
        """Declare inputs that forward modified in place (they must also be returned)."""
        self.dirty_tensors = args

    def mark_shared_storage(self, *pairs) -> None:
        warnings.warn("mark_shared_storage is deprecated. Tensors with shared storages are "
                      "automatically tracked. Note that calls to `set_()` are not tracked",
                      DeprecationWarning, stacklevel=2)

    def mark_non_differentiable(self, *args) -> None:
        """Outputs that never require grad; backward still gets a (zero) grad for each."""
        self.non_differentiable = args

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward gets None, not zeros, for outputs that received no gradient."""
        self.materialize_grads = bool(value)


class BackwardCFunction(FunctionCtx):
    """The node (and ctx) of one `Function.apply`; the engine runs it like any `OpNode`."""

    _forward_cls: Any = None
    _inline = False

    def __init__(self):
        self.next_functions = ()
        self.n_outputs = 0
        self._seq = next(_sequence)
        self._slots = ()  # forward-arg position of each next_functions entry
        self._metas = ()  # (shape, dtype, device) per forward arg, None for non-tensors
        self._out_metas = ()  # the same per forward output, None for non-tensors
        self._pre_hooks = None
        self._hooks = None
        self._tensor_pre_hooks = None
        self._retain_grad = None
        self._saved = None
        self._freed = False
        self._metadata = None
        self.to_save = ()
        self.dirty_tensors = ()
        self.non_differentiable = ()
        self.materialize_grads = True
        self.needs_input_grad = ()

    # torch's public surface -------------------------------------------------------------
    def name(self) -> str:
        return type(self).__name__

    register_hook = OpNode.register_hook
    register_prehook = OpNode.register_prehook

    @property
    def metadata(self) -> dict:
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    @property
    def saved_tensors(self) -> tuple:
        if self._freed:
            raise RuntimeError(FREED)
        if self.__dict__.get("_in_jvp") is not None:  # (forward_ad.function_pushed)
            return self._in_jvp
        if self._saved is None:  # still inside forward: torch has saved nothing yet
            return ()
        return tuple(None if s is None else s.unpack(self, by_function=True) for s in self._saved)

    def _get_user_fn(self):
        cls = self._forward_cls
        if cls.backward is not Function.backward and cls.vjp is not Function.vjp:
            raise RuntimeError("Implementing both 'backward' and 'vjp' for a custom Function is not "
                               "allowed. You should only implement one of them.")
        return cls.vjp if cls.vjp is not Function.vjp else cls.backward

    def apply(self, *args):
        """The engine calls `apply([grad per output])` and gets a gradient per
        next_functions entry; `grad_fn.apply(*grads)` calls the user's backward, as in torch."""
        if len(args) == 1 and type(args[0]) is list:
            return self._apply_engine(args[0])
        return self._get_user_fn()(self, *args)

    # the engine's surface ---------------------------------------------------------------
    def has_saved(self) -> bool:
        return bool(self._saved)

    def release(self) -> None:
        # As torch: after a backward without retain_graph, ctx.saved_tensors raises even
        # when nothing was saved.
        self._saved = ()
        self._freed = True

    def _apply_engine(self, grads):
        grads = list(grads)
        if self.materialize_grads:
            from ..creation import zeros

            for i, meta in enumerate(self._out_metas):
                if grads[i] is None and meta is not None:
                    shape, dtype, device = meta
                    grads[i] = zeros(shape, dtype=dtype, device=device)
        fn = self._get_user_fn()
        if getattr(self._forward_cls, "boxed_grads_call", False):
            result = fn(self, grads)
        else:
            result = fn(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n_in = len(self._metas)
        if len(result) > n_in and all(r is None for r in result[n_in:]):
            result = result[:n_in]  # extra trailing Nones are allowed, as in torch
        if len(result) != n_in:
            raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                               f"(expected {n_in}, got {len(result)})")
        for i, g in enumerate(result):
            if g is None:
                continue
            if not _is_tensor(g):
                raise RuntimeError(f"expected Variable or None (got {type(g).__name__})")
            if self._metas[i] is None:
                raise RuntimeError(f"function {self.name()} returned a gradient different than None "
                                   f"at position {i + 1}, but the corresponding forward input was "
                                   "not a Variable")
        return [result[slot] for slot in self._slots]


Node.register(BackwardCFunction)


class FunctionMeta(type):
    """Gives every Function subclass its node class, `<Name>Backward`, as torch does."""

    def __init__(cls, name, bases, attrs):
        cls._backward_cls = type(name + "Backward", (BackwardCFunction,),
                                 {"_forward_cls": cls, "__module__": __name__,
                                  "__qualname__": name + "Backward"})
        super().__init__(name, bases, attrs)


class Function(FunctionCtx, metaclass=FunctionMeta):
    """Base class of a custom differentiable operation; see the module docstring.

    Write `forward(ctx, *args)` (or `forward(*args)` plus `setup_context(ctx, inputs,
    output)`) and `backward(ctx, *grad_outputs)` as static methods, returning one
    gradient (or None) per forward argument; call it with `MyFunction.apply(*args)`.
    """

    def __init__(self, *args, **kwargs):
        warnings.warn(f"{self.__class__} should not be instantiated. Methods on autograd functions "
                      "are all static, so you should invoke them on the class itself. "
                      "Instantiating an autograd function will raise an error in a future version "
                      "of PyTorch.", DeprecationWarning, stacklevel=2)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("Legacy autograd function with non-static forward method is deprecated. "
                           "Please use new-style autograd function with static forward method. "
                           "(Example: https://pytorch.org/docs/stable/autograd.html#torch.autograd"
                           ".Function)")

    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> Any:
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for your "
                                  "custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    generate_vmap_rule = False

    @staticmethod
    def vmap(info, in_dims, *args):
        raise NotImplementedError("To use autograd.Function with vmap, you must either override "
                                  "the vmap staticmethod or set generate_vmap_rule=True.")

    @staticmethod
    def jvp(ctx: Any, *grad_inputs: Any) -> Any:
        raise NotImplementedError("You must implement the jvp function for custom autograd.Function "
                                  "to use it with forward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward without recording, and record one `<Name>Backward` node for it."""
        record.note_python("function", (cls,))
        _check_transforms(cls)
        for a in args:
            if getattr(a, "_storage", None) is not None and a._storage.runs_ops:
                return a._storage.apply_function(cls, args, kwargs)  # sharded operands
        setup = cls.setup_context is not Function.setup_context
        if setup:
            bound = inspect.signature(cls.forward).bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        if kwargs:
            args = _fold_kwargs(cls.forward, args, kwargs, skip=0 if setup else 1)
            kwargs = {}
        ctx = cls._backward_cls()
        for a in args:
            # As an op's inputs (record.call): a view whose base was written since gets
            # its history made anew first, so that it requires grad as its base now does
            # (as torch collects the inputs' edges: in grad mode only).
            if _is_tensor(a) and a._viewed is not None and a._view_version != a._storage.version \
                    and grad_mode.is_grad_enabled():
                a._refresh_view()
        requires = tuple(_is_tensor(a) and a.requires_grad for a in args)
        ctx.needs_input_grad = requires
        executable = grad_mode.is_grad_enabled() and any(requires)
        dual = record.forward_ad is not None and any(
            forward_ad.tangent_of(a) is not None for a in args if _is_tensor(a))
        # (the inputs' edges before forward, which may write them in place: torch collects
        # them first)
        edges = [_edge(a) for a in args if _is_tensor(a)] if executable else None
        with grad_mode.no_grad(), (forward_ad.no_push() if dual else nullcontext()):
            if setup:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        wrapped = _wrap_outputs(ctx, args, output, edges)
        if dual:
            forward_ad.function_pushed(cls, ctx, args, wrapped)
        return wrapped


def _edge(a) -> tuple:
    return a._gradient_edge() if a._requires_grad else (None, 0)


def _fold_kwargs(forward, args: tuple, kwargs: dict, skip: int) -> tuple:
    """apply's keyword arguments as positional ones, as torch's C++ apply binds them: by name
    to forward's positional parameters (after ctx), up to the last one given, so that they
    count as inputs (needs_input_grad, edges); keyword-only ones are refused."""
    names = [p.name for p in inspect.signature(forward).parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][skip:]
    for name in kwargs:
        if name not in names:
            raise TypeError(f"forward() got an unexpected keyword argument '{name}'")
        if names.index(name) < len(args):
            raise TypeError(f"forward() got multiple values for argument '{name}'")
    args = list(args)
    for i in range(len(args), max(map(names.index, kwargs)) + 1):
        if names[i] not in kwargs:
            raise TypeError(f"forward() missing required argument: '{names[i]}' (position {i})")
        args.append(kwargs[names[i]])
    return tuple(args)


def _wrap_outputs(ctx, args, output, edges):
    """Attach the node to forward's outputs, as torch's `_wrap_outputs` does; `edges`: the
    tensor inputs' gradient edges before forward (None: no node is recorded). A dirty
    input's is taken after forward: the write's CopySlices (a view's) is made from it; one
    that owns the node gives it back the edge from before (`_keep_edges_of_owned`)."""
    is_tuple = isinstance(output, tuple)
    outputs = output if is_tuple else (output,)
    inputs = {id(a) for a in args if _is_tensor(a)}
    dirty = {id(t) for t in ctx.dirty_tensors}
    nondiff = {id(t) for t in ctx.non_differentiable}
    node = ctx if edges is not None else None
    if node is not None:
        _refuse_written_leaves(ctx, outputs)
        tensors = [a for a in args if _is_tensor(a)]
        node.next_functions = tuple(_edge(a) if id(a) in dirty else e
                                    for a, e in zip(tensors, edges))
        node._slots = tuple(i for i, a in enumerate(args) if _is_tensor(a))
        node._metas = tuple((a.shape, a.dtype, a.device_str) if _is_tensor(a) else None
                            for a in args)
        node.n_outputs = len(outputs)
        node._out_metas = tuple((o.shape, o.dtype, o.device_str) if _is_tensor(o) else None
                                for o in outputs)

    if node is not None:  # (torch checks what is saved only when it will be)
        for i, t in enumerate(ctx.to_save):
            if t is not None and not _is_tensor(t):
                raise TypeError(f"save_for_backward can only save variables, but argument {i} is "
                                f"of type {type(t).__name__}")
    returned = {id(out) for out in outputs}
    if any(id(t) not in returned for t in ctx.dirty_tensors):
        raise RuntimeError("Some elements marked as dirty during the forward method were not "
                           "returned as output. The inputs that are modified inplace must all be "
                           "outputs of the Function.")

    def differentiable(out) -> bool:
        return node is not None and id(out) not in nondiff and out.dtype.is_floating_point

    # torch forbids writing a view output in place; its message depends on whether the
    # Function has more than one differentiable output
    n_diff = sum(1 for out in outputs if _is_tensor(out) and differentiable(out))
    view_kind = "multi" if n_diff > 1 else "function"
    wrapped = []
    for nr, out in enumerate(outputs):
        if not _is_tensor(out):
            wrapped.append(out)
            continue
        is_input, is_dirty = id(out) in inputs, id(out) in dirty
        if (is_dirty and out._viewed is not None and out._viewed.grad_fn is None
                and (out._viewed._requires_grad or out._grad_fn is not None)
                and grad_mode.is_grad_enabled()):  # (the second: a base detached in place since)
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")
        if not differentiable(out):
            if is_input and out.requires_grad:  # torch returns it detached (written or not),
                out = out.detach()  # leaving the input as it is
            elif is_input and not is_dirty:  # (a view the Function made under no_grad: a
                out = out._whole_view()  # write to it or its base with grad mode on leaves it
                out._view_kind = "function"  # unusable, as torch's)
            elif out._viewed is None:
                if out._requires_grad:
                    out.detach_()
            elif out._requires_grad:  # a view (of a base that requires grad) stays one
                out._view_kind = view_kind
        else:
            if is_dirty and not is_input:
                warnings.warn("Only input Tensors should be given to ctx.mark_dirty(). If a Tensor "
                              "is not an input, there is no need to pass it to mark_dirty().",
                              stacklevel=3)
            if is_input and not is_dirty:  # (it comes back as a new tensor viewing its data)
                out = out._whole_view()
            if is_dirty:  # torch resets the grad a written tensor retained
                out._storage.set_grad(out, None)
            if is_dirty and out._viewed is not None:  # (the base takes the write)
                if out._rebase_view(_output_of(out, node, nr)):
                    _keep_edges_of_owned(node, args, out, edges)
                wrapped.append(out)
                continue
            old, old_nr = out._grad_fn, out._output_nr
            out._requires_grad = True
            out.grad_fn = node
            out._output_nr = nr
            out._move_retained_grad(old, old_nr)  # (a dirty input's retain follows it)
            if out._viewed is not None:
                out._view_kind = view_kind
                # its history is made now: writes forward did to it or its base before
                # returning leave it as it is (torch's set_history takes the version)
                out._view_version = out._storage.version
        wrapped.append(out)

    # Counted after the bases took the writes: views of them refreshed meanwhile (while the
    # write was scattered) are stale again.
    _count_dirty_writes(ctx)
    for t in ctx.dirty_tensors:
        if t._viewed is not None and t._grad_fn is not None:
            t._view_version = t._storage.version  # its history was just made from the base's

    if node is not None:
        # Saved after wrapping, so a saved output is recognised by its grad_fn and kept
        # without it (no reference cycle), as torch's SavedVariable does.
        # (a view marked dirty is the node's output too, though its own grad_fn is now the
        # one regenerated from its base: torch saves it as that output)
        dirty_views = {id(o): nr for nr, o in enumerate(wrapped)
                       if id(o) in dirty and getattr(o, "_viewed", None) is not None}
        node._saved = [None if t is None else
                       SavedTensor(t, True, t._output_nr) if _is_output_of(t, node) else
                       SavedTensor(t, True, dirty_views[id(t)]) if id(t) in dirty_views else
                       SavedTensor(t)
                       for t in ctx.to_save]
        hooks = saved_hooks.current()
        if hooks is not None:  # (in save_for_backward's order, as torch)
            for saved, t in zip(node._saved, ctx.to_save):
                if saved is not None:
                    saved.pack(hooks, t)
        if anomaly_mode._enabled:
            anomaly_mode.note(node)
    # Drop the references to outputs held on ctx, which would be cycles through the node.
    ctx.to_save = ctx.dirty_tensors = ctx.non_differentiable = ()
    return tuple(wrapped) if is_tuple else wrapped[0]


def _is_output_of(t, node) -> bool:
    """Whether a saved tensor is one of the node's outputs. A view written since its
    history was made is an input: its history is not made anew here (torch's check reads
    none, so a written output of split raises only when unpacked)."""
    if t._viewed is not None and t._view_version != t._storage.version:
        return t._grad_fn is node
    return t.grad_fn is node


def _keep_edges_of_owned(node, args, view, edges) -> None:
    """A dirty view's edge as it was before forward, once the base's CopySlices owns the
    node (and routes the view's gradient itself), as torch's node keeps it: a saved output,
    differentiated again, reaches the view's history (its hooks) from before the write."""
    tensors = [a for a in args if _is_tensor(a)]
    node.next_functions = tuple(edges[k] if a is view else e
                                for k, (a, e) in enumerate(zip(tensors, node.next_functions)))


def _output_of(t, node, nr: int):
    """A handle on t's values as output `nr` of `node`."""
    out = t._alias(keep_graph=False)
    out._requires_grad = True
    out.grad_fn = node
    out._output_nr = nr
    return out


def _refuse_written_leaves(ctx, outputs) -> None:
    """torch refuses a returned tensor marked dirty that is a leaf requiring grad (when it
    records the Function). It looks at the history the tensor holds, not at one a stale
    view would get anew (a view made under no_grad is such a leaf), and has counted
    mark_dirty's writes by then."""
    dirty = {id(t) for t in ctx.dirty_tensors}
    if any(_is_tensor(out) and id(out) in dirty and out._requires_grad and out._grad_fn is None
           for out in outputs):
        _count_dirty_writes(ctx)
        raise RuntimeError(WRITTEN_LEAF)


WRITTEN_LEAF = "a leaf Variable that requires grad has been used in an in-place operation."


def _count_dirty_writes(ctx) -> None:
    """torch counts mark_dirty as one more in-place change of each tensor marked."""
    for t in ctx.dirty_tensors:
        t._count_write()


class _OnceDifferentiableError(Function):
    @staticmethod
    def forward(ctx, *tensors):
        # (aliases of the gradients, no views of them: torch's DelayedError gives their
        # tensor_data, which may be written in place as any result)
        return tuple(t if t is None else t.detach() for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")


_OnceDifferentiableError._backward_cls.name = lambda node: "torch::autograd::Error"  # (torch's)


def once_differentiable(fn):
    """Decorate a backward that is not itself differentiable: it runs without recording,
    and differentiating its result raises (torch.autograd.function.once_differentiable)."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with grad_mode.no_grad():
            outputs = fn(ctx, *args)
        if not grad_mode.is_grad_enabled():
            return outputs
        if not any(_is_tensor(a) and a._requires_grad for a in args):
            return outputs
        many = isinstance(outputs, tuple)
        outs = outputs if many else (outputs,)
        fake = []
        for o in outs:
            if o is not None:
                o = o.detach()
                o._requires_grad = True
            fake.append(o)
        res = _OnceDifferentiableError.apply(*fake)
        return res if many else res[0]

    return wrapper


class InplaceFunction(Function):
    """Kept for torch compatibility: a Function that remembers an `inplace` flag."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace
