"""`functional_call`: run a module with given tensors in place of its parameters and
buffers (torch.func.functional_call), so that `grad` and `vmap` can take them as arguments;
`stack_module_state`: the parameters and buffers of several alike modules, stacked, for a
`vmap` over `functional_call` (an ensemble run as one model):

    >>> params = {k: v.detach() for k, v in model.named_parameters()}
    >>> loss = lambda p, x, y: F.mse_loss(functional_call(model, p, (x,)), y)
    >>> per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)

The module's own tensors are swapped back afterwards, also when the call raises.
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from ..tensor import Tensor

__all__ = ["functional_call", "stack_module_state"]

_MISSING = object()  # the module had no attribute of that name


def _merge(parameter_and_buffer_dicts) -> dict:
    if isinstance(parameter_and_buffer_dicts, dict):
        return parameter_and_buffer_dicts
    if not isinstance(parameter_and_buffer_dicts, Sequence):
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of "
                         f"dicts, but got {type(parameter_and_buffer_dicts)}")
    if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
        raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
    counts: dict = {}
    for d in parameter_and_buffer_dicts:
        for k in d:
            counts[k] = counts.get(k, 0) + 1
    repeated = [k for k, n in counts.items() if n > 1]
    if repeated:
        raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional "
                         "call is ambiguous")
    return {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}


def _named_tensors(module) -> dict:
    out = dict(module.named_parameters(remove_duplicate=False))
    out.update(module.named_buffers(remove_duplicate=False))
    return out


def _untie(module, given: dict) -> dict:
    """`given` with a value for every name tied to a given name (torch's tie_weights)."""
    names_of: dict = {}
    for name, t in _named_tensors(module).items():
        names_of.setdefault(id(t), set()).add(name)
    tied = {n: names for names in names_of.values() if len(names) > 1 for n in names}
    out = dict(given)
    for name in (n for n in given if n in tied):
        group = tied[name]
        if len({id(given[n]) for n in group if n in given}) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(group)}, which "
                             "are tied. Consider using tie_weights=False")
        out.update(dict.fromkeys(group, given[name]))
    return out


def _check_keys(module, names) -> None:
    valid = set(_named_tensors(module))
    missing, unexpected = sorted(valid - set(names)), sorted(set(names) - valid)
    msgs = []
    if unexpected:
        msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
    if missing:
        msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
    if msgs:
        raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}:\n\t"
                           + "\n\t".join(msgs))


def _swap(module, name: str, value):
    """Put `value` (or _MISSING: remove) at the dotted `name`; return what was there."""
    prefix, _, attr = name.rpartition(".")
    owner = module.get_submodule(prefix) if prefix else module
    for store in (owner._parameters, owner._buffers):
        if attr in store:
            old = store[attr]
            if value is _MISSING:
                del store[attr]
            else:
                store[attr] = value
            return old
    old = getattr(owner, attr, _MISSING)
    if old is not _MISSING and old is not None and not isinstance(old, Tensor):
        raise TypeError(f"attribute `{attr}`: {old} is not an instance of torch.Tensor")
    if value is not _MISSING:
        setattr(owner, attr, value)
    elif old is not _MISSING:
        delattr(owner, attr)
    return old


@contextmanager
def _reparametrized(module, tensors: dict, tie_weights: bool, strict: bool):
    given, originals = tensors, {}
    if tie_weights:
        tensors = _untie(module, tensors)
    if strict:
        _check_keys(module, tensors)
    try:
        for name, value in tensors.items():
            originals[name] = _swap(module, name, value)
        yield
    finally:
        # (in the order they went in, as torch's: a submodule registered under two names,
        # whose tied names share one slot, is left holding the value given)
        for name, old in originals.items():
            now = _swap(module, name, old)
            if name in given:  # as torch: what the call assigned is handed back in the dict
                given[name] = now


def functional_call(module, parameter_and_buffer_dicts, args: Any = None,
                    kwargs: dict | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """`module(*args, **kwargs)` with the tensors of `parameter_and_buffer_dicts` (a dict
    of dotted names, or a tuple of dicts with distinct keys) standing in for its parameters
    and buffers; names not given keep the module's own. With `tie_weights`, a value given
    for one of several tied names is used for all of them; with `strict`, every parameter
    and buffer must be given. `args` that is not a tuple is the one argument."""
    tensors = _merge(parameter_and_buffer_dicts)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrized(module, tensors, tie_weights, strict):
        return module(*args, **(kwargs or {}))


def stack_module_state(models) -> tuple[dict, dict]:
    """(params, buffers): for each name, the models' tensors of that name stacked along a
    new first dim; stacked parameters are new leaves (requiring grad when the models'
    do), as torch.func.stack_module_state."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if len({m.training for m in models}) > 1:
        raise RuntimeError("stack_module_state: Expected all models to have the same "
                           "training/eval mode.")
    if len({type(m) for m in models}) > 1:
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    params = _stacked([dict(m.named_parameters()) for m in models])
    buffers = _stacked([dict(m.named_buffers()) for m in models])
    return params, buffers


def _stacked(named: list) -> dict:
    from ..ops.functions import stack

    out = {}
    for name in named[0]:
        tensors = [d[name] for d in named]
        wanted = {t.requires_grad for t in tensors}
        if len(wanted) > 1:
            raise RuntimeError(f"Expected {name} from each model to have the same "
                               ".requires_grad")
        stacked = stack(tensors)
        out[name] = stacked.detach().requires_grad_() if wanted == {True} else stacked
    return out


def replace_all_batch_norm_modules_(root):
    """`root` with every BatchNorm in it made to stop tracking running statistics (its
    running_mean, running_var and num_batches_tracked set to None), in place: under vmap
    each slice is then normalized by its own batch's statistics, with no buffer written per
    slice (torch.func.replace_all_batch_norm_modules_)."""
    from ..nn.normalization import _BatchNorm

    for module in root.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
            module.track_running_stats = False
    return root
