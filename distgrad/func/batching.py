"""`vmap`: torch.func.vmap's API, arguments, results and errors, run as a loop.

distgrad has no batching rules: `vmap(f)(x)` calls `f` once per slice along the mapped
dimensions (`unbind`, one view op per argument) and stacks the results (`stack`). So it
gives torch's values for any `f` made of distgrad ops, `vmap(grad(f))` gives per-sample
gradients and nested vmaps nest loops, at a per-slice cost; slices and results stay on the
device of their tensors. Beyond torch: `f` may read values (`.item()`) and branch on them.
Short of torch: an output with out_dims=None is the first slice's (torch raises when it
depends on the mapped inputs; a loop cannot tell).
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Callable

from .. import creation
from ..autograd.function import transform
from ..autograd.record import note_stand_in
from ..ops.functions import stack
from ..ops.rules import written
from ..tensor import Tensor
from .pytree import broadcast_to_and_flatten, tree_flatten, tree_unflatten

__all__ = ["vmap"]

_RANDOM_ERROR = ("vmap: called random operation while in randomness error mode. Please either "
                 "use the 'same' or 'different' randomness flags on vmap or perform the "
                 "randomness operation out of vmap")


def check_randomness(randomness: str) -> None:
    if randomness not in ("error", "different", "same"):
        raise RuntimeError("Only allowed values for randomness are 'error', 'different', or "
                           f"'same'. Got {randomness}")


@contextmanager
def random_draws(randomness: str):
    """While vmap runs its slices: "error" makes a random draw raise, "same" gives every
    slice the same numbers (yields a function to call before each slice), "different"
    lets each slice draw on."""
    before = creation.forbid_random
    creation.forbid_random = _RANDOM_ERROR if randomness == "error" else None
    state = creation.stream_state() if randomness == "same" else None
    try:
        yield ((lambda: creation.restore_stream_state(state)) if state is not None
               else (lambda: None))
    finally:
        creation.forbid_random = before


def _name(func) -> str:
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({_name(func.func)}, ...)"
    return repr(func)


def _flat_in_dims(in_dims, args: tuple, func) -> tuple[int, list, list, Any]:
    """(batch size, in_dim per flat argument, flat arguments, their spec), torch's checks."""
    where = f"vmap({_name(func)}, in_dims={in_dims}, ...)(<inputs>)"
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(f"{where}: expected `in_dims` to be int or a (potentially nested) tuple "
                         f"matching the structure of inputs, got: {type(in_dims)}.")
    if not args:
        raise ValueError(f"vmap({_name(func)})(<inputs>): got no inputs. Maybe you forgot to add "
                         "inputs, or you are trying to vmap over a function with no inputs. The "
                         "latter is unsupported.")
    flat_args, spec = tree_flatten(args)
    flat_dims = broadcast_to_and_flatten(in_dims, spec)
    if flat_dims is None:
        raise ValueError(f"{where}: in_dims is not compatible with the structure of `inputs`. "
                         f"in_dims has structure {tree_flatten(in_dims)[1]} but inputs has "
                         f"structure {spec}.")
    for i, (arg, d) in enumerate(zip(flat_args, flat_dims)):
        if d is None:
            continue
        if not isinstance(d, int):
            raise ValueError(f"{where}: Got in_dim={d} for an input but in_dim must be either an "
                             "integer dimension or None.")
        if not isinstance(arg, Tensor):
            raise ValueError(f"{where}: Got in_dim={d} for an input but the input is of type "
                             f"{type(arg)}. We cannot vmap over non-Tensor arguments, please use "
                             "None as the respective in_dim")
        if not -arg.dim() <= d < arg.dim():
            raise ValueError(f"{where}: Got in_dim={d} for some input, but that input is a Tensor "
                             f"of dimensionality {arg.dim()} so expected in_dim to satisfy "
                             f"-{arg.dim()} <= in_dim < {arg.dim()}.")
        flat_dims[i] = d % arg.dim()
    sizes = [arg.shape[d] for arg, d in zip(flat_args, flat_dims) if d is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError("vmap: Expected all tensors to have the same size in the mapped "
                         f"dimension, got sizes {sizes} for the mapped dimension")
    return sizes[0], flat_dims, flat_args, spec


def _check_out_dims(out_dims, func) -> None:
    if all(d is None or isinstance(d, int) for d in tree_flatten(out_dims)[0]):
        return
    raise ValueError(f"vmap({_name(func)}, ..., out_dims={out_dims}): `out_dims` must be an int, "
                     "None or a python collection of ints representing where in the outputs the "
                     "vmapped dimension should appear.")


def _flat_out_dims(out_dims, output, spec, func) -> list:
    if isinstance(output, Tensor):
        # torch lets a 1-tuple stand for the one output
        flat = [out_dims] if not isinstance(out_dims, tuple) else (
            list(out_dims) if len(out_dims) == 1 else None)
    else:
        flat = broadcast_to_and_flatten(out_dims, spec)
    if flat is None:
        raise ValueError(f"vmap({_name(func)}, ..., out_dims={out_dims})(<inputs>): out_dims is "
                         "not compatible with the structure of `outputs`. out_dims has structure "
                         f"{tree_flatten(out_dims)[1]} but outputs has structure {spec}.")
    return flat


def _stack_results(results: list, out_dims, func, counts_writes: bool = True):
    """The per-slice results as one: each tensor stacked at its out_dim (its version the
    writes of one call, if `counts_writes`)."""
    name = _name(func)
    flats = [tree_flatten(r) for r in results]
    spec = flats[0][1]
    flat_dims = _flat_out_dims(out_dims, results[0], spec, func)
    stacked = []
    for i, d in enumerate(flat_dims):
        column = [flat[i] for flat, _ in flats]
        if d is None:
            stacked.append(column[0])
            continue
        if not isinstance(column[0], Tensor):
            raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type "
                             f"{type(column[0])}. Did you mean to set out_dims= to None for "
                             "output?")
        # (torch's result is the batched tensor f wrote, once for all slices: its version
        # counts the writes of one call)
        out = stack(column, dim=d)
        stacked.append(written(out, column[0]._version) if counts_writes else out)
    return tree_unflatten(stacked, spec)


