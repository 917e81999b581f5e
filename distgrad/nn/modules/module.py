"""`Module` and the layers built on it: Linear, activations, Sequential, loss wrappers.

A Module keeps its parameters, buffers and submodules in three ordered dicts, filled by
`__setattr__` as torch's does, so `self.fc = Linear(2, 3)` registers `fc.weight`.
"""
from __future__ import annotations

import functools
import math
import warnings
import weakref
from collections import OrderedDict, namedtuple
from typing import Iterable, Iterator, Optional

from ... import dtypes
from ...autograd import record
from ...hook_handles import RemovableHandle
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor, device_str, to_args
from ...watched import WRITES, WatchedDict, WatchedHooks, WatchedOrderedDict
from .. import functional as F
from .. import init
from ..parameter import Buffer, Parameter, is_lazy

__all__ = ["Module", "Linear", "Identity", "Flatten", "Unflatten", "ReLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "Sequential", "ModuleList", "MSELoss", "L1Loss", "BCELoss",
           "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss"]


def _typename(value) -> str:
    if isinstance(value, Tensor):
        return value.dtype.type_name
    return type(value).__name__


def _addindent(s: str, num_spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    return first + "\n" + "\n".join(num_spaces * " " + line for line in lines)


_EXTRA_STATE = "_extra_state"  # the key suffix of a module's get_extra_state()
_STATE_DICT_HOOKS = ("_state_dict_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks",
                     "_load_state_dict_post_hooks")


class _WithModule:
    """A load_state_dict pre-hook called with its module first (torch's _WrappedHook; a weak
    reference, so the hook keeps no module alive)."""

    def __init__(self, hook, module) -> None:
        self.hook, self.module = hook, weakref.ref(module)
        functools.update_wrapper(self, hook)

    def __call__(self, *args, **kwargs):
        module = self.module()
        if module is None:
            raise RuntimeError("You are trying to call the hook of a dead Module!")
        return self.hook(module, *args, **kwargs)


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


# Hooks of every module's forward (torch.nn.modules.module.register_module_forward_hook),
# run before each module's own; keyed by handle id as a module's own are.
_global_forward_pre_hooks = WatchedHooks()
_global_forward_hooks = WatchedHooks()
_global_forward_hooks_with_kwargs = WatchedHooks()
_global_forward_hooks_always_called = WatchedHooks()


def register_module_forward_pre_hook(hook):
    """hook(module, args) -> None or new args, before the forward of every module."""
    return RemovableHandle.putting(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs: bool = False, always_call: bool = False):
    """hook(module, args, output) (with_kwargs: hook(module, args, kwargs, output)) -> None
    or a new output, after the forward of every module."""
    handle = RemovableHandle.putting(_global_forward_hooks, hook, extra=(
        _global_forward_hooks_with_kwargs, _global_forward_hooks_always_called))
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def _convert_in_place(p, moved, grad, fn) -> None:
    """torch's default conversion: the same Parameter and grad objects take the new data."""
    if moved is not p:
        p.data = moved
    if grad is None:
        return
    g = fn(grad)
    if g is grad:
        return
    if p._sharding is not None:  # (its grad is its shards')
        p._set_leaf_grad(g.detach())
    else:
        grad.data = g


def _swap_loaded(current, value, assign: bool) -> None:
    """torch's load under the swap switch: the tensor module_load makes of the value (a
    Parameter if current is one) swapped into current's object."""
    from ...utils.swap import swap_tensors

    loaded = current.module_load(value, assign=assign)
    if loaded is value or loaded is current:
        raise RuntimeError("module_load returned one of self or other, please .detach() the "
                           "result if returning one of the inputs in module_load")
    if isinstance(current, Parameter):
        if isinstance(loaded, Parameter):
            loaded.requires_grad_(current.requires_grad)
        else:
            loaded = Parameter(loaded, current.requires_grad)
    swap_tensors(current, loaded)


class Module:
    """Base class of layers and models: subclass it, assign layers and Parameters in
    `__init__`, write `forward`; call the module to run it."""

    training: bool

    def __init__(self) -> None:
        # Its containers count their changes, so that a compiled step's guard need not
        # look into them (distgrad/watched.py); __setattr__ and __delattr__ count too.
        object.__setattr__(self, "__dict__", WatchedDict(self.__dict__))
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", WatchedOrderedDict())
        object.__setattr__(self, "_buffers", WatchedOrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", WatchedOrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", WatchedHooks())
        object.__setattr__(self, "_forward_hooks", WatchedHooks())
        # Ids of the hooks registered with_kwargs / always_call (as torch keeps them).
        object.__setattr__(self, "_forward_pre_hooks_with_kwargs", WatchedHooks())
        object.__setattr__(self, "_forward_hooks_with_kwargs", WatchedHooks())
        object.__setattr__(self, "_forward_hooks_always_called", WatchedHooks())
        object.__setattr__(self, "_backward_pre_hooks", WatchedHooks())
        object.__setattr__(self, "_backward_hooks", WatchedHooks())
        # Which kind _backward_hooks holds: True full, False the deprecated, None not yet.
        object.__setattr__(self, "_is_full_backward_hook", None)
        for name in _STATE_DICT_HOOKS:
            object.__setattr__(self, name, WatchedHooks())

    def forward(self, *input):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    # ---- calling ----------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks
                or self._backward_pre_hooks or _global_forward_pre_hooks
                or _global_forward_hooks):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict):
        """torch's Module._call_impl: forward pre-hooks, backward hooks set up on the
        inputs, forward, forward hooks, backward hooks set up on the outputs."""
        # (the hooks of every module, registered with register_module_forward_hook, first)
        forward_pre_hooks = {**_global_forward_pre_hooks, **self._forward_pre_hooks}
        forward_hooks = {**_global_forward_hooks, **self._forward_hooks}
        bw_hook = deprecated = None
        if self._backward_hooks or self._backward_pre_hooks:
            bw_hook, deprecated = self._backward_hooks_for_call()
        record.note_python("hook", [*forward_pre_hooks.values(), *forward_hooks.values()])
        result, called = None, set()
        try:
            for hook_id, hook in list(forward_pre_hooks.items()):
                if hook_id in self._forward_pre_hooks_with_kwargs:
                    out = hook(self, args, kwargs)
                    if out is not None:
                        if not (isinstance(out, tuple) and len(out) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple of "
                                               f"(new_args, new_kwargs), but got {out}.")
                        args, kwargs = out
                else:
                    out = hook(self, args)
                    if out is not None:
                        args = out if isinstance(out, tuple) else (out,)
            if bw_hook is not None:
                args = bw_hook.setup_input_hook(args)
            result = self.forward(*args, **kwargs)
            for hook_id, hook in list(forward_hooks.items()):
                called.add(hook_id)
                out = self._run_forward_hook(hook_id, hook, args, kwargs, result)
                if out is not None:
                    result = out
            if bw_hook is not None:
                result = bw_hook.setup_output_hook(result)
            if deprecated:
                from ..backward_hooks import hook_output_node

                hook_output_node(self, args, result, deprecated)
            return result
        except Exception:
            # torch still runs the always_call hooks not yet run, silencing their errors
            for hook_id, hook in list(forward_hooks.items()):
                if (hook_id in self._forward_hooks_always_called
                        or hook_id in _global_forward_hooks_always_called) and \
                        hook_id not in called:
                    try:
                        out = self._run_forward_hook(hook_id, hook, args, kwargs, result)
                    except Exception as e:
                        warnings.warn("module forward hook with ``always_call=True`` raised an "
                                      "exception that was silenced as another error was raised "
                                      f"in forward: {e}", stacklevel=2)
                        continue
                    if out is not None:
                        result = out
            raise

    def _run_forward_hook(self, hook_id, hook, args, kwargs, result):
        if hook_id in self._forward_hooks_with_kwargs or \
                hook_id in _global_forward_hooks_with_kwargs:
            return hook(self, args, kwargs, result)
        return hook(self, args, result)

    def _backward_hooks_for_call(self):
        """(a BackwardHook running the full and pre hooks, or None; the deprecated hooks),
        taken as registered now: as in torch, a hook registered or removed after the call
        does not change its backward."""
        from ..backward_hooks import BackwardHook

        pre_hooks = list(self._backward_pre_hooks.values())
        hooks = list(self._backward_hooks.values())
        record.note_python("hook", pre_hooks + hooks)
        full = hooks if self._is_full_backward_hook else []
        bw_hook = BackwardHook(self, full, pre_hooks) if full or pre_hooks else None
        return bw_hook, (hooks if self._is_full_backward_hook is False else [])

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """hook(module, args) -> None or new args; with_kwargs: hook(module, args, kwargs)
        -> None or (new args, new kwargs)."""
        handle = RemovableHandle.putting(self._forward_pre_hooks, hook, prepend,
                             extra=(self._forward_pre_hooks_with_kwargs,))
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False):
        """hook(module, args, output) (with_kwargs: hook(module, args, kwargs, output)) ->
        None or a new output; always_call: run it even when forward raises."""
        handle = RemovableHandle.putting(self._forward_hooks, hook, prepend,
                             extra=(self._forward_hooks_with_kwargs,
                                    self._forward_hooks_always_called))
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        return handle

    def register_full_backward_pre_hook(self, hook, prepend: bool = False):
        """hook(module, grad_output) when the gradients w.r.t. the module's outputs are
        computed; it may return new ones to use instead. Returns a handle with `.remove()`."""
        return RemovableHandle.putting(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """hook(module, grad_input, grad_output) once the gradients w.r.t. the module's
        positional inputs are computed (or, when none requires grad, those w.r.t. its
        outputs); it may return a new grad_input. Returns a handle with `.remove()`::

            lin.register_full_backward_hook(lambda m, gi, go: print(gi[0].shape))
        """
        self._backward_hooks_kind(full=True)
        return RemovableHandle.putting(self._backward_hooks, hook, prepend)

    def register_backward_hook(self, hook):
        """Deprecated in torch for register_full_backward_hook: hook(module, grad_input,
        grad_output) with the gradients of the node that made the module's output."""
        self._backward_hooks_kind(full=False)
        return RemovableHandle.putting(self._backward_hooks, hook)

    def _backward_hooks_kind(self, full: bool) -> None:
        """_backward_hooks holds one kind for good: torch refuses the other one even after
        the hooks are removed."""
        if self._is_full_backward_hook is (not full):
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on "
                               "a single Module. Please use only one of them.")
        self._is_full_backward_hook = full

    # ---- registration -----------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        WRITES.n += 1
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")  # a reassigned name keeps its place
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(torch.nn.Parameter or None expected)")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if self.__dict__.get("_modules") is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            self._modules[name] = value
        elif self.__dict__.get("_modules") is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(torch.nn.Module or None expected)")
            self._modules[name] = value
        elif isinstance(value, Buffer) or (self.__dict__.get("_buffers") is not None
                                           and name in self._buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' "
                                "(torch.nn.Buffer, torch.Tensor or None expected)")
            persistent = value.persistent if isinstance(value, Buffer) else \
                name not in self._non_persistent_buffers_set
            self.register_buffer(name, value, persistent)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str = "") -> None:
        self.__dict__.pop(name, None)
        for d in ("_parameters", "_buffers", "_modules"):
            if d != keep:
                self.__dict__[d].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        WRITES.n += 1
        for store in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(store, {}):
                del self.__dict__[store][name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name(name, "parameter", self)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(torch.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model "
                             "parameters must be created explicitly. To express '"
                             f"{name}' as a function of another Tensor, compute the value in "
                             "the forward() method.")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name(name, "buffer", self)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(torch Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        _check_name(name, "module", self)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        mod = self
        if target == "":
            return mod
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):  # (a parameter, a buffer, a plain attribute)
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        return self._get_entry(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target: str) -> Tensor:
        return self._get_entry(target, "_buffers", "a buffer")

    def _get_entry(self, target: str, kind: str, what: str):
        """A parameter or buffer by dotted path, with torch's errors."""
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        if name not in getattr(mod, kind):
            raise AttributeError(f"`{name}` is not {what}")
        return getattr(mod, kind)[name]

    def set_submodule(self, target: str, module: "Module", strict: bool = False) -> None:
        """Put `module` at a dotted path (torch's checks: the parent exists; with strict, so
        does what is replaced; what is replaced is a module)."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    # ---- traversal --------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for mod_prefix, mod in mods:
            for k, v in getattr(mod, store).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + k, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ------------------------------------------------------------
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            _zero_grad(p, set_to_none)

    # ---- placement and dtype --------------------------------------------------------------
    def _apply(self, fn, recurse: bool = True):
        """Replace every parameter's (and its grad's) data by fn(data), keeping the Parameter
        objects, so an optimizer built before `.to(...)` still holds them; buffers are rebound.
        `recurse`: the submodules' too."""
        if recurse:
            for m in self.children():
                m._apply(fn)
        for key, p in self._parameters.items():
            if p is None:
                continue
            with no_grad():
                self._apply_to_parameter(key, p, fn)
        for k, b in self._buffers.items():
            if b is not None:
                with no_grad():
                    self._buffers[k] = fn(b)
        return self

    def _apply_to_parameter(self, key: str, p, fn) -> None:
        """fn(p) into parameter `key`, as torch.__future__'s switches say: swapped into the
        Parameter object, a new Parameter, or (the default) the same one's data replaced."""
        from ... import __future__ as future

        moved, grad = fn(p), p._leaf_grad()  # (a sharded parameter's grad is its shards')
        if future.get_swap_module_params_on_conversion():
            self._swap_into(key, p, moved, grad, fn)
        elif future.get_overwrite_module_params_on_conversion():
            new = self._parameters[key] = Parameter(moved, p.requires_grad)
            if grad is not None:
                new._set_leaf_grad(fn(grad))
        else:
            _convert_in_place(p, moved, grad, fn)

    def _swap_into(self, key: str, p, moved, grad, fn) -> None:
        """torch's swap of a converted parameter (and its grad) into the objects it has."""
        from ...utils.swap import swap_tensors

        try:
            if grad is not None:
                p.grad = None  # (torch: a grad held is one more use of the tensor)
            swap_tensors(p, Parameter(moved, p.requires_grad))
        except Exception as e:
            if grad is not None:
                p.grad = grad
            raise RuntimeError(f"_apply(): Couldn't swap {self._get_name()}.{key}") from e
        if grad is not None:
            g = fn(grad).requires_grad_(grad.requires_grad)
            try:
                swap_tensors(grad, g)
            except Exception as e:
                raise RuntimeError(f"_apply(): Couldn't swap {self._get_name()}.{key}.grad") from e
            p.grad = grad

    def to_empty(self, *, device, recurse: bool = True):
        """Parameters and buffers replaced by uninitialized ones on `device` (torch's way
        out of a module built on another device, before loading its state)."""
        from ...creation import empty_like

        return self._apply(lambda t: empty_like(t, device=device), recurse=recurse)

    def to(self, *args, **kwargs):
        """`to(device)`, `to(dtype)`, `to(device, dtype)`, `to(tensor)`: moves parameters and
        buffers (dtype changes apply to floating-point ones only), in place; returns self.
        memory_format lays out the 4- and 5-dim ones (a conv's weight) in it."""
        memory_format = kwargs.pop("memory_format", None)
        device, dtype = to_args(args, kwargs)
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(f"nn.Module.to only accepts floating point or complex dtypes, but "
                            f"got desired dtype={dtype}")
        dev = device_str(device) if device is not None else None

        def convert(t: Tensor) -> Tensor:
            out = t
            if dtype is not None and t.dtype.is_floating_point and t.dtype is not dtype:
                out = out.to(dtype)
            if dev is not None and out.device_str != dev:
                out = out.to(dev)
            if memory_format is not None and t.dim() in (4, 5):
                out = out.to(memory_format=memory_format)
            return out

        return self._apply(convert)

    def cpu(self):
        return self.to("cpu")

    def share_memory(self):
        return self._apply(lambda t: t.share_memory_())

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def type(self, dst_type):
        return self.to(dst_type)

    # ---- state ---------------------------------------------------------------------------
    # torch's layout of a state dict: each module's entries under its prefix, its extra state
    # under `<prefix>_extra_state`, and `_metadata` giving each prefix its class's `_version`,
    # which an overridden _load_from_state_dict reads to load an older checkpoint.
    _version: int = 1

    def get_extra_state(self):
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be "
                           "called. Please file an issue at https://github.com/pytorch/pytorch/"
                           "issues/new?template=bug-report.yml to report this bug.")

    def set_extra_state(self, state) -> None:
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be "
                           "called. Please file an issue at https://github.com/pytorch/pytorch/"
                           "issues/new?template=bug-report.yml to report this bug.")

    def _has_own(self, method: str) -> bool:
        """Does the class define get_extra_state / set_extra_state (not Module's)?"""
        return getattr(type(self), method, None) is not getattr(Module, method)

    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        if self._has_own("get_extra_state"):
            destination[prefix + _EXTRA_STATE] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by dotted name (detached unless keep_vars)."""
        if args:  # torch's deprecated positional (destination, prefix, keep_vars)
            warnings.warn("Positional args are being deprecated, use kwargs instead. Refer to "
                          "https://pytorch.org/docs/main/generated/torch.nn.Module.html#torch.nn."
                          "Module.state_dict for details.", FutureWarning, stacklevel=2)
            if destination is None:
                destination = args[0]
            if len(args) > 1 and prefix == "":
                prefix = args[1]
            if len(args) > 2 and keep_vars is False:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = dict(version=self._version)
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        for hook in self._hooks_of("_state_dict_pre_hooks"):
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        for hook in self._hooks_of("_state_dict_hooks"):
            result = hook(self, destination, prefix, local_metadata)
            if getattr(hook, "_from_public_api", False):
                if result is not None:
                    raise RuntimeError("state_dict post-hook must return None")
            elif result is not None:  # (the private hook may give a new dict)
                destination = result
        return destination

    # ---- state dict hooks: torch's four kinds, each a dict of hooks by handle id ------------
    def _hooks_of(self, kind: str):
        return list(self.__dict__.get(kind, {}).values())

    def register_state_dict_pre_hook(self, hook):
        """hook(module, prefix, keep_vars) before the module's entries are saved."""
        return RemovableHandle.putting(self._state_dict_pre_hooks, hook)

    def register_state_dict_post_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata) -> None, after its entries."""
        hook._from_public_api = True
        return RemovableHandle.putting(self._state_dict_hooks, hook)

    def _register_state_dict_hook(self, hook):
        if getattr(hook, "_from_public_api", False):
            raise RuntimeError("Cannot register the same function as the state dict post hook "
                               "that was previously registered via "
                               "register_state_dict_post_hook")
        return RemovableHandle.putting(self._state_dict_hooks, hook)

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        """hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs), with the module first when with_module."""
        return RemovableHandle.putting(self._load_state_dict_pre_hooks,
                           _WithModule(hook, self) if with_module else hook)

    def register_load_state_dict_pre_hook(self, hook):
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def register_load_state_dict_post_hook(self, hook):
        """hook(module, incompatible_keys) -> None, after the module and its children load."""
        return RemovableHandle.putting(self._load_state_dict_post_hooks, hook)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        """Load this module's own entries (not its children's), as torch's: what is missing,
        unexpected or fails goes into the lists."""
        for hook in self._hooks_of("_load_state_dict_pre_hooks"):
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                 error_msgs)
        local_state = {k: v for k, v in self._parameters.items() if v is not None}
        local_state.update((k, v) for k, v in self._buffers.items()
                           if v is not None and k not in self._non_persistent_buffers_set)
        assign = local_metadata.get("assign_to_params_buffers", False)
        from ... import __future__ as future

        for name, current in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                error_msgs.append(f'While copying the parameter named "{key}", expected '
                                  "torch.Tensor or Tensor-like object from checkpoint but "
                                  f"received {type(value)}")
                continue
            # (an uninitialized current one takes the value as it is, as torch's; an
            # uninitialized value into an initialized one fails on reading its shape)
            lazy = is_lazy(current)
            if not lazy and not current.ndim and tuple(value.shape) == (1,):
                value = value[0]
            if not lazy and tuple(value.shape) != tuple(current.shape):
                error_msgs.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{value.shape!r} from checkpoint, the shape in current model "
                                  f"is {current.shape!r}.")
                continue
            if current.is_meta and not value.is_meta and not assign:
                warnings.warn(f"for {key}: copying from a non-meta parameter in the checkpoint to "
                              "a meta parameter in the current model, which is a no-op. (Did you "
                              "mean to pass `assign=True` to assign items in the state dictionary "
                              "to their corresponding key in the module instead of copying them "
                              "in place?)", stacklevel=3)
            try:
                self._load_entry(name, current, value, lazy, assign)
            except Exception as ex:
                action = "swapping" if future.get_swap_module_params_on_conversion() else "copying"
                error_msgs.append(f'While {action} the parameter named "{key}", whose dimensions '
                                  f"in the model are {current.size()!r} and whose dimensions in "
                                  f"the checkpoint are {value.size()!r}, an exception occurred : "
                                  f"{ex.args}.")
        extra = prefix + _EXTRA_STATE
        if self._has_own("set_extra_state"):
            if extra in state_dict:
                self.set_extra_state(state_dict[extra])
            elif strict:
                missing_keys.append(extra)
        elif strict and extra in state_dict:
            unexpected_keys.append(extra)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra:
                    first = key[len(prefix):].split(".", 1)
                    if (first[0] not in self._modules if len(first) > 1
                            else first[0] not in local_state):
                        unexpected_keys.append(key)

    def _load_entry(self, name: str, current, value, lazy: bool, assign: bool) -> None:
        """`value` into entry `name` (`current`): copied in place, or with `assign` set as it
        (under torch.__future__'s swap: current.module_load(value) swapped into current)."""
        from ... import __future__ as future

        if future.get_swap_module_params_on_conversion():
            with no_grad():
                _swap_loaded(current, value, assign)
            return
        if lazy and not assign:
            with no_grad():
                current.copy_(value)
            return
        with no_grad():
            # copied: placed as the current tensor is (its device, or its sharding) first;
            # assigned: as it is, on its own device, as torch's
            new = value if assign else current._storage.place_like(current, value)
            if assign:
                if name in self._parameters:
                    if isinstance(new, Parameter):  # (a Parameter given is kept, as torch)
                        new.requires_grad_(current.requires_grad)
                    else:
                        new = Parameter(new, current.requires_grad)
                setattr(self, name, new)
            else:
                current.copy_(new)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values in place (no_grad); torch's errors for missing, unexpected or
        mis-shaped entries when strict."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, errors = [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # (an overridden loader may add or remove keys)
        if metadata is not None:
            state_dict._metadata = metadata

        def load(module, local_state_dict, prefix=""):
            local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(local_state_dict, prefix, local_metadata, True,
                                         missing, unexpected, errors)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local_state_dict.items()
                                 if k.startswith(child_prefix)}, child_prefix)
            keys = _IncompatibleKeys(missing, unexpected)
            for hook in module._hooks_of("_load_state_dict_post_hooks"):
                if hook(module, keys) is not None:
                    raise AssertionError(
                        "Hooks registered with ``register_load_state_dict_post_hook`` are not "
                        "expected to return new values, if incompatible_keys need to be "
                        "modified, it should be done inplace.")

        load(self, state_dict)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing -------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


