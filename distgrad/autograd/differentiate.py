"""`backward()` and `grad()`: torch's checks of their arguments, the roots and the inputs'
gradient edges, then one run of the engine. Below the Tensor class: it knows tensors only by
what they have (`_storage`, `_gradient_edge()`), so tensor.py can call it."""
from __future__ import annotations

import warnings

from .. import storage
from . import anomaly_mode, engine
from .edges import GradientEdge
from .record import call, flush_remote


def _as_tuple(x):
    if x is None:
        return ()
    if hasattr(x, "_storage") or isinstance(x, GradientEdge):
        return (x,)
    if type(x) is dict:
        return tuple(x.values())
    return tuple(x)


def _check_grad_shapes(outputs, grads) -> None:
    """torch's check of each given gradient's shape against its output's."""
    for i, (t, g) in enumerate(zip(outputs, grads)):
        if hasattr(g, "_storage") and tuple(g.shape) != tuple(t.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                               f"{g.shape!r} and output[{i}] has a shape of {t.shape!r}.")


def _check_grad_count(outputs, grads) -> None:
    if len(outputs) != len(grads):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grads)} gradients")


def _make_root_grads(outputs, grads):
    """torch's _make_grads: check given gradients, make ones for scalar outputs."""
    _check_grad_shapes(outputs, grads)
    out = []
    for i, (t, g) in enumerate(zip(outputs, grads)):
        if hasattr(g, "_storage"):
            if g.dtype is not t.dtype:
                g = g.to(t.dtype)
            if g.device_str != t.device_str:
                g = g.to(t.device_str)
        elif g is None:
            if t.requires_grad:
                if t.numel() != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                if not t.dtype.is_floating_point:
                    raise RuntimeError("grad can be implicitly created only for real scalar outputs "
                                       f"but got {t.dtype!r}")
                g = call("full", shape=list(t.shape), value=1.0, dtype=t.dtype.name,
                         _device=t.device_str)
        else:
            raise TypeError(f"gradients can be either Tensors or None, but got {type(g).__name__}")
        out.append(g)
    return out


def _roots(outputs, grads):
    """The engine's roots: (gradient edge, grad) per output, with torch's checks."""
    _check_grad_count(outputs, grads)
    roots = []
    for i, (t, g) in enumerate(zip(outputs, grads)):
        # As torch, the output's gradient edge must lead somewhere: to its history (a view's
        # made anew when its base was written since), or to a leaf's accumulator (none for
        # a tensor that does not require grad, nor for a view made under no_grad).
        edge = t._gradient_edge() if t.grad_fn is not None or t._requires_grad else (None, 0)
        if edge[0] is None:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a "
                               "grad_fn")
        if g is None:
            raise RuntimeError(f"element {i} of gradients tuple is None, but the corresponding "
                               "Tensor requires grad")
        roots.append((edge, g))
    return roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None,
             inputs=None) -> None:
    """Accumulate d(tensors)/d(leaves) into the leaves' `.grad` (torch.autograd.backward).

    >>> x = distgrad.ones(2, requires_grad=True)
    >>> distgrad.autograd.backward((x * 3).sum()); x.grad
    tensor([3., 3.])
    """
    if grad_variables is not None:
        warnings.warn("`grad_variables` is deprecated. Use `grad_tensors` instead.", FutureWarning,
                      stacklevel=2)
        if grad_tensors is not None:
            raise RuntimeError("`grad_tensors` and `grad_variables` (deprecated) arguments both "
                               "passed to `backward()`. Please only use `grad_tensors`.")
        grad_tensors = grad_variables
    outputs = _as_tuple(tensors)
    edges = None
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    grads = ((None,) * len(outputs) if grad_tensors is None
             else (grad_tensors,) if hasattr(grad_tensors, "_storage") else tuple(grad_tensors))
    outputs, grads = _expand_sharded_outputs(outputs, grads)
    if inputs is not None:
        inputs, _ = _expand_sharded_inputs(inputs)
    grads = _make_root_grads(outputs, grads)
    if retain_graph is None:
        retain_graph = create_graph
    roots = _roots(outputs, grads)
    if create_graph:
        _warn_create_graph_once()
    if inputs is not None:
        edges = []
        for t in inputs:
            t.retain_grad()  # a non-leaf input gets its .grad as torch gives it: retain_grad
            if not t.requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            edges.append(t._gradient_edge())
    _run(roots, retain_graph, create_graph, edges, capture=False)


