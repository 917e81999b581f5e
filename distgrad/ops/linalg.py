"""Matrix products: mm, mv, dot, addmm and batched matmul, with torch's error words."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from . import layout
from .rules import (broadcast_shapes, integral_scalar, not_implemented, require_scalar_type,
                    unbroadcast)
from .shape import transposed
from .table import Meta, defop


def _dims(shape) -> str:
    return "x".join(str(d) for d in shape)


def mm_dtypes(a, b) -> None:
    """mm's check (after its shapes)."""
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{a.dtype.c_name} != {b.dtype.c_name}")


def addmm_dtypes(bias, a, b) -> None:
    """addmm's check (addbmm's too), made before any shape: the bias, then mat1, against
    mat2."""
    for name, t in (("self", bias), ("mat1", a)):
        if t.dtype is not b.dtype:
            raise RuntimeError(f"{name} and mat2 must have the same dtype, but got "
                               f"{t.dtype.long_name} and {b.dtype.long_name}")


def addmv_dtypes(out: dtypes.dtype, mat, vec) -> None:
    """addmv's check, after its shapes; mv is an addmv into a result of the vector's dtype."""
    if not (out is mat.dtype and mat.dtype is vec.dtype):
        raise RuntimeError(f"addmv input tensors must have the same dtype, but got "
                           f"{out.long_name}, {mat.dtype.long_name}, and {vec.dtype.long_name}")


def dot_dtypes(a, b) -> None:
    """dot's check (vdot's too, in dot's words), between its dims and its sizes."""
    if a.dtype is not b.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{a.dtype.long_name} and {b.dtype.long_name}")


def check_chain(tensors) -> None:
    """multi_dot's checks (chain_matmul's too): the operands' dims, then each one's dtype
    against the first's and its rows against the previous one's columns."""
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for end, t in (("first", tensors[0]), ("last", tensors[-1])):
        if t.ndim not in (1, 2):
            raise RuntimeError(f"multi_dot(): the {end} tensor must be 1D or 2D but got {t.ndim}D")
    for i, t in enumerate(tensors[1:-1], 1):
        if t.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D")
    first = tensors[0].dtype
    for i in range(1, len(tensors)):
        if tensors[i].dtype is not first:
            raise RuntimeError(f"multi_dot(): all tensors must have be the same dtype but tensor 0 "
                               f"is {first.c_name} and tensor {i} {tensors[i].dtype.c_name}")
        left, right = tensors[i - 1], tensors[i]
        if left.shape[-1] != right.shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {i - 1} and {i} with shapes "
                               f"{list(left.shape)} and {list(right.shape)} cannot be multiplied")


def _no_bool(kernel: str, d: dtypes.dtype) -> None:
    """torch has no bool matrix products."""
    if d is dtypes.bool_:
        raise not_implemented(kernel, d)


def _mm_rule(a, b):
    if a.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_dims(a.shape)} and "
                           f"{_dims(b.shape)})")
    mm_dtypes(a, b)
    _no_bool("addmm_impl_cpu_", a.dtype)
    return Meta((a.shape[0], b.shape[1]), a.dtype)


def _product(a, b, bias=None):
    """a·b (+ bias) of two matrices, row-major. For a few rows times a transposed row-major
    matrix (Linear's `w.t()`: a pipeline's micro-batch), OpenBLAS is faster at (bᵀ·aᵀ)ᵀ,
    the weight then a row-major left operand: 64 rows by 1024 features, single thread,
    about 0.65x the time. Not for more rows: at 256 by 1024, or 256 and 512 by 4096, it is
    slower (up to 1.1x), so at most 128 rows and an eighth of the columns."""
    if (a.ndim == 2 and b.ndim == 2 and a.shape[0] <= 128 and 8 * a.shape[0] <= b.shape[1]
            and b.size >= 65536 and b.flags.f_contiguous and not b.flags.c_contiguous
            and a.dtype == b.dtype and a.dtype.kind == "f"
            and (bias is None or bias.dtype == a.dtype)):
        flipped = np.matmul(b.T, a.T).T
        out = np.empty(flipped.shape, flipped.dtype)
        if bias is None:
            np.copyto(out, flipped)
            return out
        return np.add(flipped, bias, out=out)
    if (a.ndim == 2 and b.ndim == 2 and a.shape[1] == 1 and a.shape[0] > 1 and b.shape[1] > 1
            and a.dtype == b.dtype and a.dtype.kind == "f"):
        # (torch's gemm of one inner element, on two rows and columns or more, is each
        # product as it is: a zero keeps its sign, where OpenBLAS adds it to +0)
        prod = np.multiply(a, b)
    else:
        prod = np.matmul(a, b)
    return prod + bias if bias is not None else prod