_REGISTRY = {"parameter": "_parameters", "buffer": "_buffers", "module": "_modules"}


def _check_name(name, kind: str, module: Module) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if "." in name:  # (torch names the bad name for modules only)
        raise KeyError(f'{kind} name can\'t contain "."' + (f", got: {name}" if kind == "module" else ""))
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')
    # a name may be registered again only as the same kind (torch: a buffer named like
    # a parameter, or a module like a buffer, is refused)
    if hasattr(module, name) and name not in getattr(module, _REGISTRY[kind]):
        raise KeyError(f"attribute '{name}' already exists")


def _zero_grad(p: Tensor, set_to_none: bool) -> None:
    g = p._leaf_grad()
    if g is None:
        return
    if set_to_none:
        p._set_leaf_grad(None)
        return
    if g.grad_fn is not None:
        g.detach_()
    else:
        g.requires_grad_(False)
    with no_grad():
        g.zero_()


# ---- layers ---------------------------------------------------------------------------------

class Identity(Module):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x Wᵀ + b, with torch's initialisation: W and b uniform in ±1/sqrt(in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        from ...creation import empty

        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as is the bias.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expand dim `dim` into the sizes `unflattened_size` (one of them may be -1)."""

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError("unflattened_size must be a tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        for idx, elem in enumerate(unflattened_size):
            if not isinstance(elem, int):
                raise TypeError("unflattened_size must be tuple of ints, but found element of "
                                f"type {type(elem).__name__} at pos {idx}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# ---- activations --------------------------------------------------------------------------

class ReLU(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Softmax(Module):
    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim, _stacklevel=5)


# ---- containers ---------------------------------------------------------------------------

def _renumber(container: Module) -> None:
    """Keep a list container's keys 0..n-1 after a deletion, as torch does."""
    items = list(container._modules.values())
    container._modules.clear()
    for i, m in enumerate(items):
        container._modules[str(i)] = m


