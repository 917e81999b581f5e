"""Tensor.unfold(dimension, size, step): every window of `size` places along `dimension`,
`step` apart, as a view (a new last dim runs within a window). Windows overlap when
step < size; the gradient of a place is then the sum over the windows that hold it
(unfold_backward, whose own derivative is unfold again).
"""
from __future__ import annotations

import numpy as np

from ..autograd.record import call
from . import layout
from .rules import wrap_dim
from .table import Meta, defop


def _unfolded_shape(shape, dimension, size, step) -> tuple:
    """The view's shape, with torch's checks (a 0-dim tensor has one place along dim 0)."""
    d = wrap_dim(dimension, len(shape))
    length = shape[d] if shape else 1
    if size > length:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {length} but size is "
                           f"{size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if not shape:
        return (size,)
    return tuple(shape[:d]) + ((length - size) // step + 1,) + tuple(shape[d + 1:]) + (size,)


def _windows(x, dimension, size, step):
    """The windows as a numpy view of x (writable when x is, so an in-place write through
    the view writes x, as in torch)."""
    shape = _unfolded_shape(x.shape, dimension, size, step)
    if x.ndim == 0:
        strides = (x.itemsize,)
    else:
        d = dimension % x.ndim
        strides = list(x.strides)
        strides[d] *= step
        strides = tuple(strides) + (x.strides[d],)
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=x.flags.writeable)


def _unfold_backward(g, shape, dimension, size, step):
    out = np.zeros(shape, g.dtype)
    places = _windows(out, dimension, size, step)
    for k in range(size):  # the k-th places of the windows are distinct: no write collides
        places[..., k] += g[..., k]
    return out


def _unfold_vjp(c, g):
    return call("unfold_backward", g, shape=list(c.shapes[0]), **c.attrs)


def _unfold_backward_vjp(c, g):
    return call("unfold", g, **{k: c.attrs[k] for k in ("dimension", "size", "step")})


defop("unfold", _windows,
      lambda x, dimension, size, step: Meta(_unfolded_shape(x.shape, dimension, size, step),
                                            x.dtype),
      _unfold_vjp, node="UnfoldBackward0", view=True, strides=layout.unfold)
defop("unfold_backward", _unfold_backward,
      lambda g, shape, dimension, size, step: Meta(shape, g.dtype), _unfold_backward_vjp,
      node="UnfoldBackwardBackward0")


def unfold(self, dimension: int, size: int, step: int):
    """Tensor.unfold (torch.nn.functional.unfold is im2col, elsewhere)."""
    return call("unfold", self, dimension=int(dimension), size=int(size), step=int(step))


METHODS = dict(unfold=unfold)