def _left_grad(c, g, a_pos: int, b_pos: int):
    """g·bᵀ, the gradient of the left operand a of a·b (saved at positions a_pos, b_pos),
    laid out as torch's mm_mat1_backward lays it: when a is column-major (`x.t()`), as
    (b·gᵀ)ᵀ, so that x's gradient (after TBackward0) is row-major like x and is stored as
    its .grad with no copy."""
    if c._inputs.column_major(a_pos):
        return c[b_pos].mm(g.t()).t()
    return g.mm(transposed(c[b_pos]))


def _right_grad(c, g, a_pos: int, b_pos: int):
    """aᵀ·g, the gradient of the right operand b of a·b (saved at positions a_pos, b_pos).

    Laid out as torch's mm_mat2_backward lays it: as b is. When b is column-major (the
    transpose of a weight: Linear's `w.t()`), (gᵀ·a)ᵀ is the same matrix but comes out as
    a transposed view of a row-major product, so the weight's gradient (after TBackward0)
    is row-major like the weight: no transposing copy when it is stored, and the
    optimizer's update walks both in the same order.
    """
    if c._inputs.column_major(b_pos):
        return g.t().mm(c[a_pos]).t()
    return c[a_pos].t().mm(g)


def _mm_stack_rows(needs, shapes):
    """The right operand's gradient alone, aᵀ·g, is a sum over a's and g's rows."""
    return (0,) if not needs[0] and needs[1] else None


defop("mm", _product, _mm_rule,
      lambda c, g: (_left_grad(c, g, 0, 1) if c.needs[0] else None,
                    _right_grad(c, g, 0, 1) if c.needs[1] else None),
      node="MmBackward0", save=(0, 1), save_for={0: (1,), 1: (0,)}, sharding="matmul", api=("mm",), params=("input", "mat2"),
      stack_rows=_mm_stack_rows)


def _addmm_forward(bias, a, b, beta=1, alpha=1):
    beta, alpha = integral_scalar(beta, a.dtype), integral_scalar(alpha, a.dtype)
    if alpha == 1 and beta == 1:
        return _product(a, b, bias)
    prod = _product(a, b)
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:  # torch ignores the bias then, nan and inf included
        return prod + np.zeros_like(bias)
    return prod + (bias * beta if beta != 1 else bias)


def _addmm_vjp(c, g):
    beta, alpha = c.attrs.get("beta", 1), c.attrs.get("alpha", 1)
    ga = g * alpha if alpha != 1 else g
    return (unbroadcast(g * beta if beta != 1 else g, c.shapes[0]) if c.needs[0] else None,
            _left_grad(c, ga, 1, 2) if c.needs[1] else None,
            _right_grad(c, ga, 1, 2) if c.needs[2] else None)


def _addmm_rule(bias, a, b, beta=1, alpha=1):
    from .shape import expanded_shape

    addmm_dtypes(bias, a, b)
    meta = _mm_rule(a, b)
    expanded_shape(bias.shape, meta.shape, bias.dtype)  # torch expands the bias: its words
    return meta


def _addmm_stack_rows(needs, shapes):
    """mat2's gradient (mat1ᵀ·g) and a bias broadcast over the rows (its gradient g summed
    over them) are sums over mat1's and g's rows."""
    bias_by_row = len(shapes[0]) == 2 and shapes[0][0] != 1
    if needs[1] or (needs[0] and bias_by_row) or not (needs[0] or needs[2]):
        return None
    return (1,)


defop("addmm", _addmm_forward, _addmm_rule, _addmm_vjp, node="AddmmBackward0", save=(1, 2),
      save_for={1: (2,), 2: (1,)}, pack_order=(1, 2), saved_names={"mat1": 1, "mat2": 2},
      sharding="addmm",
      stack_rows=_addmm_stack_rows)


def _mv_rule(a, v):
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}")
    if a.shape[1] != v.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({a.shape[0]}), mat ({_dims(a.shape)}), "
                           f"vec ({v.shape[0]})")
    addmv_dtypes(v.dtype, a, v)
    _no_bool("addmv_impl_cpu", a.dtype)
    return Meta((a.shape[0],), a.dtype)


defop("mv", np.matmul, _mv_rule,
      lambda c, g: (g.unsqueeze(1) * c[1].unsqueeze(0) if c.needs[0] else None,
                    c[0].t().mv(g) if c.needs[1] else None),
      node="MvBackward0", save=(0, 1), save_for={0: (1,), 1: (0,)}, api=("mv",),
      params=("input", "vec"))


