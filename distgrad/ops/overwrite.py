"""In-place writes that replace a tensor's values (fill_, zero_, copy_).

They are ops of their own, with the old values as input 0, so that writing them in place
cuts the old history as torch does: the old values get a zero gradient (not none), and a
copied source gets the gradient of what it became.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.record import call
from .rules import broadcast_shapes, number_as, numel, unbroadcast, zeros_grad
from . import views
from .table import Meta, defop


def _zeros_like(g):
    return zeros_grad(g.shape, g.dtype, g.device_str)


def _keep(x, *_, **__):
    return Meta(x.shape, x.dtype)


def fill_rule(x, value):
    if not hasattr(value, "shape"):  # (a number; a tensor's value is cast)
        check_fill_value(value, x.dtype, x.shape)
    return Meta(x.shape, x.dtype)


def check_fill_value(value, d: dtypes.dtype, shape) -> None:
    """torch's fill_ checks its number fits the dtype, but for one element of a 2-byte float
    (its one-element path converts through a float: 1e6 is inf)."""
    if not (d in dtypes.LOW_FLOATS and numel(shape) == 1):
        dtypes.check_scalar_fits(value, d)


def filled(x, value):
    return np.full(x.shape, number_as(value, x.dtype), x.dtype)


def fill_vjp(c, g):
    return _zeros_like(g) if c.needs[0] else None, g.sum() if c.needs[1] else None


# (torch.fill, out of place, is more_functions.py's fill_new: the same row, other node names)
defop("fill", filled, fill_rule, fill_vjp,
      node=lambda inputs, attrs: "FillBackward3" if hasattr(inputs[1], "_storage") else "FillBackward2",
      number_edges=False, sharding="elementwise")
defop("zero", np.zeros_like, _keep, lambda c, g: _zeros_like(g), node="ZeroBackward0",
      sharding="elementwise")


def _copy_rule(x, src):
    if hasattr(src, "shape"):  # a number copies as a 0-dim tensor
        # torch's TensorIterator broadcasts src with self, and the result must be self's shape
        shape = broadcast_shapes(tuple(x.shape), tuple(src.shape))
        if tuple(shape) != tuple(x.shape):
            raise RuntimeError(f"output with shape {list(x.shape)} doesn't match the broadcast "
                               f"shape {list(shape)}")
    return Meta(x.shape, x.dtype)


def _copy_vjp(c, g):
    grad_src = None
    if c.needs[1]:  # (in src's dtype, then summed over what was broadcast: torch's order)
        grad_src = unbroadcast(g.to(c.dtypes[1]) if c.dtypes[1] is not g.dtype else g,
                               c.shapes[1])
    return _zeros_like(g) if c.needs[0] else None, grad_src


defop("copy", lambda x, src: np.broadcast_to(src, x.shape).astype(x.dtype), _copy_rule, _copy_vjp,
      node="torch::autograd::CopyBackwards", sharding="elementwise")


# ---- resize_: a new shape over the same values in memory order -------------------------------

def _resize(x, shape):
    """The first elements of x in memory order, row-major in `shape`; zeros past x's end
    (torch leaves those uninitialized)."""
    flat = np.ravel(x, order="K")
    out = np.zeros(int(np.prod(shape, dtype=np.int64)), x.dtype)
    n = min(out.size, flat.size)
    out[:n] = flat[:n]
    return out.reshape(shape)


defop("resize", _resize, lambda x, shape: Meta(shape, x.dtype))


def resize_(self, *size, memory_format=None):
    """torch's Tensor.resize_: refused for a tensor that requires grad; else self takes the
    new shape (row-major), keeping its leading elements, and a new version if it changed."""
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    if self._storage.runs_ops:  # (its parts would each need a new shape: not done)
        raise NotImplementedError(f"resize_ of a {'sharded' if self._sharding else 'remote'} "
                                  "tensor is not supported; use .full_tensor() first")
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if len(size) == 1 and not isinstance(size[0], int) and not hasattr(size[0], "_storage"):
        raise TypeError(f"resize_(): argument 'size' (position 1) must be tuple of ints, not "
                        f"{type(size[0]).__name__}")
    for k, s in enumerate(size):
        if not isinstance(s, int) and not hasattr(s, "_storage"):
            raise TypeError(f"resize_(): argument 'size' failed to unpack the object at pos "
                            f"{k + 1} with error \"type must be tuple of ints,but got "
                            f"{type(s).__name__}\"")
    shape = [int(s) for s in size]
    if any(s < 0 for s in shape):
        raise RuntimeError("numel: integer multiplication overflow")
    if tuple(shape) == tuple(self.shape):
        return self
    if resize_in_memory(self, shape):
        self._count_write()
        return self
    resized = call("resize", self, shape=list(shape))
    self._value, self.shape, self._layout = resized._value, resized.shape, None
    self._viewed = self._view_of = None  # (a view's new shape is no longer its parent's view)
    self._count_write()
    return self


def resize_in_memory(t, shape, strides=None) -> bool:
    """t resized to `shape` (laid out by `strides`, or row-major) in the memory it views,
    when its storage can (`resized_in_memory`); a view stays its base's view there."""
    if not t._storage.resized_in_memory(t, shape, strides):
        return False
    t._count_relayout()
    if t._viewed is not None:  # (its view ops no longer make it: it is replayed, and
        # written through, by its place in the base's memory, as torch's AsStrided)
        t._view_of = (t._viewed, "as_strided", views.place_of(t), 0)
    return True


def resize_as_(self, the_template, memory_format=None):
    if not hasattr(the_template, "_storage"):
        raise TypeError(f"resize_as_(): argument 'the_template' (position 1) must be Tensor, not "
                        f"{type(the_template).__name__}")
    return resize_(self, tuple(the_template.shape))


METHODS = dict(resize_=resize_, resize_as_=resize_as_)
