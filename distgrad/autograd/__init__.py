"""distgrad.autograd: `backward`, `grad`, `Function`, `gradcheck`, `functional` — torch's API."""
from __future__ import annotations

from . import engine, grad_mode
from .grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled


def _as_tuple(x):
    if x is None:
        return ()
    if isinstance(x, (tuple, list)):
        return tuple(x)
    return (x,)


def _make_root_grads(outputs, grads):
    from ..tensor import Tensor
    from ..ops.rules import broadcast_shapes

    out = []
    for i, (t, g) in enumerate(zip(outputs, grads)):
        if g is None:
            if t._requires_grad:
                if t.numel() != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                if not t.dtype.is_floating_point:
                    raise RuntimeError("grad can be implicitly created only for real scalar outputs "
                                       f"but got {t.dtype!r}")
                from ..autograd.record import call

                g = call("full", shape=list(t.shape), value=1.0, dtype=t.dtype.name,
                         _device=t.device_str)
        else:
            if not isinstance(g, Tensor):
                from ..creation import tensor

                g = tensor(g, dtype=t.dtype)
            if tuple(g.shape) != tuple(t.shape):
                try:
                    ok = broadcast_shapes(g.shape, t.shape) == tuple(t.shape) and g.numel() == 1
                except RuntimeError:
                    ok = False
                if not ok:
                    raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                       f"{g.shape!r} and output[{i}] has a shape of {t.shape!r}.")
                g = g.expand(t.shape)
            if g.device_str != t.device_str:
                g = g.to(t.device_str)
        out.append(g)
    return out


def _roots(outputs, grads):
    roots = []
    for i, (t, g) in enumerate(zip(outputs, grads)):
        if not t._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a "
                               "grad_fn")
        roots.append((t._gradient_edge(), g))
    return roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None,
             inputs=None):
    """Accumulate d(tensors)/d(leaves) into the leaves' `.grad` (torch.autograd.backward)."""
    outputs = _as_tuple(tensors)
    grads = _as_tuple(grad_tensors if grad_tensors is not None else grad_variables)
    if not grads:
        grads = (None,) * len(outputs)
    if len(grads) != len(outputs):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grads)} gradients")
    if retain_graph is None:
        retain_graph = create_graph
    targets = None
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        targets = {}
        for t in inputs:
            if not t._requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            targets[t._gradient_edge()] = t
    grads = _make_root_grads(outputs, grads)
    roots = _roots(outputs, grads)
    _run(roots, retain_graph, create_graph, targets, accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """d(outputs)/d(inputs), returned rather than accumulated (torch.autograd.grad)."""
    outputs = _as_tuple(outputs)
    single_input = not isinstance(inputs, (tuple, list))
    inputs = _as_tuple(inputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    if not allow_unused and materialize_grads:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    grads = _as_tuple(grad_outputs) or (None,) * len(outputs)
    if len(grads) != len(outputs):
        raise RuntimeError(f"grad_outputs has {len(grads)} entries but outputs has {len(outputs)}")
    if retain_graph is None:
        retain_graph = create_graph
    targets = {}
    for k, t in enumerate(inputs):
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        targets.setdefault(t._gradient_edge(), k)
    grads = _make_root_grads(outputs, grads)
    roots = _roots(outputs, grads)
    captured = _run(roots, retain_graph, create_graph, targets, accumulate=False)
    result = []
    for k, t in enumerate(inputs):
        g = captured.get(targets[t._gradient_edge()])
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                                   "in the graph. Set allow_unused=True if this is the desired "
                                   "behavior.")
            if materialize_grads:
                from ..creation import zeros_like

                g = zeros_like(t)
        result.append(g)
    return tuple(result)


def _run(roots, retain_graph, create_graph, targets, accumulate):
    from .record import flush_remote

    try:
        return engine.execute(roots, retain_graph, create_graph, targets, accumulate)
    finally:
        flush_remote()  # workers compute the queued VJPs while the driver goes on


def __getattr__(name):
    # Heavier pieces load on first use.
    if name == "Function":
        from .function import Function

        return Function
    if name in ("gradcheck", "gradgradcheck"):
        import importlib

        _gc = importlib.import_module(".gradcheck", __name__)
        # The function shadows its module, as in torch (the import bound the module here).
        globals().update(gradcheck=_gc.gradcheck, gradgradcheck=_gc.gradgradcheck)
        return getattr(_gc, name)
    if name == "functional":
        from . import functional

        return functional
    raise AttributeError(name)


__all__ = ["backward", "grad", "Function", "gradcheck", "functional", "no_grad", "enable_grad",
           "set_grad_enabled", "inference_mode", "grad_mode", "engine"]