def _insert(container: Module, index: int, module: Module) -> None:
    for i in range(len(container._modules), index, -1):
        container._modules[str(i)] = container._modules[str(i - 1)]
    container._modules[str(index)] = module


def _check_sequential(other) -> None:
    if not isinstance(other, Sequential):
        raise ValueError("add operator supports only objects of Sequential class, but "
                         f"{str(type(other))} is given.")


def _check_factor(seq, other) -> None:
    if not isinstance(other, int):
        raise TypeError(f"unsupported operand type(s) for *: {type(seq)} and {type(other)}")
    if other <= 0:
        raise ValueError(f"Non-positive multiplication factor {other} for {type(seq)}")


class Sequential(Module):
    """Modules run one after the other: `Sequential(Linear(2, 8), ReLU(), Linear(8, 1))`,
    or from an OrderedDict of named modules."""

    def __init__(self, *args) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def _index(self, idx: int) -> int:
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return idx % n

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules.keys())[self._index(idx)]
        setattr(self, key, module)

    def __delitem__(self, idx) -> None:
        keys = list(self._modules.keys())
        for key in (keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]):
            del self._modules[key]
        _renumber(self)

    def pop(self, key) -> Module:
        v = self[key]
        del self[key]
        return v

    def __add__(self, other) -> "Sequential":
        _check_sequential(other)
        return Sequential(*self, *other)

    def __iadd__(self, other) -> "Sequential":
        _check_sequential(other)
        return self.extend(other)

    def __mul__(self, other: int) -> "Sequential":
        _check_factor(self, other)
        return Sequential(*(list(self) * other))

    __rmul__ = __mul__

    def __imul__(self, other: int) -> "Sequential":
        _check_factor(self, other)
        return self.extend(list(self) * (other - 1))

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> "Sequential":
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        _insert(self, index + n if index < 0 else index, module)
        return self

    def extend(self, sequential) -> "Sequential":
        for layer in sequential:
            self.append(layer)
        return self

    def forward(self, input):
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules whose parameters the owner registers."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return self._modules[str(idx % n)]

    def __setitem__(self, idx: int, module: Module) -> None:
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        setattr(self, str(idx % n), module)

    def __delitem__(self, idx) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            n = len(self)
            if not -n <= idx < n:
                raise IndexError(f"index {idx} is out of range")
            delattr(self, str(idx % n))
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules) -> "ModuleList":
        return self.extend(modules)

    def __add__(self, other) -> "ModuleList":
        return ModuleList([*self, *other])

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def insert(self, index: int, module: Module) -> None:
        _insert(self, index, module)  # (torch neither checks nor wraps the index here)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key) -> Module:
        v = self[key]
        del self[key]
        return v

    def extend(self, modules) -> "ModuleList":
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleList.extend should be called with an iterable, but got "
                            + type(modules).__name__)
        for m in modules:
            self.append(m)
        return self

    def __repr__(self) -> str:
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        blocks = []  # [start, end, repr] of runs of equal reprs, printed "(0-2): 3 x ..."
        for i, r in enumerate(reprs):
            if blocks and blocks[-1][2] == r:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        lines = [_addindent(f"({s}): {r}" if s == e else f"({s}-{e}): {e - s + 1} x {r}", 2)
                 for s, e, r in blocks]
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


# ---- losses ---------------------------------------------------------------------------------

class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = F._reduction("mean", size_average, reduce)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Optional[Tensor] = None, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    def __init__(self, weight: Optional[Tensor] = None, size_average=None, reduce=None,
                 reduction: str = "mean", pos_weight: Optional[Tensor] = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  pos_weight=self.pos_weight,
                                                  reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    def __init__(self, weight: Optional[Tensor] = None, size_average=None,
                 ignore_index: int = -100, reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    def __init__(self, weight: Optional[Tensor] = None, size_average=None,
                 ignore_index: int = -100, reduce=None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight,
                               ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)