_warned_create_graph = []


def _warn_create_graph_once() -> None:
    if not _warned_create_graph:  # torch warns once per process
        _warned_create_graph.append(True)
        warnings.warn(
            "Using backward() with create_graph=True will create a reference cycle between the "
            "parameter and its gradient which can cause a memory leak. We recommend using "
            "autograd.grad when creating the graph to avoid this. If you have to use this "
            "function, make sure to reset the .grad fields of your parameters to None after use "
            "to break the cycle and avoid the leak.", UserWarning, stacklevel=3)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """d(outputs)/d(inputs), returned rather than accumulated (torch.autograd.grad).

    >>> x = distgrad.tensor([1., 2.], requires_grad=True)
    >>> distgrad.autograd.grad((x * x).sum(), x)
    (tensor([2., 4.]),)
    """
    keys = list(inputs.keys()) if type(inputs) is dict else None
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if not inputs:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    if allow_unused is None:
        allow_unused = materialize_grads
    if not allow_unused and materialize_grads:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    grads = ((None,) * len(outputs) if grad_outputs is None
             else (grad_outputs,) if hasattr(grad_outputs, "_storage") else tuple(grad_outputs))
    if is_grads_batched:
        result = _grad_batched(outputs, inputs, grads, retain_graph, create_graph,
                               allow_unused, materialize_grads)
        return dict(zip(keys, result)) if keys is not None else result
    outputs, grads = _expand_sharded_outputs(outputs, grads)
    wanted = inputs
    inputs, rebuild_sharded = _expand_sharded_inputs(inputs)
    grads = _make_root_grads(outputs, grads)
    if retain_graph is None:
        retain_graph = create_graph
    roots = _roots(outputs, grads)
    edges = []
    for t in inputs:
        if isinstance(t, GradientEdge):  # (the gradient flowing into that node's input)
            edges.append((t.node, t.output_nr))
            continue
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        edges.append(t._gradient_edge())
    result = _run(roots, retain_graph, create_graph, edges, capture=True)
    if rebuild_sharded is not None:  # a sharded input's parts, whole again
        result = rebuild_sharded(result)
    for k, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(f"The differentiated Tensor at index {k} appears to not have been "
                               "used in the graph. Set allow_unused=True if this is the desired "
                               "behavior.")
    if materialize_grads:
        if any(g is None and isinstance(t, GradientEdge) for g, t in zip(result, wanted)):
            raise RuntimeError("materialize_grads cannot be used when the given input is a "
                               "GradientEdge")
        result = [g if g is not None else _zeros_like(t)._set_requires_grad(bool(create_graph))
                  for g, t in zip(result, wanted)]
    if keys is not None:
        return dict(zip(keys, result))
    return tuple(result)


