"""(log_)softmax over the sharded dim of a sharded tensor, with torch's node for it.

The values are x - logsumexp(x) (then exp for softmax): logsumexp combines each worker's
partial [..., 1] result, so the rows are never gathered. The history is one node for the
whole result (`SoftmaxOverShards`) whose backward is torch's formula on the saved result,
computed with sharded ops. That is what a second-order pass needs: torch's
SoftmaxBackward0 and LogSoftmaxBackward0 read their output, so the gradient of their
gradient flows back into the result, where the result's hooks and retained grad see it.
(The same ops recorded one by one give the inputs the same gradients, but send that part
through logsumexp's intermediates instead.)
"""
from __future__ import annotations

from .. import dtypes
from ..autograd import grad_mode, graph, saved_hooks
from ..ops.rules import wrap_dim
from . import replicas
from .sharding import RULES, Shard, _wrap, is_sharded, placed_like


def class_softmax(name, inputs, attrs):
    x = inputs[0]
    p = x._sharding.placement if is_sharded(x) else None
    if not isinstance(p, Shard) or wrap_dim(attrs["dim"], x.ndim) != p.dim:
        return RULES["softmax"](name, inputs, attrs)
    if attrs.get("dtype") is not None:
        return NotImplemented
    with grad_mode.no_grad():
        wide = _wide(x)
        out = wide - wide.logsumexp(p.dim, keepdim=True)
        y = (out.exp() if name == "softmax" else out).to(x.dtype)
    if not (grad_mode.is_grad_enabled() and x._requires_grad):
        return y
    return SoftmaxOverShards.result(name, p.dim, x, y.shards, y._sharding.workers)


def _wide(t):
    """t in float32 if it is float16 or bfloat16: torch's (log_)softmax kernels and their
    backward accumulate those in float32 and round once, at the end."""
    return t.float() if t.dtype in dtypes.LOW_FLOATS else t


class SoftmaxOverShards(graph.NodeHooks):
    """The node of a sharded (log_)softmax over the sharded dim: output k is shard k of the
    result, input k shard k of x. It runs in the driver, on the whole sharded gradient."""

    def __init__(self, of: str, dim: int, x, parts, workers):
        self._name = "SoftmaxBackward0" if of == "softmax" else "LogSoftmaxBackward0"
        self.of, self.dim = of, dim
        self._seq = next(graph._sequence)
        self.next_functions = tuple(s._gradient_edge() if s is not None and s._requires_grad
                                    else (None, 0) for s in x._sharding.shards)
        self.n_outputs = len(parts)
        self._tensor_pre_hooks = self._retain_grad = self._pre_hooks = self._hooks = None
        for k, part in enumerate(parts):
            part._requires_grad, part._grad_fn, part._output_nr = True, self, k
        self.placement, self.workers = Shard(dim), list(workers)
        shape = list(parts[0].shape)
        shape[dim] = sum(part.shape[dim] for part in parts)
        self.shape, self.dtype = tuple(shape), parts[0].dtype
        # The result, kept without its history (which is this node) as torch keeps it; with
        # saved-tensor hooks, each part goes through them.
        self._saved = [graph.SavedTensor(part, is_output=True, output_nr=k)
                       for k, part in enumerate(parts)]
        hooks = saved_hooks.current()
        if hooks is not None:
            for saved, part in zip(self._saved, parts):
                saved.pack(hooks, part)
        self._freed = False

    @classmethod
    def result(cls, of: str, dim: int, x, parts, workers):
        """The sharded result over `parts`, its history a new node. The node keeps the
        parts only as saved tensors, which a backward releases: the result's graph then
        holds no memory of it, as torch's does not."""
        cls(of, dim, x, parts, workers)
        return _wrap(Shard(dim), parts, workers)

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"

    def has_saved(self) -> bool:  # (until a backward through it releases the result)
        return self._saved is not None

    def release(self) -> None:
        self._saved, self._freed = None, True

    def apply(self, grads):
        y = self._result()
        parts = y._sharding.shards
        g = _wrap(self.placement, [g if g is not None else replicas.zeros_like(p)
                                   for g, p in zip(grads, parts)], self.workers)
        y, g = _wide(y), _wide(g)
        if self.of == "softmax":
            dx = y * (g - (g * y).sum(self.dim, keepdim=True))
        else:
            dx = g - y.exp() * g.sum(self.dim, keepdim=True)
        return list(placed_like(dx.to(self.dtype), y._sharding).shards)

    def _result(self):
        """The saved result, its parts' history this node (torch's SavedVariable of an
        output); torch's error if it was freed or written in place since."""
        if self._freed:
            raise RuntimeError(graph.FREED)
        for saved in self._saved:
            stale = saved._stale_versions() if saved.hooks is None else None
            if stale is not None:
                raise graph.modified_error(self.dtype, self.shape, self, 0, stale)
        return _wrap(self.placement, [s.unpack(self) for s in self._saved], self.workers)


graph.Node.register(SoftmaxOverShards)
