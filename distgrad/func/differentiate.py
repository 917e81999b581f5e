"""torch.func's derivative transforms (`grad`, `grad_and_value`, `vjp`, `jacrev`, `jacfwd`,
`hessian`, `jvp`) on distgrad's reverse-mode autograd.

distgrad has no functorch levels, so a transform stays composable another way: the
arguments it differentiates become fresh tensors, a differentiable alias (`alias`) of an
argument that already requires grad (an enclosing transform's input, or the user's own
leaf: they see through it) and a detached leaf otherwise. The derivatives keep a graph
only when the forward reached some other tensor that requires grad (an enclosing
transform's input, a captured parameter), so `grad(grad(f))` is a second derivative, while
at the outermost level the results are plain tensors, as torch.func's are.

`jvp` is forward mode (autograd.forward_ad: the primals made dual, so a custom Function's
own `jvp` is used); within an open dual level (a jvp of a jvp) it is the double-vjp trick
(a vjp is linear in its cotangent; differentiating it in the cotangent gives J v).
Transforms carry a dual's tangent through the tensors they make, so `jvp(grad(f))` is a
Hessian-vector product. `jacfwd` is `jacrev` (the same values).
"""
from __future__ import annotations

import functools
import weakref
from contextlib import contextmanager
from typing import Any, Callable, Union

from ..autograd import forward_ad
from ..autograd.engine import _discover, sums_of_wrapped_gradients
from ..autograd.function import transform
from ..autograd.functional import _autograd_grad
from ..autograd.graph import AccumulateGrad
from ..autograd.grad_mode import enable_grad, is_grad_enabled
from ..autograd.record import call, note_memory_follower, note_stand_in
from ..creation import zeros_like
from ..ops import layout
from ..tensor import Tensor
from ..storage import serial_now
from .batching import check_randomness, random_draws, vmap
from .pytree import tree_flatten, tree_map, tree_unflatten, treespec_pprint

argnums_t = Union[int, tuple[int, ...]]

__all__ = ["grad", "grad_and_value", "vjp", "jacrev", "jacfwd", "hessian", "jvp", "linearize"]

_JVP = "jvp(f, primals, tangents)"


# ---- arguments (torch's checks and words) ------------------------------------------------

def _wrap_argnum(argnum, num_args: int) -> int:
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if 0 <= argnum < num_args:
        return argnum
    if -num_args <= argnum < 0:
        return argnum + num_args
    raise RuntimeError(f"Got argnum={argnum}, but only {num_args} positional inputs")


def _wrap_argnums(args: tuple, argnums: argnums_t):
    """argnums made non-negative, after torch's checks."""
    if not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if isinstance(argnums, int):
        return _wrap_argnum(argnums, len(args))
    argnums = tuple(_wrap_argnum(a, len(args)) for a in argnums)
    if not argnums:
        raise RuntimeError("argnums must be non-empty")
    if len(set(argnums)) != len(argnums):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return argnums


def _slice_argnums(args: tuple, argnums: argnums_t | None):
    """The differentiated part of args: all of them (None), one, or a tuple."""
    if argnums is None:
        return args
    argnums = _wrap_argnums(args, argnums)
    if isinstance(argnums, int):
        return args[argnums]
    return tuple(args[i] for i in argnums)


def _replace_argnums(args: tuple, argnums: argnums_t | None, new) -> tuple:
    if argnums is None:
        return new
    argnums = _wrap_argnums(args, argnums)
    if isinstance(argnums, int):
        return args[:argnums] + (new,) + args[argnums + 1:]
    return tuple(new[argnums.index(i)] if i in argnums else a for i, a in enumerate(args))


# Fresh leaves made by transforms, and those of the transforms running now (a stack, with
# the storage serial each began at): a finished transform's leaves are no one's to
# differentiate, as a dead functorch level. (keyed by id: a Tensor's == is elementwise)
_MADE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_RUNNING: list[set[int]] = []
_STARTED: list[int] = []


