"""The Optimizer base class: parameter groups, per-parameter state, state dicts placed like
their parameters, zero_grad. distgrad.optim's optimizers and lr_scheduler build on it."""
from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from typing import Any, Callable, Optional

from ..autograd import record
from ..autograd.grad_mode import enable_grad, set_grad_enabled
from ..autograd.profiler import record_function
from ..hook_handles import RemovableHandle
from ..tensor import Tensor
from ..watched import WatchedDefaultDict, WatchedDict


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


# The devices torch captures an optimizer's step on (xla too for some steps): no distgrad
# device is one.
_CAPTURING_DEVICES = ["cuda", "xpu", "hpu", "privateuseone"]
# What torch's refusal names, and whether it lists xla, in the single-tensor step (the one
# foreach=None picks for cpu tensors) and in the foreach step: Adam's, most optimizers'.
_CAPTURABLE_REFUSALS = (("params and state_steps", True), ("params and state_steps", False))


def _typename(value) -> str:
    if isinstance(value, Tensor):
        return value.dtype.type_name
    return type(value).__name__


_global_step_pre_hooks: OrderedDict = OrderedDict()
_global_step_post_hooks: OrderedDict = OrderedDict()


def register_optimizer_step_pre_hook(hook):
    """hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs), before every
    optimizer's step (args start with the optimizer, as torch's)."""
    return RemovableHandle.putting(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """hook(optimizer, args, kwargs) after every optimizer's step."""
    return RemovableHandle.putting(_global_step_post_hooks, hook)


def _labelled(method, what: str):
    """`method` with torch's step hooks around it, recorded in a profile as torch names
    it: Optimizer.step#SGD.step. (As torch's, a subclass's step that calls super().step()
    runs the hooks twice.)"""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        args = (self, *args)
        for hook in [*_global_step_pre_hooks.values(),
                     *getattr(self, "_optimizer_step_pre_hooks", {}).values()]:
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{method} must return None or a tuple of (new_args, "
                                       f"new_kwargs), but got {result}.")
                args, kwargs = result
        if record.profiling is None:
            out = method(*args, **kwargs)
        else:
            with record_function(f"Optimizer.{what}#{type(self).__name__}.{what}"):
                out = method(*args, **kwargs)
        for hook in [*getattr(self, "_optimizer_step_post_hooks", {}).values(),
                     *_global_step_post_hooks.values()]:  # (torch: its own first, here)
            hook(self, args, kwargs)
        return out

    return wrapper


class Optimizer:
    """Holds `param_groups` (dicts of params and hyper-parameters) and per-parameter
    `state`; subclasses implement `step`."""

    def __init__(self, params, defaults: dict) -> None:
        self.defaults = defaults
        # (its changes are counted: a compiled step's guard need not look into it)
        self.state: defaultdict = WatchedDefaultDict(WatchedDict)
        self.param_groups: list[dict] = []
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._add_state_dict_hook_dicts()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {_typename(params)}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]  # named_parameters()
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some "
                                 "param names are missing")
            group["param_names"] = names
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{_typename(p)}")
            # (a non-leaf that keeps its .grad, or any tensor of a differentiable optimizer)
            if not self.defaults.get("differentiable") and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        for other in self.param_groups:
            if ("param_names" in group) != ("param_names" in other):
                raise ValueError("all optimizer param groups should be with/without names. "
                                 "cannot add param group "
                                 f"{'with' if 'param_names' in group else 'without'} names to "
                                 "the optimizer")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:  # a profile shows each step as torch's does
            cls.step = _labelled(cls.step, "step")

    def register_step_pre_hook(self, hook):
        """hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs), before step."""
        return RemovableHandle.putting(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        """hook(optimizer, args, kwargs) after step."""
        return RemovableHandle.putting(self._optimizer_step_post_hooks, hook)

    _STATE_DICT_HOOKS = ("_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                         "_optimizer_load_state_dict_pre_hooks",
                         "_optimizer_load_state_dict_post_hooks")

    def _add_state_dict_hook_dicts(self) -> None:
        for name in self._STATE_DICT_HOOKS:  # (an unpickled optimizer has none, as torch's)
            self.__dict__.setdefault(name, OrderedDict())

    def register_state_dict_pre_hook(self, hook, prepend: bool = False):
        """hook(optimizer) before state_dict() builds the dict."""
        return RemovableHandle.putting(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False):
        """hook(optimizer, state_dict) -> None or the state dict state_dict() returns."""
        return RemovableHandle.putting(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False):
        """hook(optimizer, state_dict) -> None or the state dict to load instead."""
        return RemovableHandle.putting(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False):
        """hook(optimizer) after load_state_dict() has loaded."""
        return RemovableHandle.putting(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    def zero_grad(self, set_to_none: bool = True) -> None:
        from ..nn.modules import _zero_grad

        with record_function(f"Optimizer.zero_grad#{type(self).__name__}.zero_grad"):
            for group in self.param_groups:
                for p in group["params"]:
                    _zero_grad(p, set_to_none)

    def step(self, closure: Optional[Callable[[], Any]] = None):
        raise NotImplementedError

    def _step_grad_mode(self):
        """The grad mode a step runs in, as torch's: none recorded, unless the optimizer is
        differentiable (its updates then carry gradients back to the parameters' earlier
        values and to tensor hyper-parameters, for meta-learning)."""
        return set_grad_enabled(bool(self.defaults.get("differentiable")))

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def state_dict(self) -> dict:
        """{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        state_dict = {"state": state, "param_groups": groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        # the groups are copied, the state tensors are not: as in torch, an optimizer loaded
        # from another's live state_dict() steps the very same tensors
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups, saved = self.param_groups, deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        by_index = {i: p for g, s in zip(groups, saved) for i, p in zip(s["params"], g["params"])}
        state = WatchedDefaultDict(WatchedDict)
        for i, s in state_dict["state"].items():
            # (keyed as the saved groups list their parameters: numbers, or names by
            # checkpoint.state_dict; a number may come back from a file as a string)
            p = by_index.get(i, by_index.get(int(i)) if str(i).isdigit() else None)
            if p is None:
                continue
            state[p] = WatchedDict((k, _to_param(v, p, k)) for k, v in s.items())
        for g, s in zip(groups, saved):
            s["params"] = g["params"]
            if "param_names" in g:  # (a loaded group without names keeps the optimizer's)
                s.setdefault("param_names", g["param_names"])
        self.__setstate__({"state": state, "param_groups": saved})
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    # What torch's __setstate__ of each optimizer fills into a group saved by an older torch
    # (a key it lacks, and the value then), and the 0-dim state values saved as numbers then
    # that it turns into float32 tensors.
    _old_group_defaults: dict = {}
    _old_scalar_state: tuple = ()

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._add_state_dict_hook_dicts()
        for group in self.param_groups:
            for key, value in self._old_group_defaults.items():
                group.setdefault(key, value)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                for key in self._old_scalar_state:
                    if key in p_state and not isinstance(p_state[key], Tensor):
                        p_state[key] = _scalar_state(p, float(p_state[key]))

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


class _EachParam(Optimizer):
    """An optimizer whose step updates each parameter that has a gradient on its own, as
    torch's single-tensor forms do: a subclass gives the state a parameter starts with
    (after its step count) and the update, which changes the parameter and its state in
    place."""

    _old_group_defaults = dict(foreach=None, maximize=False, differentiable=False,
                               capturable=False)
    _old_scalar_state = ("step",)
    _capturable_refusals = _CAPTURABLE_REFUSALS

    def _new_state(self, p: Tensor, group: dict) -> dict:
        raise NotImplementedError

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError

    def _state(self, p: Tensor, group: dict) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = _scalar_state(p, 0.0)
            state.update(self._new_state(p, group))
        return state

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            for group in self.param_groups:
                stepped = [(p, grad, self._state(p, group)) for p, grad in _grads(group)]
                _check_capturable(group, stepped, self._capturable_refusals)
                for p, grad, state in stepped:
                    state["step"].add_(1)
                    self._update(p, grad, state, group)
        return loss


def _on_workers(t: Tensor) -> bool:
    """Is t's memory on workers (one, or parts over several)?"""
    return t.device_str != "cpu"


def _to_param(value, param: Tensor, key: str):
    """A loaded state tensor placed like its parameter: its device, or its sharding over the
    same workers (floating state takes its dtype, as torch's does). The step count and the
    other 0-dim state (NAdam's mu_product, ASGD's eta and mu) go beside the parameter's
    memory: on the driver, its worker, or a copy on each of its workers."""
    if not isinstance(value, Tensor):
        return value
    if key != "step" and value.dtype.is_floating_point and value.dtype is not param.dtype:
        value = value.to(param.dtype)
    if key == "step" or value.dim() == 0:
        return param._storage.place_beside(param, value)
    return param._storage.place_like(param, value)


# ---- what the optimizers' steps share ------------------------------------------------------

_WORDS = {"lr": "learning rate", "eps": "epsilon value"}


def _check_nonnegative(**values) -> None:
    """torch's ValueError for a hyper-parameter below zero, checked in the order given:
    "Invalid learning rate: -1", "Invalid weight_decay value: -1"; an lr given as a
    tensor must hold one number."""
    for name, value in values.items():
        if name == "lr" and isinstance(value, Tensor) and value.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= value:
            raise ValueError(f"Invalid {_WORDS.get(name, name + ' value')}: {value}")


def _check_fused(group: dict) -> None:
    """torch's refusals of fused=True with differentiable or foreach (after the groups are
    added, as torch checks them)."""
    if group["fused"]:
        if group["differentiable"]:
            raise RuntimeError("`fused` does not support `differentiable`")
        if group["foreach"]:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _check_betas(betas) -> None:
    for i, beta in enumerate(betas[:2]):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def _check_capturable(group: dict, stepped: list, refusals=_CAPTURABLE_REFUSALS) -> None:
    """torch's refusal of a capturable=True step (once the group's state exists, before it
    counts a step) of parameters off the devices it captures on: any distgrad parameter."""
    if group.get("capturable") and stepped:
        tensors, xla = refusals[bool(group["foreach"])]
        devices = _get_capturable_supported_devices(supports_xla=xla)
        raise AssertionError(f"If capturable=True, {tensors} must be on supported devices: "
                             f"{devices}.")


def _grads(group: dict):
    """(param, grad) for the params of a group that have a gradient."""
    for p in group["params"]:
        grad = p._leaf_grad()
        if grad is not None:
            yield p, grad


def _with_weight_decay(grad: Tensor, p: Tensor, weight_decay) -> Tensor:
    """grad + weight_decay·p; a weight decay that is a tensor requiring grad (one being
    learned) is added as torch adds it: into the gradient itself, in place, times a clone of
    p (so that p's later in-place update leaves the saved value alone)."""
    if isinstance(weight_decay, Tensor) and weight_decay.requires_grad:
        return grad.addcmul_(p.clone(), weight_decay)
    return grad.add(p, alpha=weight_decay)


def _l2_grad(p: Tensor, grad: Tensor, group: dict) -> Tensor:
    """The gradient a step follows, in torch's order: negated to maximize, then plus
    weight_decay·p (L2 decay, coupled to the gradient)."""
    if group["maximize"]:
        grad = -grad
    if group["weight_decay"] != 0:
        grad = grad.add(p, alpha=group["weight_decay"])
    return grad


def _addcdiv_step(p: Tensor, tensor1: Tensor, tensor2: Tensor, value) -> None:
    """p.addcdiv_(tensor1, tensor2, value=value), as torch's steps change a parameter (a
    half-precision one rounded once, from float32); a value that is a tensor (worked out on
    the workers from their step count), which value cannot be, scales tensor1 first, as
    torch's kernel does."""
    if isinstance(value, Tensor):
        p.add_(tensor1 * value / tensor2)
    else:
        p.addcdiv_(tensor1, tensor2, value=value)


def _scalar_state(p: Tensor, value: float) -> Tensor:
    """A float32 0-dim state value (a step count, NAdam's mu_product), which torch keeps on
    the cpu, kept where p's memory is: a parameter on workers then reads it there, and a
    step's count and updates are done (or lost, if a worker dies) together."""
    from ..creation import tensor

    return p._storage.place_beside(p, tensor(value))


def _value(t: Tensor):
    """A 0-dim state value as torch's formulas take it: a number read from a driver tensor,
    as torch does; on workers a 0-dim float64 tensor there, so that the formulas run there,
    in double precision as torch computes them from the number, and cost no round trip."""
    return t.double() if _on_workers(t) else t.item()


def _branch(cond, then: Callable, otherwise: Callable):
    """torch's `if` on a state value (`_value`): a Python `if` for a number; for a tensor on
    workers both sides, picked there by `where` (reading the condition would be a round
    trip)."""
    if not isinstance(cond, Tensor):
        return then() if cond else otherwise()
    from ..ops.functions import where

    return where(cond, then(), otherwise())


# ---- torch.optim.optimizer's helpers, which optimizers written after torch's import -------

def _use_grad_for_differentiable(step):
    """A step run in the grad mode its optimizer's defaults["differentiable"] sets (torch's
    decorator of its optimizers' steps)."""
    @functools.wraps(step)
    def stepped(self, *args, **kwargs):
        with set_grad_enabled(bool(self.defaults["differentiable"])):
            return step(self, *args, **kwargs)
    return stepped


def _get_value(x):
    """A 0-dim tensor (a step count) as its number; anything else as it is."""
    return x.item() if isinstance(x, Tensor) else x


def _stack_if_compiling(x):
    return x  # (torch stacks only under torch.compile)


def _view_as_real(params, *state_and_grads) -> None:
    """torch views complex tensors as real ones here; distgrad has none."""


def _to_scalar(x):
    """A 1-element hyper-parameter tensor as a 0-dim one; anything else as it is."""
    return x.squeeze() if isinstance(x, Tensor) and x.dim() != 0 else x


def _get_scalar_dtype(is_fused=None):
    """The dtype of a step count: float64 under a float64 default dtype, else float32."""
    from .. import dtypes

    if not is_fused and dtypes.get_default_dtype() is dtypes.float64:
        return dtypes.float64
    return dtypes.float32


def _get_capturable_supported_devices(supports_xla: bool = True) -> list:
    return _CAPTURING_DEVICES + (["xla"] if supports_xla else [])


def _get_foreach_kernels_supported_devices() -> list:
    return ["cuda", "xpu", "privateuseone"]


def _get_fused_kernels_supported_devices() -> list:
    return ["mps", "cuda", "xpu", "hpu", "cpu", "privateuseone"]


def _default_to_fused_or_foreach(params, differentiable: bool, use_fused: bool = False):
    """(fused, foreach) as torch picks them when a step is given neither: fused (if asked
    for) when every parameter is a floating tensor on a fused kernel's device, else foreach
    when all are on a foreach kernel's device (cuda-like: never distgrad's); neither for a
    differentiable step."""
    if differentiable:
        return False, False
    fused = use_fused and all(
        p is None or (isinstance(p, Tensor) and p.device.type in
                      _get_fused_kernels_supported_devices() and p.dtype.is_floating_point)
        for p in params)
    foreach = not fused and all(
        p is None or (isinstance(p, Tensor) and p.device.type in
                      _get_foreach_kernels_supported_devices())
        for p in params)
    return fused, foreach