def _grad_batched(outputs, inputs, grads, retain_graph, create_graph, allow_unused,
                  materialize_grads):
    """grad(..., is_grads_batched=True): dim 0 of each grad_output is a batch of vectors; one
    backward per batch entry (the graph kept until the last), results stacked on a new dim 0,
    as torch's vmap over the VJP gives them; torch's checks and messages."""
    for i, (t, g) in enumerate(zip(outputs, grads)):
        if hasattr(g, "_storage"):
            if g.ndim == 0:
                raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python "
                                 "or `tensor.item<T>()` in C++ to convert a 0-dim tensor to a "
                                 "number")
            if tuple(g.shape[1:]) != tuple(t.shape):
                # (torch's message drops the batch dim twice: it prints g.shape[2:])
                raise RuntimeError(
                    "If `is_grads_batched=True`, we interpret the first dimension of each "
                    "grad_output as the batch dimension. The sizes of the remaining dimensions "
                    "are expected to match the shape of corresponding output, but a mismatch was "
                    f"detected: grad_output[{i}] has a shape of {type(g.shape)(g.shape[2:])!r} "
                    f"and output[{i}] has a shape of {t.shape!r}. If you only want some tensors in "
                    "`grad_output` to be considered batched, consider using vmap.")
    made = [g if hasattr(g, "_storage") else _make_root_grads([t], [g])[0]  # (ones for a scalar)
            for t, g in zip(outputs, grads)]
    for g in made:
        if g is not None and g.ndim == 0:
            raise ValueError("vmap(vjp, in_dims=0, ...)(<inputs>): Got in_dim=0 for some input, "
                             "but that input is a Tensor of dimensionality 0 so expected in_dim "
                             "to satisfy 0 <= in_dim < 0.")
    sizes = [g.shape[0] for g in made if g is not None]
    if any(n != sizes[0] for n in sizes):
        raise ValueError("vmap: Expected all tensors to have the same size in the mapped "
                         f"dimension, got sizes {sizes} for the mapped dimension")
    if retain_graph is None:
        retain_graph = create_graph
    per_entry = []
    with anomaly_mode.batched_backward():
        for b in range(sizes[0] if sizes else 0):
            last = b == sizes[0] - 1
            per_entry.append(grad(outputs, inputs, [None if g is None else g[b] for g in made],
                                  retain_graph=retain_graph if last else True,
                                  create_graph=create_graph, allow_unused=allow_unused))
    result = []
    for k, t in enumerate(inputs):
        column = [entry[k] for entry in per_entry]
        if any(g is None for g in column):  # (unused: None, or torch's unbatched zeros)
            result.append(_zeros_like(t)._set_requires_grad(bool(create_graph)) if materialize_grads
                          else None)
        else:
            result.append(call("stack", *column, dim=0))
    return tuple(result)


def _expand_sharded_outputs(outputs, grads):
    """Sharded tensors in a backward stand for their shards, and hooks on sharded tensors
    get their whole gradient (distgrad.distributed.sharding, once something loaded it).
    The gradients are checked against the whole outputs first, as torch checks them."""
    expander = storage.backward_expander()
    if expander is None:
        return outputs, grads
    _check_grad_shapes(outputs, grads)
    _check_grad_count(outputs, grads)
    return expander.expand_outputs(outputs, grads)


def _expand_sharded_inputs(inputs):
    expander = storage.backward_expander()
    if expander is None or not any(_is_made_of_parts(t) for t in inputs):
        return inputs, None
    return expander.expand_inputs(inputs)


def _is_made_of_parts(t) -> bool:
    if isinstance(t, GradientEdge):  # (the edge of a node that stands for its parts')
        return hasattr(t.node, "sharding")
    return getattr(t, "_storage", None) is not None and t._storage.runs_ops


def _zeros_like(t):
    """torch's zeros_like(t): laid out as t is when its elements fill a block of memory (a
    transposed input's zeros are transposed too), placed as t is (part by part when
    sharded)."""
    from ..creation import zeros_like

    return t._storage.make_like(t, zeros_like)


# Backward passes run so far: distgrad.compile tells a whole step (which runs its own)
# from a forward whose caller differentiates what it returns.
passes = 0


def _run(roots, retain_graph, create_graph, edges, capture):
    global passes
    passes += 1
    try:
        return engine.execute(roots, retain_graph, create_graph, edges, capture)
    finally:
        flush_remote(eager_only=True)  # big runs start now, while the driver goes on