def _fresh(x):
    if not isinstance(x, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    if x.requires_grad:  # an alias keeps x visible to whoever differentiates it (its
        # gradient passes as it comes, as no node stands between torch's wrapper and x)
        alias = call("alias", x)
        # (torch's wrapper is the base of the views the function takes of it: one made
        # anew after a write is made from the wrapper, so it still reaches it)
        alias._viewed, alias._view_of, alias._layout = None, None, x._layout
        note_memory_follower(x, alias)
        alias.__dict__["_shown_as"] = x  # (its errors name x, as the wrapper's name x)
        if x._grad_fn is not None:
            note_stand_in(x, alias)
        return alias
    leaf = forward_ad.ordinary(forward_ad.detached(x))._set_requires_grad()
    _MADE[id(leaf)] = leaf
    return leaf


@contextmanager
def _differentiable(args: tuple, argnums: argnums_t | None):
    """Yields (args with the differentiated ones fresh, those fresh tensors flat, their
    spec), counting the fresh leaves as running until the block ends."""
    flat, spec = tree_flatten(_slice_argnums(args, argnums))
    fresh = [_fresh(x) for x in flat]
    _RUNNING.append({id(x) for x in fresh})
    _STARTED.append(serial_now())
    try:
        yield _replace_argnums(args, argnums, tree_unflatten(fresh, spec)), fresh, spec
    finally:
        _RUNNING.pop()
        _STARTED.pop()


def _reaches_beyond(outputs, own) -> bool:
    """Does the outputs' graph reach a tensor requiring grad that someone outside
    differentiates: a user's leaf, or an enclosing running transform's fresh leaf? (A leaf
    the function made itself is of the transform's level: torch's result drops it.)"""
    own_ids = {id(t) for t in own}
    for t in own:  # (a sharded or replicated leaf's graph has its parts as leaves)
        if getattr(t, "_sharding", None) is not None:
            own_ids.update(id(p) for p in t._sharding.shards)
    running = set().union(*_RUNNING) - own_ids
    roots = [t._gradient_edge()[0] for t in outputs if isinstance(t, Tensor) and t.requires_grad]
    _, order = _discover([r for r in roots if r is not None])
    # An input that requires grad outside stands in as an alias (`_fresh`): reaching it is
    # reaching the caller's graph, wherever that ends (a node with no edges, too).
    aliases = {id(t._grad_fn) for t in own if t._grad_fn is not None}
    if any(id(n) in aliases for n in order):
        return True
    started = _STARTED[-1]

    def beyond(v) -> bool:
        if v is None:
            return True
        if id(v) in own_ids or (v._storage.memory or v._storage).serial >= started:
            return False
        return _MADE.get(id(v)) is not v or id(v) in running

    return any(isinstance(n, AccumulateGrad) and beyond(n.variable) or
               any(beyond(ref()) for ref in getattr(n, "_edgeless", ())) for n in order)


def _grads(outputs, inputs, cotangents=None, retain_graph=None, create_graph=False) -> list:
    """autograd.grad that gives zeros for an input the outputs do not depend on."""
    with sums_of_wrapped_gradients():
        got = _autograd_grad(tuple(outputs), tuple(inputs), cotangents,
                             create_graph=create_graph, retain_graph=retain_graph)
    return [zeros_like(x) if g is None else g for g, x in zip(got, inputs)]


def _unwrap(tree, keep: bool):
    """Tensors of a result as the caller's level sees them: detached unless kept."""
    def one(x):
        if not isinstance(x, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(x)}")
        return x if keep else forward_ad.detached(x)

    return tree_map(one, tree)


def _split_aux(out, has_aux: bool, api: str):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) "
                           "if has_aux is True")
    return out


def _check_tensor_outputs(flat: list, api: str) -> None:
    if (len(flat) == 1 and flat[0] is None) or len(flat) < 1:
        raise RuntimeError(f"{api}: Expected f to be a function that has non-empty output (got "
                           f"output = {flat})")
    for o in flat:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{api}: expected f(*primals) to return only tensors, got "
                               f"unsupported type {type(o)}")


def _check_tensor_list(flat: list, argname: str) -> None:
    if not flat:
        raise RuntimeError(f"{_JVP}: Expected {argname} to contain at least one Tensor.")
    for x in flat:
        if not isinstance(x, Tensor):
            raise RuntimeError(f"{_JVP}: Expected {argname} to only contain Tensors, got {type(x)}")


# ---- grad ---------------------------------------------------------------------------------

