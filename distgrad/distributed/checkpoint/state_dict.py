"""`distgrad.distributed.checkpoint.state_dict`: a model's and its optimizers' state dicts
keyed by the parameters' names (torch's `get_state_dict` / `set_state_dict`).

    model_sd, optim_sd = get_state_dict(model, opt)   # optim_sd["state"]["0.weight"], ...
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id="ckpt/")
    set_state_dict(model, opt, model_state_dict=model_sd, optim_state_dict=optim_sd)

Why names: an optimizer's own state dict numbers its parameters in the order it was given
them, and a wrapped model's keys carry the wrapper (DistributedDataParallel's `module.`,
compile's `_orig_mod.`); a checkpoint keyed by the unwrapped names loads into the same
model built or wrapped another way. An optimizer with no state yet is given it first (a
step with zero gradients and a zero learning rate, as torch's), so that loading has
tensors to fill in place.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from ..sharding import is_sharded

__all__ = ["StateDictOptions", "get_model_state_dict", "get_optimizer_state_dict",
           "get_state_dict", "set_model_state_dict", "set_optimizer_state_dict",
           "set_state_dict"]

_WRAPPER_NAMES = ("module", "_orig_mod")  # DistributedDataParallel's and compile's
_CHECKPOINT_PREFIX = "_checkpoint_wrapped_module."


@dataclass
class StateDictOptions:
    """As torch's: `full_state_dict` gathers sharded and replicated tensors into whole ones
    (on the driver); `cpu_offload` moves every tensor to the driver; `ignore_frozen_params`
    leaves out parameters that do not require grad; `strict` is model.load_state_dict's;
    `flatten_optimizer_state_dict` keys the optimizer's state "state.<name>.<key>" and
    "param_groups.<name>.<key>"."""

    full_state_dict: bool = False
    cpu_offload: bool = False
    ignore_frozen_params: bool = False
    keep_submodule_prefixes: bool = True
    strict: bool = True
    broadcast_from_rank0: bool = False
    flatten_optimizer_state_dict: bool = False
    dsd_fqn_modifiers: str = "_fqn_modifiers"


# ---- names ----------------------------------------------------------------------------------

def _unwrapped_name(model, key: str) -> str:
    """`key` of model.state_dict() without the wrappers' parts of it."""
    key = key.replace(_CHECKPOINT_PREFIX, "")
    names, obj = [], model
    for part in key.split("."):
        inner = getattr(obj, part, None) if obj is not None else None
        if part in _WRAPPER_NAMES and _is_wrapper(obj):
            obj = inner
            continue
        names.append(part)
        obj = inner
    return ".".join(names)


def _is_wrapper(obj) -> bool:
    from ...nn.parallel import DistributedDataParallel
    from ...optimized_module import OptimizedModule

    return isinstance(obj, (DistributedDataParallel, OptimizedModule))


def _parameter_names(model) -> dict:
    """{id(parameter): its unwrapped name} (a tied parameter: its first name)."""
    return {id(p): _unwrapped_name(model, name) for name, p in model.named_parameters()}


def _optimizers(optimizers) -> tuple:
    from ...optim import Optimizer

    return (optimizers,) if isinstance(optimizers, Optimizer) else tuple(optimizers)


# ---- what the options do to the tensors -----------------------------------------------------

def _gathered_or_offloaded(state_dict: dict, options: StateDictOptions) -> dict:
    if not (options.full_state_dict or options.cpu_offload):
        return state_dict

    def convert(value):
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if not isinstance(value, Tensor):
            return value
        if options.full_state_dict and is_sharded(value):  # (replicated ones too)
            value = value.full_tensor()
        return value.to("cpu") if options.cpu_offload else value

    return convert(state_dict)


# ---- the model -----------------------------------------------------------------------------

def get_model_state_dict(model, *, submodules=None, options: StateDictOptions | None = None
                         ) -> dict:
    """model.state_dict() keyed by the parameters' unwrapped names."""
    options = options or StateDictOptions()
    state = {_unwrapped_name(model, k): v for k, v in model.state_dict().items()}
    if options.ignore_frozen_params:
        for name, p in model.named_parameters():
            if not p.requires_grad:
                state.pop(_unwrapped_name(model, name), None)
    return _gathered_or_offloaded(state, options)


def set_model_state_dict(model, model_state_dict: dict, *,
                         options: StateDictOptions | None = None):
    """Load a state dict keyed by unwrapped names (get_model_state_dict's) into `model`;
    returns model.load_state_dict's missing and unexpected keys."""
    options = options or StateDictOptions()
    if not model_state_dict:
        from ...nn.modules.module import _IncompatibleKeys

        return _IncompatibleKeys([], [])
    state = dict(model_state_dict)
    for key in model.state_dict():
        name = _unwrapped_name(model, key)
        if name != key:
            if name in state:
                state[key] = state.pop(name)
            elif options.strict:
                raise RuntimeError(f"Missing key: {name}.")
    with no_grad():
        return model.load_state_dict(state, strict=options.strict)