def _dot_rule(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    dot_dtypes(a, b)
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src "
                           f"[{b.shape[0]}] to have the same number of elements, but got "
                           f"{a.shape[0]} and {b.shape[0]} elements respectively")
    _no_bool("dot", a.dtype)
    return Meta((), a.dtype)


# (torch's BLAS dot sums onto +0: products that are all zeros sum to +0, a -0 alone too)
defop("dot", lambda a, b: np.dot(a, b) + 0, _dot_rule,
      lambda c, g: (g * c[1] if c.needs[0] else None, g * c[0] if c.needs[1] else None),
      node="DotBackward0", save=(0, 1), save_for={0: (1,), 1: (0,)}, api=("dot",),
      params=("input", "other"))


def _bmm_rule(a, b):
    # Both at least 2-D here (matmul folds 1-D operands before it gets here).
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{a.shape[0]}, {a.shape[-1]}] but got: [{b.shape[0]}, {b.shape[-2]}].")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    shape = tuple(batch) + (a.shape[-2], b.shape[-1])
    if 0 in a.shape or 0 in b.shape:  # torch returns zeros before its kernel reads a dtype:
        return Meta(shape, b.dtype)   # in mat2's (its result is allocated like mat2)
    _bmm_kernel_dtypes(a, b)
    return Meta(shape, a.dtype)


def _bmm_kernel_dtypes(a, b) -> None:
    """The dtype checks of torch's CPU bmm kernel, whose result has mat2's dtype: a small
    product (under 400 multiply-adds a batch) runs in mat1's dtype, a larger one of floats
    or doubles whose matrices are row- or column-major runs in mat2's, any other is a loop
    of addmm."""
    if a.dtype is b.dtype and a.dtype is not dtypes.bool_:
        return
    n, k, m = a.shape[-2], a.shape[-1], b.shape[-1]
    if n * k * m < 400:
        _no_bool("bmm", a.dtype)
        require_scalar_type(a.dtype, b)
    elif b.dtype in (dtypes.float32, dtypes.float64) and _rows_or_columns(a) and \
            _rows_or_columns(b):
        require_scalar_type(b.dtype, a)
    else:
        mm_dtypes(a, b)
        _no_bool("addmm_impl_cpu_", a.dtype)


def _rows_or_columns(t) -> bool:
    """torch's batch_items_contiguous_or_transposed, of the last two dims."""
    if t.ndim != 3:  # (matmul's batches, which torch reshapes to 3 dims first)
        return True
    (r, c), (sr, sc) = t.shape[-2:], t.stride()[-2:]
    return (sc == 1 and sr >= c) or (sr == 1 and sc >= r)


defop("bmm", np.matmul, _bmm_rule,
      lambda c, g: (unbroadcast(g.matmul(c[1].transpose(-1, -2)), c.shapes[0]) if c.needs[0] else None,
                    unbroadcast(c[0].transpose(-1, -2).matmul(g), c.shapes[1]) if c.needs[1] else None),
      node="BmmBackward0", save=(0, 1), save_for={0: (1,), 1: (0,)}, sharding="matmul")


# ---- the views torch's matmul wraps around mm/mv/bmm --------------------------------------

defop("unsafe_view", lambda x, shape: np.reshape(x, shape),
      lambda x, shape: Meta(shape, x.dtype), lambda c, g: g.reshape(c.shapes[0]),
      node="UnsafeViewBackward0", alias=True, strides=layout.reshape, sharding="reshape")
defop("squeeze_matmul", lambda x, dim: np.squeeze(x, axis=dim),
      lambda x, dim: Meta([d for i, d in enumerate(x.shape) if i != dim], x.dtype),
      lambda c, g: g.unsqueeze(c.attrs["dim"]), node="SqueezeBackward4", alias=True,
      strides=layout.squeeze)  # (torch's squeeze_ of the product in place: no view)


def _trace_rule(x):
    if x.dtype is dtypes.bool_:  # (its kernel, looked for first, sums numbers only)
        raise not_implemented("trace", x.dtype)
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    return Meta((), x.dtype if x.dtype.is_floating_point else dtypes.int64)


def _trace_vjp(c, g):
    from ..autograd.record import call

    shape = c.shapes[0]
    return call("diagonal_backward", g.expand(min(shape)), shape=list(shape))


defop("trace", lambda x: np.trace(x, dtype=np.int64 if x.dtype.kind in "biu" else None),
      _trace_rule, _trace_vjp, node="TraceBackward0", api=("trace",))