def grad_and_value(func: Callable, argnums: argnums_t = 0, has_aux: bool = False) -> Callable:
    """`func`'s gradient with respect to the arguments at `argnums` (any nesting of tuples,
    lists and dicts of tensors), and its value: `(grad, value)`, or `(grad, (value, aux))`
    with `has_aux`. `func` must return a scalar tensor.

        >>> g, v = grad_and_value(lambda x: (x ** 2).sum())(distgrad.tensor([1., 2.]))
        >>> g, v
        (tensor([2., 4.]), tensor(5.))
    """
    def wrapper(*args, **kwargs):
        outer = is_grad_enabled()
        with enable_grad(), _differentiable(args, argnums) as (args, fresh, spec):
            with transform("grad", tree_flatten((args, kwargs))[0]):
                output = func(*args, **kwargs)
            output, aux = _split_aux(output, has_aux, "grad_and_value(f)(*args)")
            if not isinstance(output, Tensor):
                raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a "
                                   f"Tensor, got {type(output)}")
            if output.dim() != 0:
                raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a scalar "
                                   f"Tensor, got tensor with {output.dim()} dims. Maybe you wanted "
                                   "to use the vjp or jacrev APIs instead?")
            keep = outer and _reaches_beyond([output], fresh)
            grads = _grads([output], fresh, create_graph=keep)
        result = (_unwrap(tree_unflatten(grads, spec), keep), _unwrap(output, keep))
        if has_aux:
            return result[0], (result[1], _unwrap(aux, keep))
        return result

    return functools.wraps(func)(wrapper)


def grad(func: Callable, argnums: argnums_t = 0, has_aux: bool = False) -> Callable:
    """`func`'s gradient with respect to the arguments at `argnums` (see `grad_and_value`);
    `(grad, aux)` with `has_aux`. Composes: `grad(grad(f))(x)` is f''(x).

        >>> grad(lambda x: x.sin().sum())(x)   # == x.cos()
    """
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return functools.wraps(func)(wrapper)


# ---- vjp, jacrev, jacfwd, hessian ---------------------------------------------------------

def _linearize(func, primals: tuple, argnums, has_aux: bool, api: str = "vjp(f, *primals)"):
    """Run func once for its vjps: (output, vjp_fn, aux, keep); output still attached."""
    outer = is_grad_enabled()
    with enable_grad(), _differentiable(primals, argnums) as (args, fresh, spec):
        with transform("grad", tree_flatten(args)[0]):
            output = func(*args)
        output, aux = _split_aux(output, has_aux, api)
        flat_out, out_spec = tree_flatten(output)
        _check_tensor_outputs(flat_out, api)
        for o in flat_out:
            if not o.dtype.is_floating_point:
                raise RuntimeError("vjp(f, ...): All outputs of f must be floating-point or "
                                   f"complex Tensors, got Tensor with dtype {o.dtype}")
        keep = outer and _reaches_beyond(flat_out, fresh)

    def vjp_fn(cotangents, retain_graph: bool = True, create_graph: bool | None = None):
        if create_graph is None:
            create_graph = is_grad_enabled() and keep
        flat_cot, cot_spec = tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree "
                               f"structure of outputs to the function. cotangents: "
                               f"{treespec_pprint(cot_spec)}, primal output: "
                               f"{treespec_pprint(out_spec)}")
        with enable_grad():
            grads = _grads(flat_out, fresh, flat_cot, retain_graph=retain_graph,
                           create_graph=create_graph)
        return tree_unflatten(grads, spec)

    return output, vjp_fn, aux, keep


def vjp(func: Callable, *primals, has_aux: bool = False):
    """`(func(*primals), vjp_fn)`, or with `has_aux` `(output, vjp_fn, aux)`; `vjp_fn(ct)`
    gives ct^T J for each primal (a tuple like `primals`), and may be called again.

        >>> out, vjp_fn = vjp(distgrad.sin, x)
        >>> vjp_fn(distgrad.ones_like(out))   # (x.cos(),)
    """
    output, vjp_fn, aux, keep = _linearize(func, primals, None, has_aux)
    if has_aux:
        return _unwrap(output, keep), vjp_fn, _unwrap(aux, keep)
    return _unwrap(output, keep), vjp_fn


def _basis(flat_out: list):
    """One-hot cotangents for every element of every output: per output a tensor of shape
    (total elements, *output.shape), each on its output's device."""
    from ..creation import eye

    total = sum(o.numel() for o in flat_out)
    rows, start = [], 0
    for o in flat_out:
        n = o.numel()
        rows.append(eye(total, dtype=o.dtype, device=o.device)[:, start:start + n]
                    .reshape((total,) + tuple(o.shape)))
        start += n
    return rows