def _slices(arg, dim: int) -> tuple:
    """`arg` unbound along `dim`. Along dim 0 the slices stand for it (record.
    note_stand_in): torch's batching rules work on the batched tensor with its batch dim
    moved to the front, `arg` itself when it is there already (a view of it otherwise)."""
    pieces = arg.unbind(dim)
    if dim == 0 and arg._grad_fn is not None:
        for piece in pieces:
            note_stand_in(arg, piece)
    return pieces


def vmap(func: Callable, in_dims=0, out_dims=0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable:
    """`func` mapped over dimension `in_dims` of its arguments (an int, None for an argument
    not mapped, or a structure like the arguments'), results stacked at `out_dims`.

    Runs `func` once per slice and stacks the results (see the module docstring);
    `chunk_size` is checked as torch does and otherwise changes nothing.

        >>> vmap(distgrad.dot)(x, y)   # x, y of shape (B, N): the B dot products
    """
    check_randomness(randomness)
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        _check_out_dims(out_dims, func)
        size, flat_dims, flat_args, spec = _flat_in_dims(in_dims, args, func)
        slices = [_slices(arg, d) if d is not None else None
                  for arg, d in zip(flat_args, flat_dims)]
        if size == 0:  # torch's shape rules would give the empty result's shape; a loop cannot
            raise ValueError("vmap: the mapped dimension has size 0: there is no slice to run "
                             f"{_name(func)} on")
        results = []
        with random_draws(randomness) as before_each:
            for i in range(size):
                before_each()
                one = [arg if s is None else s[i] for arg, s in zip(flat_args, slices)]
                with transform("vmap", [s[i] for s in slices if s is not None]):
                    results.append(func(*tree_unflatten(one, spec), **kwargs))
        # (by chunks, torch concatenates the chunks' results: new tensors, unwritten)
        return _stack_results(results, out_dims, func, counts_writes=chunk_size is None)

    return wrapped