# ---- the optimizers ------------------------------------------------------------------------

def _init_optim_state(optim) -> None:
    """Give an optimizer with no state its state: one step with zero gradients and a zero
    learning rate (torch's), unless a parameter has a gradient already."""
    if optim.state:
        return
    params = [p for g in optim.param_groups for p in g["params"]]
    if any(p.grad is not None for p in params):
        return
    from ... import zeros_like

    for p in params:
        if p.requires_grad:
            p.grad = zeros_like(p)
    lrs = []
    for g in optim.param_groups:
        if "lr" in g:
            lrs.append(g["lr"])
            g["lr"] = zeros_like(g["lr"]) if isinstance(g["lr"], Tensor) else 0.0
    optim.step(closure=None)
    for g in optim.param_groups:
        if "lr" in g:
            g["lr"] = lrs.pop(0)
    optim.zero_grad(set_to_none=True)


def get_optimizer_state_dict(model, optimizers, *, submodules=None,
                             options: StateDictOptions | None = None) -> dict:
    """The optimizers' state dicts in one, their parameters named as in the model."""
    options = options or StateDictOptions()
    names = _parameter_names(model)
    merged = {"state": {}, "param_groups": []}
    for optim in _optimizers(optimizers):
        _init_optim_state(optim)
        osd = optim.state_dict()
        params = [p for g in optim.param_groups for p in g["params"]]
        name_of = {i: names[id(p)] for i, p in enumerate(params) if id(p) in names}
        merged["state"].update({name_of[i]: s for i, s in osd["state"].items()})
        for group in osd["param_groups"]:
            merged["param_groups"].append(
                {**group, "params": [name_of[i] for i in group["params"]]})
    if options.flatten_optimizer_state_dict:
        merged = _flattened(merged)
    return _gathered_or_offloaded(merged, options)


def set_optimizer_state_dict(model, optimizers, optim_state_dict: dict, *,
                             options: StateDictOptions | None = None) -> None:
    """Load get_optimizer_state_dict's state (flattened or not) into each optimizer: its
    parameters' state by name, each group's settings from the saved group holding them."""
    names = _parameter_names(model)
    for optim in _optimizers(optimizers):
        _init_optim_state(optim)
        if not optim_state_dict:
            continue
        saved = optim_state_dict if "state" in optim_state_dict else \
            _unflattened(optim_state_dict, optim, names)
        optim.load_state_dict(_own_part(optim, saved, names))


def _own_part(optim, saved: dict, names: dict) -> dict:
    """The part of a state dict keyed by names that is `optim`'s, as its load_state_dict
    takes it (groups in its order, each listing its parameters' names)."""
    state, groups, group_of = {}, [], {}
    for group in optim.param_groups:
        own = {"params": []}
        for p in group["params"]:
            name = names[id(p)]
            own["params"].append(name)
            if p.requires_grad and name in saved["state"]:
                state[name] = saved["state"][name]
            for loaded in saved["param_groups"]:
                if name in loaded["params"]:
                    group_of[id(loaded)] = len(groups)
        groups.append(own)
    for loaded in saved["param_groups"]:
        k = group_of.get(id(loaded))
        if k is not None:
            groups[k].update({key: v for key, v in loaded.items() if key != "params"})
    return {"state": state, "param_groups": groups}


def _flattened(osd: dict) -> dict:
    """{"state.<name>.<key>": value, "param_groups.<name>.<key>": value} (torch's)."""
    flat = {}
    for name, state in osd["state"].items():
        for key, value in state.items():
            flat[f"state.{name}.{key}"] = value
    for group in osd["param_groups"]:
        for name in group["params"]:
            for key, value in group.items():
                if key != "params":
                    flat[f"param_groups.{name}.{key}"] = value
    return flat


def _unflattened(flat: dict, optim, names: dict) -> dict:
    state, groups = {}, []
    for group in optim.param_groups:
        own = {"params": [names[id(p)] for p in group["params"]]}
        for name in own["params"]:
            prefix = f"state.{name}."
            found = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
            if found:
                state[name] = found
        if own["params"]:
            prefix = f"param_groups.{own['params'][0]}."
            own.update({k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)})
        groups.append(own)
    return {"state": state, "param_groups": groups}


# ---- both ----------------------------------------------------------------------------------

def get_state_dict(model, optimizers, *, submodules=None,
                   options: StateDictOptions | None = None) -> tuple:
    """(get_model_state_dict(model), get_optimizer_state_dict(model, optimizers))."""
    return (get_model_state_dict(model, options=options),
            get_optimizer_state_dict(model, optimizers, options=options))


def set_state_dict(model, optimizers, *, model_state_dict: dict, optim_state_dict: dict,
                   options: StateDictOptions | None = None):
    """set_model_state_dict then set_optimizer_state_dict; returns the model's missing and
    unexpected keys."""
    keys = set_model_state_dict(model, model_state_dict, options=options)
    set_optimizer_state_dict(model, optimizers, optim_state_dict, options=options)
    return keys