def jacrev(func: Callable, argnums: argnums_t = 0, *, has_aux: bool = False,
           chunk_size: int | None = None, _preallocate_and_copy: bool = False,
           _inputs_outer: bool = False) -> Callable:
    """The Jacobian of `func` with respect to the arguments at `argnums`, by reverse mode
    (one vjp per output element, run by `vmap`). For each output, a structure like those
    arguments of tensors of shape output.shape + argument.shape; outputs nested as `func`'s.
    `chunk_size` is accepted (vmap here runs one element at a time anyway)."""
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    def wrapper(*args):
        output, vjp_fn, aux, keep = _linearize(func, args, argnums, has_aux)
        flat_out, out_spec = tree_flatten(output)
        flat_primals, primals_spec = tree_flatten(_slice_argnums(args, argnums))
        stacked = vmap(vjp_fn, chunk_size=chunk_size)(tree_unflatten(_basis(flat_out), out_spec))
        per_input = tree_flatten(stacked)[0]  # each (total elements, *primal.shape)
        per_output = []
        for o, start in zip(flat_out, _offsets(flat_out)):
            jac = [j[start:start + o.numel()].reshape(tuple(o.shape) + tuple(p.shape))
                   for j, p in zip(per_input, flat_primals)]
            if _inputs_outer:
                jac = [_inputs_outer_layout(b, o.ndim) for b in jac]
            jac = tree_unflatten(jac, primals_spec)
            per_output.append(jac)
        result = _unwrap(tree_unflatten(per_output, out_spec), keep)
        return (result, _unwrap(aux, keep)) if has_aux else result

    return functools.wraps(func)(wrapper)


def _inputs_outer_layout(block, out_ndim: int):
    """A Jacobian block (output dims, then input dims) laid out as torch's jacfwd makes it:
    its vmap over the input's elements puts them outermost in memory, moved to the end
    after and unflattened to the input's shape (a view: ViewBackward0, as torch's)."""
    if block.ndim == out_ndim or not out_ndim:
        return block
    flat = block.reshape(tuple(block.shape[:out_ndim]) + (-1,))
    return flat.movedim(-1, 0).contiguous().movedim(0, -1).view(block.shape)


def _offsets(flat_out: list) -> list:
    starts, n = [], 0
    for o in flat_out:
        starts.append(n)
        n += o.numel()
    return starts


def jacfwd(func: Callable, argnums: argnums_t = 0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable:
    """torch.func.jacfwd's API and values. distgrad has no forward-mode AD, so this is
    `jacrev` (reverse mode: one vjp per output element instead of one jvp per input
    element). With randomness="error" a random op in `func` raises, as in torch."""
    rev = jacrev(func, argnums, has_aux=has_aux, _inputs_outer=True)

    def wrapper(*args):
        check_randomness(randomness)
        # torch's forward mode copies each basis tangent into a tensor laid out as its
        # input: an expanded input's overlapping memory refuses the write
        for x in tree_flatten(_slice_argnums(args, argnums))[0]:
            if isinstance(x, Tensor) and x._has_internal_overlap():
                raise RuntimeError(layout.OVERLAPPING_WRITE)
        with random_draws(randomness):
            return rev(*args)

    return functools.wraps(func)(wrapper)


def hessian(func: Callable, argnums: argnums_t = 0) -> Callable:
    """The Hessian of `func` with respect to the arguments at `argnums`: `jacfwd(jacrev(f))`
    (reverse over reverse here, see `jacfwd`)."""
    return jacfwd(jacrev(func, argnums), argnums)


# ---- jvp ----------------------------------------------------------------------------------

def jvp(func: Callable, primals: Any, tangents: Any, *, strict: bool = False,
        has_aux: bool = False):
    """`(func(*primals), J @ tangents)`, or `(output, jvp_out, aux)` with `has_aux`.

    Forward mode (autograd.forward_ad); inside an open dual level, the double-vjp trick
    (two reverse passes), so there `func`'s backward must itself be differentiable."""
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{_JVP}: Expected primals to be a tuple. E.g. it should be valid to "
                           "call f(*primals).")
    flat_primals, primals_spec = tree_flatten(primals)
    flat_tangents, tangents_spec = tree_flatten(tangents)
    if primals_spec != tangents_spec:
        raise RuntimeError(f"{_JVP}: Expected primals and tangents to have the same python "
                           "structure. For example, if primals is a tuple of 3 tensors, tangents "
                           f"also must be. Got primals with structure {primals_spec} and tangents "
                           f"with structure {tangents_spec}")
    _check_tensor_list(flat_primals, "primals")
    _check_tensor_list(flat_tangents, "tangents")
    for p, t in zip(flat_primals, flat_tangents):
        if tuple(p.shape) != tuple(t.shape):
            raise RuntimeError("Trying to set a forward gradient that has a different size than "
                               "that of the original Tensor, this is not supported. Tensor is of "
                               f"size {list(p.shape)} while the given forward gradient is of size "
                               f"{list(t.shape)}.")
    if forward_ad._current_level < 0:
        return _jvp_forward(func, primals, flat_primals, flat_tangents, strict, has_aux)
    output, vjp_fn, aux, keep = _linearize(func, primals, None, has_aux, _JVP)
    flat_out, out_spec = tree_flatten(output)
    if strict and not any(o.requires_grad for o in flat_out):
        raise RuntimeError("jvp(f, primals, tangents, strict=True): The output of f is "
                           "independent of the inputs. This is not allowed with strict=True.")
    with enable_grad():
        # vjp_fn is linear in its cotangent u, so d(vjp_fn(u) . t)/du = J t whatever u is.
        u = [zeros_like(o, requires_grad=True) for o in flat_out]
        flat_vjp = tree_flatten(vjp_fn(tree_unflatten(u, out_spec), create_graph=True))[0]
        tangents_out = _grads(flat_vjp, u, tuple(flat_tangents), create_graph=keep)
    result = (_unwrap(output, keep), _unwrap(tree_unflatten(tangents_out, out_spec), keep))
    return result + (_unwrap(aux, keep),) if has_aux else result


