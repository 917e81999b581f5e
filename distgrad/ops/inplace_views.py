"""In-place shape ops (`t_`, `transpose_`, `swapdims_`, `unsqueeze_`, `squeeze_`,
`as_strided_`): the tensor itself takes the view's shape and strides.

torch records them as in-place ops on the tensor: its version goes up, its grad_fn becomes
the view's node under the in-place overload's name (TBackward1, SqueezeBackward3, ...),
and a leaf that requires grad refuses them. Each is the out-of-place view computed from a
handle on the tensor as it was, whose metadata and history the tensor then takes.
"""
from __future__ import annotations

from ..autograd import grad_mode
from ..autograd.record import call
from ..tensor import Tensor
from .rules import wrap_dim
from .table import OPS, defop
from .views import placed_in


def _in_place_row(view_op: str, node) -> str:
    """A row like the view op's (same forward, rule, VJP, layout) named as torch names the
    in-place overload's node."""
    row = OPS[view_op]
    name = view_op + "_"
    defop(name, row.forward, row.shape, row.vjp, node=node, view=True, strides=row.strides)
    return name


def _squeeze_name(inputs, attrs) -> str:
    dim = attrs.get("dim")
    return "SqueezeBackward3" if dim is None else (
        "SqueezeBackward4" if isinstance(dim, int) else "SqueezeBackward5")


_T = _in_place_row("t", "TBackward1")
_TRANSPOSE = _in_place_row("transpose", "TransposeBackward1")
_UNSQUEEZE = _in_place_row("unsqueeze", "UnsqueezeBackward1")
_SQUEEZE = _in_place_row("squeeze", _squeeze_name)
_AS_STRIDED = _in_place_row("as_strided", "AsStridedBackward1")

_FIELDS = [s for s in Tensor.__slots__ if s not in ("__weakref__", "__dict__")]


def _handle(t: Tensor) -> Tensor:
    """A second Tensor object that is `t` as it is now (metadata, history, view chain)."""
    old = object.__new__(Tensor)
    for f in _FIELDS:
        setattr(old, f, getattr(t, f))
    old.__dict__.update(t.__dict__)
    return old


def _check(self: Tensor, op: str) -> None:
    self._check_write_to_stale_view()
    if (self._base is not None and self._requires_grad and self._grad_fn is None
            and grad_mode.is_grad_enabled()):
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")
    self._check_inplace(overlap_ok=True)
    if self._storage.runs_ops and (self._sharding is None or op == _AS_STRIDED):
        raise NotImplementedError(f"{op} of a {'sharded' if self._sharding else 'remote'} "
                                  f"tensor is not supported; use the out-of-place "
                                  f"{op.rstrip('_')}")


def _restride(self: Tensor, op: str, of_base: bool = False, **attrs) -> Tensor:
    """self takes the shape, strides and history of the view `op` makes of it (of its
    base, `of_base`: as_strided's layout is the base's memory's)."""
    _check(self, op)
    old = _handle(self)
    if self._sharding is not None:
        new = _sharded_restride(self, old, op, attrs)
    else:
        new = call(op, self._base if of_base and self._base is not None else old, **attrs)
    self._value, self.shape, self._layout = new._value, new.shape, new._layout
    if self._base is not None:  # still a view of the same base, one step further
        self._view_of = new._view_of
    if new._requires_grad:
        self._requires_grad = True
        self._grad_fn, self._output_nr = new._grad_fn, new._output_nr
    self._count_write()
    self._view_version = self._storage.version
    return self


def _sharded_restride(self: Tensor, old: Tensor, op: str, attrs: dict) -> Tensor:
    """The view of a sharded tensor by the out-of-place op's sharding rule (its parts are
    views of self's), under the in-place op's node name; self takes its parts, which were
    written: what an op saved of self's is stale, as in torch."""
    new = call(op[:-1], old, **attrs)
    if new._grad_fn is not None:
        new._grad_fn._name = OPS[op].node_name([old], attrs)
    self._sharding = new._sharding.held_by(self)
    for part in self._sharding.shards:
        if part is not None:
            part._storage.wrote()
            part._view_version = part._storage.version  # (its history is this op's)
    return new


def t_(self):
    if self.ndim > 2:
        raise RuntimeError(f"t_() expects a tensor with <= 2 dimensions, but self is "
                           f"{self.ndim}D")
    return _restride(self, _T)


def transpose_(self, dim0, dim1):
    return _restride(self, _TRANSPOSE, dim0=dim0, dim1=dim1)


def unsqueeze_(self, dim):
    wrap_dim(dim, self.ndim + 1)
    return _restride(self, _UNSQUEEZE, dim=dim)


def squeeze_(self, dim=None):
    if dim is None:
        return _restride(self, _SQUEEZE)
    return _restride(self, _SQUEEZE, dim=list(dim) if isinstance(dim, (tuple, list)) else dim)


def as_strided_(self, size, stride, storage_offset=None):
    base = self if self._base is None else self._base
    offset = self.storage_offset() if storage_offset is None else int(storage_offset)
    return _restride(self, _AS_STRIDED, of_base=True, **placed_in(
        base, [int(n) for n in size], [int(n) for n in stride], offset))


METHODS = dict(t_=t_, transpose_=transpose_, swapdims_=transpose_, swapaxes_=transpose_,
               unsqueeze_=unsqueeze_, squeeze_=squeeze_, as_strided_=as_strided_)
