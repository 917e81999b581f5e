"""The op table: every op's forward (numpy), VJP (distgrad ops) and shape rule, by name.

A message can name an op (`"mm"`) and any process can look it up here, so no closure
ever crosses a process boundary. `defop` is the one way to add an entry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from .. import dtypes
from . import layout


class Size(tuple):
    """A tensor's shape; prints as `torch.Size([2, 3])`."""

    def __repr__(self) -> str:
        return f"torch.Size([{', '.join(str(d) for d in self)}])"

    def numel(self) -> int:
        return math.prod(self)

    # A slice, a sum or a repetition of a shape is a shape too (`x.shape[1:]`).
    def __getitem__(self, key):
        item = tuple.__getitem__(self, key)
        return Size(item) if type(key) is slice else item

    def __add__(self, other):
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        return Size(tuple.__add__(other, self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__


class Meta:
    """What a shape rule returns: an output's shape and dtype."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype: dtypes.dtype):
        self.shape = shape if type(shape) is Size else Size(shape)
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"Meta({list(self.shape)}, {self.dtype!r})"


NodeName = Union[str, Callable[[Sequence[Any], dict], str]]
ALWAYS = "always"  # the save_for key of what is saved whichever inputs need a gradient


@dataclass
class OpDef:
    """One row of the table.

    forward(*values, **attrs) -> ndarray | tuple   values: ndarrays or Python numbers
    shape(*operands, **attrs) -> Meta | tuple      operands have .shape/.dtype, or are numbers
    vjp(ctx, *grads) -> grad per input (None = zero)
    save: which inputs the VJP reads (indices), and `save_out` whether it reads the result
    (or which outputs, by position: `ctx.outs` holds those, in order).
    """

    name: str
    forward: Callable
    shape: Callable
    vjp: Optional[Callable] = None
    node: NodeName = ""
    save: tuple = ()
    save_out: Union[bool, tuple] = False
    n_out: int = 1
    # {input position: the saved positions ("out": the result) its gradient reads}: then a
    # tensor is saved only if an input that needs a gradient reads it, as torch saves
    # (x * c with only x requiring grad keeps c alone); under the key ALWAYS, those torch
    # saves whichever inputs need one. Or save_for(inputs, attrs) -> such a dict, where
    # torch's overloads save differently. None: all of `save` always. What is saved is
    # what torch saves: each is checked for in-place writes when the node runs.
    save_for: Optional[Union[dict, Callable]] = None
    # The saved input positions in the order torch's node saves them, and so passes them to
    # saved-tensor hooks: its codegen's, by argument name (sdpa's attn_mask, key, query,
    # value). None: last to first (`other` before `self`). Outputs follow, in save_out's order.
    pack_order: Optional[tuple] = None
    # torch's names of what its node saves (grad_fn._saved_<name>): {name: input position,
    # or ("out", k) for output k}, where they are not the usual ones (self or input 0,
    # other 1, ..., result and resultK the outputs): addmm's mat1 and mat2, sort's indices.
    saved_names: Optional[dict] = None
    differentiable: tuple = None  # input positions that can receive a gradient (default: all)
    view: bool = False  # the result aliases input 0 (shares its version counter)
    strides: Optional[Callable] = None  # a view's layout from its parent's (ops/layout.py)
    elementwise: bool = False  # lays its result out as its inputs are (torch's TensorIterator)
    # layout(out_shape, operands, attrs, k, dtype) -> strides | None (row-major): how torch
    # lays out output k (of that dtype) of a non-view op from its tensor operands' (shape,
    # strides). Elementwise ops get layout.elementwise, asked only when an operand is strided
    # (the hot path); any other op's rule is asked always (rot90 of a row-major matrix is a
    # transpose). None: row-major.
    layout: Optional[Callable] = None
    nondiff_outputs: tuple = ()  # output positions that never require grad (indices of max)
    moves: bool = False  # the result lives on attrs["device"] (a copy between devices)
    # Does a Python number in a differentiable position get a (None, 0) edge? torch lists one
    # where it wraps the number as a tensor (add, mul, ...), not for Scalar overloads (pow).
    number_edges: object = True
    # How the op runs on sharded operands: the name of a rule distributed/sharding.py
    # registers ("elementwise", "reduction", ...). None: gather, compute, reshard there.
    sharding: Optional[str] = None
    # Its public names (ops/api.py): `distgrad.<name>` and `Tensor.<name>` for each of `api`,
    # taking `params` (torch's names for the operands), and the in-place method `inplace`.
    api: tuple = ()
    params: tuple = ()
    inplace: Optional[str] = None
    # into(out, *values, **attrs): the forward writing its result into `out`, for an
    # in-place write whose operands already have out's dtype (see run_into).
    into: Optional[Callable] = None
    # stack_rows(needs, shapes) -> positions or None: when the gradients the VJP is asked
    # for (`needs`) are sums over the rows (dim 0) of the saved inputs at these positions
    # and of the output gradient, several calls' VJPs can run once on those inputs and
    # gradients stacked on dim 0 (a pipeline stage's weight gradients over micro-batches:
    # one matmul over the whole batch instead of one per micro-batch and a sum).
    stack_rows: Optional[Callable] = None
    # Is a Python number among an elementwise op's inputs an operand of torch's
    # TensorIterator (the 0-dim tensor torch wraps the `other` of add, mul, eq, where in)?
    # Then the result's layout comes from the operands' order, not the same-shape fast
    # set-up: `t.t() + 1` keeps a size-1 dim's stride where `-t.t()` does not. Not for
    # the Scalar overloads that pass the number to the kernel (pow).
    number_operands: bool = True
    # The result shares input 0's memory under a version counter of its own, and autograd
    # sees no view (torch's _unsafe_view): a write through either is no version bump of
    # the other, and what saved one reads the memory as it is at backward.
    alias: bool = False
    # jvp(inputs, tangents, outs, **attrs) -> the floating outputs' tangents (a tangent None
    # is zero), for an op whose VJP has no derivative in its cotangent at zero, which
    # forward-mode AD's double-vjp trick takes (forward_ad.py). None: that trick.
    jvp: Optional[Callable] = None
    # {input position: torch's argument name} of the tensor inputs torch has no derivative
    # for and so refuses one that requires grad (BCE's weight), naming the function `aten`
    # (by default the op's name) in its error.
    refuses_grad: Optional[dict] = None
    aten: NodeName = ""

    def node_name(self, inputs, attrs) -> str:
        return self.node(inputs, attrs) if callable(self.node) else self.node

    def check_grad_refused(self, inputs, attrs) -> None:
        """torch's error for an input it has no derivative for that requires grad."""
        for i, arg in self.refuses_grad.items():
            if i < len(inputs) and getattr(inputs[i], "_requires_grad", False):
                fn = self.aten(inputs, attrs) if callable(self.aten) else self.aten
                raise RuntimeError(f"The function '{fn}' is not differentiable with respect to "
                                   f"argument '{arg}'. This input cannot have requires_grad "
                                   "True.")

    def saved_outputs(self) -> tuple:
        """The positions of the outputs the VJP reads (save_out)."""
        if self.save_out is True:
            return tuple(range(self.n_out))
        return tuple(self.save_out or ())

    @property
    def shares_memory(self) -> bool:
        """Whether the result is input 0's memory (a view, or an alias)."""
        return self.view or self.alias


OPS: dict[str, OpDef] = {}
ELEMENTWISE_RULES: set = set()


def elementwise(rule: Callable) -> Callable:
    """Mark a shape rule as elementwise: the ops that use it lay their result out as their
    inputs are laid out (a transposed input gives a transposed result), as torch does."""
    ELEMENTWISE_RULES.add(rule)
    return rule


def defop(name: str, forward: Callable, shape: Callable, vjp: Optional[Callable] = None, *,
          node: NodeName = "", save: tuple = (), save_out: Union[bool, tuple] = False,
          n_out: int = 1,
          differentiable: Optional[tuple] = None, view: bool = False,
          nondiff_outputs: tuple = (), moves: bool = False, number_edges=True,
          strides: Optional[Callable] = None, elementwise: Optional[bool] = None,
          sharding: Optional[str] = None, api: tuple = (), params: Optional[tuple] = None,
          inplace: Optional[str] = None, into: Optional[Callable] = None,
          stack_rows: Optional[Callable] = None, layout_rule: Optional[Callable] = None,
          save_for: Optional[Union[dict, Callable]] = None, number_operands: bool = True,
          pack_order: Optional[tuple] = None, saved_names: Optional[dict] = None,
          alias: bool = False, jvp: Optional[Callable] = None,
          refuses_grad: Optional[dict] = None, aten: NodeName = "") -> OpDef:
    if name in OPS:
        raise ValueError(f"op {name!r} is defined twice")
    if (view or alias) and strides is None:
        raise ValueError(f"view op {name!r} needs a strides rule (ops/layout.py)")
    if elementwise is None:
        elementwise = shape in ELEMENTWISE_RULES
    if sharding is None and elementwise:
        sharding = "elementwise"  # each shard alone, as torch's DTensor does pointwise ops
    if layout_rule is None and elementwise:
        layout_rule = layout.elementwise
    if params is None:
        params = ("input", "other")[:_operand_count(shape)]
    op = OpDef(name, forward, shape, vjp, node, tuple(save), save_out, n_out, save_for,
               pack_order, saved_names, differentiable, view, strides, elementwise,
               layout_rule, tuple(nondiff_outputs), moves, number_edges, sharding,
               tuple(api), tuple(params), inplace, into, stack_rows, number_operands, alias,
               jvp, refuses_grad, aten or name)
    OPS[name] = op
    return op


def _operand_count(shape_rule: Callable) -> int:
    """How many operands an op takes: its shape rule's positional parameters without a default."""
    code = getattr(shape_rule, "__code__", None)
    if code is None:
        return 1
    defaults = len(shape_rule.__defaults__ or ())
    return code.co_argcount - defaults


def lookup(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None


def run_forward(op: OpDef, values, attrs: dict, out_dtypes) -> list:
    """Run an op's numpy forward and give each result its declared dtype.

    The driver (for cpu tensors) and every worker run forwards through here.
    """
    if not op.shares_memory and op.name not in OWN_HALF:  # (add and sub round their alpha)
        values = half_as_float(values, op)
    out = op.forward(*values, **attrs)
    if not isinstance(out, (tuple, list)):
        out = (out,)
    if op.shares_memory:
        return [np.asarray(v) for v in out]
    # (an elementwise result of row-major inputs is row-major: the hot path asks no rule)
    relayout = op.layout is not None and not op.elementwise
    if op.layout is not None and not relayout:
        for x in values:
            if type(x) is np.ndarray and not x.flags.c_contiguous:
                relayout = True
                break
    results = []
    for k, (v, d) in enumerate(zip(out, out_dtypes)):
        arr = np.asarray(v)
        if arr.dtype != d.np:
            arr = dtypes.cast(arr, d.np)
        strides = _rule_strides(op, arr, values, attrs, k, d) if relayout else None
        if strides is not None:
            arr = in_layout(arr, strides)
        elif not arr.flags.c_contiguous or (values and arr is values[0]) or (
                arr.base is not None and (_input_memory(arr, values) or _part_of_more(arr))):
            arr = np.array(arr, order="C")
        results.append(arr)
    return results


# Ops whose float16 (bfloat16) forward must see float16 (the next float16 value, not
# float32's; the rounded steps of pow, log_softmax, nll_loss, add, sub, adam_update, cross,
# scaled_dot_product_attention and its backward, sigmoid_backward, mse_loss, logsumexp, xlogy,
# binary_cross_entropy_with_logits, the convolutions torch's slow kernels compute in float16 or bfloat16, the gradients of
# mse_loss, the average pools, embedding, indexing and glu, rsqrt's scalar tail, prelu's
# weight gradient's products, each rounded before they are summed; weight norm's norms, added
# in its kernel's order).
OWN_HALF = {"nextafter", "pow", "log_softmax", "nll_loss", "add", "sub", "adam_update", "cross",
            "scaled_dot_product_attention", "scaled_dot_product_attention_backward",
            "sigmoid_backward", "mse_loss", "logsumexp", "xlogy", "conv_transpose",
            "conv_input_grad", "conv_weight_grad", "conv_bias_grad", "mse_loss_backward",
            "avg_pool2d_backward", "avg_pool3d_backward", "adaptive_avg_pool2d_backward",
            "adaptive_avg_pool3d_backward", "rsqrt", "embedding_dense_backward", "index_backward",
            "glu_backward", "prod", "prod_dim", "prelu_kernel_backward",
            "binary_cross_entropy_with_logits", "weight_norm_interface"}


# Elementwise ops whose kernels read a number operand's own value (as a float) where the
# operands are float16 or bfloat16: torch special-cases mul and div. Every other one takes
# it as TensorIterator casts a wrapped number (or a 0-dim tensor) to the common dtype.
ORIGINAL_SCALAR = {"mul", "div", "floor_divide"}


def half_as_float(values, op=None):
    """float16 and bfloat16 arrays as float32: torch's CPU kernels compute them in float32
    and round each result once (a sum or a matmul accumulates in float32; numpy's would in
    float16, and ml_dtypes' bfloat16 in bfloat16). The numbers and 0-dim tensors an
    elementwise op computes with in that dtype are rounded to it first, as torch's are
    (`bf16 + 0.1` adds bfloat16's 0.1)."""
    for v in values:
        if type(v) is np.ndarray and v.dtype.char in "eE":
            if op is not None and op.elementwise and op.name not in ORIGINAL_SCALAR:
                values = _numbers_in_low_dtype(values)
            return [v.astype(np.float32) if type(v) is np.ndarray and v.dtype.char in "eE"
                    else v for v in values]
    return values


def low_common(values):
    """The operands' common dtype if float16 or bfloat16 (and an array holds it), else None."""
    if not any(type(v) is np.ndarray and v.dtype.char in "eE" for v in values):
        return None
    operands = [Meta(v.shape, dtypes.from_numpy(v.dtype)) if type(v) is np.ndarray else v
                for v in values if v is not None and not isinstance(v, (str, bool))]
    try:
        common = dtypes.result_type(operands)
    except TypeError:
        return None
    return common if common in dtypes.LOW_FLOATS else None


def low_alpha(values, alpha):
    """add's and sub's alpha as their kernels take it: in the operands' float16 or bfloat16."""
    common = low_common(values) if type(alpha) in (int, float) else None
    return alpha if common is None else float(dtypes.cast(np.array(alpha, np.float64), common.np))


def _numbers_in_low_dtype(values):
    """The numbers and 0-dim float arrays among `values` rounded to the operands' common
    dtype when that is float16 or bfloat16."""
    common = low_common(values)
    if common is None:
        return values
    out = []
    for v in values:
        if type(v) in (int, float) or isinstance(v, np.floating):
            v = float(dtypes.cast(np.array(v, np.float64), common.np))
        elif type(v) is np.ndarray and v.ndim == 0 and v.dtype.kind in "fiu":
            # (a float32 array still: a float16 0-dim tensor may be the op's only operand)
            v = dtypes.cast(np.array(v, np.float64), common.np).astype(np.float32)
        out.append(v)
    return out


def run_into(op: OpDef, out: np.ndarray, values, attrs: dict, out_dtype) -> bool:
    """Run an op whose result is to be written into `out` (an in-place op's memory) straight
    into it, saving the result's allocation and the copy; False (nothing done) unless the op
    has an `into` forward and computes in out's dtype and shape, so the values written are
    those of run_forward and a copy.

    Workers do this for an op followed by the write of its result (worker.py).
    """
    if op.into is None or out_dtype.np != out.dtype or not out.flags.writeable or (
            out.dtype.char in "eE"):  # (float16, bfloat16 computed in float32: run_forward's way)
        return False
    shapes = []
    for v in values:
        if type(v) is np.ndarray:
            if v.dtype != out.dtype:
                return False
            shapes.append(v.shape)
    if np.broadcast_shapes(*shapes) != out.shape:
        return False
    op.into(out, *values, **attrs)
    return True


def _rule_strides(op, arr, inputs, attrs, k, dtype):
    """The strides the op's layout rule gives output k (of that dtype), from the arrays' own;
    None: row-major."""
    operands = [(x.shape, tuple(s // x.itemsize for s in x.strides)) for x in inputs
                if type(x) is np.ndarray]
    return op.layout(arr.shape, operands + number_operands(op, inputs), attrs, k, dtype)


def number_operands(op: OpDef, inputs) -> list:
    """The 0-dim operands torch's TensorIterator has for the Python numbers among an
    elementwise op's inputs, as (shape, strides) (OpDef.number_operands)."""
    if not (op.elementwise and op.number_operands):
        return []
    return [((), ()) for x in inputs if isinstance(x, (int, float))]


def in_layout(arr, strides) -> np.ndarray:
    """arr's values in memory of their own, laid out with these (dense) strides."""
    slowest_first = sorted(range(arr.ndim), key=lambda d: -strides[d])
    out = np.empty([arr.shape[d] for d in slowest_first], arr.dtype)
    out = out.transpose(np.argsort(slowest_first))
    out[...] = arr
    return out


def _part_of_more(arr) -> bool:
    """Whether a result views a larger scratch array (an accumulation's last row, say): its
    storage would then be that array's bytes, where torch's result has memory of its own."""
    from ..storage import array_root

    root = array_root(arr)
    return root.nbytes != arr.nbytes or root.ctypes.data != arr.ctypes.data


def _input_memory(arr, inputs) -> bool:
    """Whether a result not declared a view is (part of) an input's memory: it must own a
    row-major buffer, as the driver assumes (numpy may hand back an input, or a view of it)."""
    for x in inputs:
        if x is arr:
            return True
    if arr.base is None:  # a fresh array owns its memory
        return False
    return any(type(x) is np.ndarray and x.size and np.may_share_memory(arr, x) for x in inputs)