def linearize(func: Callable, *primals):
    """`(func(*primals), jvp_fn)`: `jvp_fn(*tangents)` is `func`'s jvp at `primals`.

    torch traces func's jvp once into a graph; here jvp_fn runs `jvp` at the same
    primals (the same values; func's Python runs again per call)."""
    output = func(*primals)
    flat_primals, primals_spec = tree_flatten(primals)

    def jvp_fn(*tangents):
        flat_tangents, tangents_spec = tree_flatten(tangents)
        if tangents_spec != primals_spec:
            raise RuntimeError(f"Expected the tangents {tangents_spec} to have the same argspec "
                               f"as the primals {primals_spec}")
        for idx, (p, t) in enumerate(zip(flat_primals, flat_tangents)):
            for what in ("shape", "device", "dtype"):
                if getattr(t, what) != getattr(p, what):
                    raise RuntimeError(
                        f"tangent:{idx} with {what} {getattr(t, what)} in flattened pytree "
                        f"doesn't match the {what} {getattr(p, what)} of the corresponding "
                        "primal.")
        return jvp(func, primals, tangents)[1]

    return output, jvp_fn


def _jvp_forward(func, primals, flat_primals, flat_tangents, strict: bool, has_aux: bool):
    """jvp by forward mode: func on the primals made dual, in a level of its own."""
    _, spec = tree_flatten(primals)
    keep = is_grad_enabled() and any(t.requires_grad for t in flat_primals + flat_tangents)
    with forward_ad.dual_level(), transform("jvp", flat_primals + flat_tangents):
        # (an inference tensor wrapped in an ordinary one, as torch's transforms do)
        duals = [forward_ad.make_dual(forward_ad.ordinary(p), t)
                 for p, t in zip(flat_primals, flat_tangents)]
        output, aux = _split_aux(func(*tree_unflatten(duals, spec)), has_aux, _JVP)
        flat_out, out_spec = tree_flatten(output)
        _check_tensor_outputs(flat_out, _JVP)
        unpacked = [forward_ad.aliased_primal(o) for o in flat_out]
    if strict and all(u.tangent is None for u in unpacked):
        raise RuntimeError("jvp(f, primals, tangents, strict=True): The output of f is "
                           "independent of the inputs. This is not allowed with strict=True.")
    tangents_out = [zeros_like(o) if u.tangent is None else u.tangent
                    for u, o in zip(unpacked, flat_out)]
    result = (_unwrap(tree_unflatten([u.primal for u in unpacked], out_spec), keep),
              _unwrap(tree_unflatten(tangents_out, out_spec), keep))
    return result + (_unwrap(aux, keep),) if has_aux else result
