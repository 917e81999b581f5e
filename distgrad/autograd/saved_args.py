"""torch's non-tensor `grad_fn._saved_<name>` attributes: the sizes, dims, flags and
numbers its generated node keeps beside the saved tensors (`SumBackward1._saved_dim`,
`ConvolutionBackward0._saved_stride`), by node name, each read from what the node recorded:
its op's attrs, its inputs' shapes, the numbers it was given.

torch shows a saved int64 (a dim, an index, a size) through an unsigned conversion, so a
negative one reads as 2**64 + it (dim=-1 saved as 18446744073709551615); a Scalar (alpha,
min, beta) reads as given.
"""
from __future__ import annotations

import math
from typing import Callable

from ..ops.layout import contiguous_strides

_REDUCTION = {"none": 0, "mean": 1, "sum": 2}


def _int64(v):
    """An int64 as torch's node shows it: negative ones through their unsigned bits."""
    if isinstance(v, (list, tuple)):
        return tuple(_int64(x) for x in v)
    return v % (1 << 64) if isinstance(v, int) and not isinstance(v, bool) and v < 0 else v


def _attr(name, default=None, as_int64=False) -> Callable:
    """An attr as torch's node keeps it (a list as a tuple: torch's IntArrayRef)."""
    def read(node):
        v = node.attrs.get(name, default)
        v = tuple(v) if isinstance(v, list) else v
        return _int64(v) if as_int64 else v
    return read


def _dims(name="dim") -> Callable:
    """A dim argument torch takes as a list (sum, mean, amax): a tuple, or None for all."""
    def read(node):
        v = node.attrs.get(name)
        return None if v is None else _int64(tuple(v) if isinstance(v, (list, tuple)) else (v,))
    return read


def _sizes(k: int = 0) -> Callable:
    return lambda node: tuple(node._metas[k][0])


def _strides(k: int) -> Callable:
    """Input k's strides as the node kept them (OpNode._strides: row-major when not kept)."""
    def read(node):
        strides = node._strides.get(k)
        return tuple(strides if strides is not None else contiguous_strides(node._metas[k][0]))
    return read


def _numel(k: int = 0) -> Callable:
    return lambda node: math.prod(node._metas[k][0])


def _reduction(node):
    return _REDUCTION[node.attrs.get("reduction", "mean")]


def _ord(node):
    p = node.attrs.get("p", 2.0)
    return int(p) if float(p).is_integer() else p


def _indices(first: int) -> Callable:
    """IndexBackward0's (IndexPutBackward0's) index tensors, None for each dim before them
    taken whole: the index tensors are the node's inputs from position `first` on."""
    def read(node):
        ctx = node.context()
        return tuple(ctx[first + item[1]] if item[0] == "t" else None
                     for item in node.attrs["key"])
    return read


def _bias_sizes(node):
    meta = node._metas[2] if len(node._metas) > 2 else None
    return tuple(meta[0]) if meta is not None else (0,)


def _total_weight(node):
    """nll_loss's total weight, the divisor of its mean: the kept targets' class weights
    summed (their count without weights); 0 for reduction="none", as torch's kernel leaves
    it. A tensor it saved: freed by a backward as the others."""
    from . import grad_mode
    from .record import call

    ctx = node.context()
    shape, dtype = ctx.shapes[0], ctx.dtypes[0]
    with grad_mode.no_grad():
        if node.attrs.get("reduction", "mean") == "none":
            return call("full", shape=[], value=0, dtype=dtype.name, _device=ctx.devices[0])
        classes = shape[1] if node.attrs.get("spatial") else shape[-1]
        return call("nll_weights", ctx[1], ctx[2], classes=classes, dtype=dtype.name,
                    ignore_index=node.attrs.get("ignore_index", -100)).sum()


def _group_norm_sizes(node):
    shape = node._metas[0][0]
    return shape[0], shape[1], math.prod(shape[2:])


_DIM = {"dim": _attr("dim", as_int64=True)}
_DIM_KEEPDIM = {"dim": _dims(), "keepdim": _attr("keepdim", False)}
_ONE_DIM_KEEPDIM = {"dim": _attr("dim", as_int64=True), "keepdim": _attr("keepdim", False)}
_SIZES = {"self_sym_sizes": _sizes()}
_ALPHA = {"alpha": _attr("alpha", 1)}
_REDUCED = {"reduction": _reduction}
# (the stride as the kernel ran it: torch keeps () where none was given)
_POOL = {"kernel_size": _attr("kernel"), "stride": _attr("stride"), "padding": _attr("padding"),
         "ceil_mode": _attr("ceil_mode", False)}

SAVED_ARGS: dict = {
    # elementwise and activations
    "AddBackward0": _ALPHA, "SubBackward0": _ALPHA, "RsubBackward1": _ALPHA,
    "AddmmBackward0": {**_ALPHA, "beta": _attr("beta", 1), "mat1_sym_sizes": _sizes(1),
                       "mat1_sym_strides": _strides(1), "mat2_sym_sizes": _sizes(2),
                       "mat2_sym_strides": _strides(2)},
    "MmBackward0": {"self_sym_sizes": _sizes(0), "self_sym_strides": _strides(0),
                    "mat2_sym_sizes": _sizes(1), "mat2_sym_strides": _strides(1)},
    "AddcmulBackward0": {"value": _attr("value", 1)},
    "AddcdivBackward0": {"value": _attr("value", 1)},
    "LerpBackward0": {"weight": _attr("weight")},
    "ClampBackward1": {"min": _attr("min"), "max": _attr("max")},
    "LeakyReluBackward0": {"negative_slope": _attr("negative_slope", 0.01)},
    "EluBackward0": {"alpha": _attr("alpha", 1.0), "scale": _attr("scale", 1),
                     "input_scale": _attr("input_scale", 1)},
    "GeluBackward0": {"approximate": _attr("approximate", "none")},
    "HardtanhBackward0": {"min_val": _attr("min_val", -1.0), "max_val": _attr("max_val", 1.0)},
    # reductions
    "SumBackward0": _SIZES,
    "SumBackward1": {**_DIM_KEEPDIM, **_SIZES},
    "MeanBackward0": {"self_sym_numel": _numel(), **_SIZES},
    "MeanBackward1": {**_DIM_KEEPDIM, "self_sym_numel": _numel(), **_SIZES},
    "AmaxBackward0": _DIM_KEEPDIM, "AminBackward0": _DIM_KEEPDIM,
    "LogsumexpBackward0": _DIM_KEEPDIM,
    "MaxBackward0": {**_ONE_DIM_KEEPDIM, **_SIZES},
    "MinBackward0": {**_ONE_DIM_KEEPDIM, **_SIZES},
    "ProdBackward1": _ONE_DIM_KEEPDIM,
    **{name: {**_DIM_KEEPDIM, "correction": _attr("correction")} for name in (
        "VarBackward0", "StdBackward0", "VarMeanBackward0", "StdMeanBackward0")},
    "LinalgVectorNormBackward0": {**_DIM_KEEPDIM, "ord": _ord},
    "CumsumBackward0": _DIM, "CumprodBackward0": _DIM,
    "SoftmaxBackward0": _DIM, "LogSoftmaxBackward0": _DIM,
    # views and shapes
    "ViewBackward0": _SIZES, "UnsafeViewBackward0": _SIZES, "ExpandBackward0": _SIZES,
    "PermuteBackward0": {"dims": _attr("dims", as_int64=True)},
    "TransposeBackward0": {"dim0": _attr("dim0", as_int64=True),
                           "dim1": _attr("dim1", as_int64=True)},
    "SqueezeBackward0": _SIZES,
    "SqueezeBackward1": {**_DIM, **_SIZES},
    "UnsqueezeBackward0": _DIM,
    "SelectBackward0": {**_DIM, "index": _attr("index", as_int64=True), **_SIZES},
    "SliceBackward0": {**_DIM, "start": _attr("start", as_int64=True),
                       "end": _attr("stop", as_int64=True), "step": _attr("step", 1), **_SIZES},
    "SplitBackward0": {**_DIM, "split_size": _attr("split_size_or_sections"), **_SIZES},
    "SplitWithSizesBackward0": {**_DIM, "split_sizes": _attr("split_size_or_sections"),
                                **_SIZES},
    "CatBackward0": _DIM, "StackBackward0": _DIM,
    "UnbindBackward0": _DIM,
    "DiagonalBackward0": {"offset": _attr("offset", 0, True), "dim1": _attr("dim1", 0, True),
                          "dim2": _attr("dim2", 1, True), **_SIZES},
    "AsStridedBackward0": {"size": _attr("size"), "stride": _attr("stride"),
                           "storage_offset": _attr("storage_offset")},
    "UnfoldBackward0": {"dimension": _attr("dimension", as_int64=True), "size": _attr("size"),
                        "step": _attr("step"), **_SIZES},
    "RepeatBackward0": {"repeats": _attr("repeats"), **_SIZES},
    "FlipBackward0": {"dims": _attr("dims", as_int64=True)},
    "RollBackward0": {"shifts": _attr("shifts", as_int64=True),
                      "dims": lambda node: _int64(tuple(node.attrs["dims"] or ()))},
    "TrilBackward0": {"diagonal": _attr("diagonal", 0, True)},
    "TriuBackward0": {"diagonal": _attr("diagonal", 0, True)},
    "ConstantPadNdBackward0": {"pad": _attr("pad")},
    "SortBackward0": {**_DIM, **_SIZES}, "SortBackward1": {**_DIM, **_SIZES},
    "TopkBackward0": {**_DIM, **_SIZES},
    # indexing
    "IndexBackward0": {"indices": _indices(1), **_SIZES},
    "GatherBackward0": {**_DIM, "sparse_grad": _attr("sparse_grad", False)},
    "ScatterBackward0": _DIM, "ScatterBackward1": _DIM, "ScatterAddBackward0": _DIM,
    "IndexPutBackward0": {"accumulate": lambda node: node.op.name == "index_put_accumulate",
                          "indices": _indices(2)},
    "IndexPutImplBackward0": {"accumulate": lambda node: True, "indices": _indices(2)},
    "IndexSelectBackward0": {**_DIM, **_SIZES},
    # layers
    "ConvolutionBackward0": {"stride": _attr("stride"), "padding": _attr("padding"),
                             "dilation": _attr("dilation"), "groups": _attr("groups", 1),
                             "transposed": _attr("transposed", False),
                             "output_padding": lambda node: tuple(node.attrs.get(
                                 "output_padding", (0,) * len(node.attrs["stride"]))),
                             "bias_sym_sizes_opt": _bias_sizes},
    "MaxPool2DWithIndicesBackward0": {**_POOL, "dilation": _attr("dilation")},
    "AvgPool2DBackward0": {**_POOL, "count_include_pad": _attr("count_include_pad", True),
                           "divisor_override": _attr("divisor_override")},
    "NativeLayerNormBackward0": {"normalized_shape": _attr("normalized_shape")},
    "NativeBatchNormBackward0": {"training": _attr("training"), "eps": _attr("eps", 1e-5)},
    "NativeLayerNormBackwardBackward0": {"normalized_shape": _attr("normalized_shape")},
    "NativeBatchNormBackwardBackward0": {"train": _attr("training"), "eps": _attr("eps")},
    "NativeGroupNormBackward0": {"N": lambda node: _group_norm_sizes(node)[0],
                                 "C": lambda node: _group_norm_sizes(node)[1],
                                 "HxW": lambda node: _group_norm_sizes(node)[2],
                                 "group": _attr("num_groups"), "eps": _attr("eps", 1e-5)},
    "EmbeddingBackward0": {"padding_idx": _attr("padding_idx", -1, as_int64=True),
                           "scale_grad_by_freq": _attr("scale_grad_by_freq", False),
                           "sparse": _attr("sparse", False),
                           "weight_sym_argsize_0": lambda node: node._metas[0][0][0]},
    # losses
    "MseLossBackward0": _REDUCED, "BinaryCrossEntropyBackward0": _REDUCED,
    "BinaryCrossEntropyWithLogitsBackward0": _REDUCED,
    "NllLossBackward0": {**_REDUCED, "ignore_index": _attr("ignore_index", -100, True),
                         "total_weight": _total_weight},
    "NllLoss2DBackward0": {**_REDUCED, "ignore_index": _attr("ignore_index", -100, True),
                           "total_weight": _total_weight},
    "SmoothL1LossBackward0": {**_REDUCED, "beta": _attr("beta", 1.0)},
    "HuberLossBackward0": {**_REDUCED, "delta": _attr("delta", 1.0)},
}


def saved_arg_reader(node, name: str):
    """What gives torch's value of `grad_fn._saved_<name>` if its node keeps such an
    argument, else None."""
    given = getattr(node, "_given", None)
    if given is not None and name in given:
        return lambda: given[name]
    read = SAVED_ARGS.get(node._name, {}).get(name)
    return None if read is None else lambda: read(node)


def note_given(t, **given) -> None:
    """t's node shows these arguments as the call gave them, where torch's node keeps that
    rather than what the op ran with (a pool's omitted stride as (), an upsampling's scale
    factors), or keeps what the op's attrs do not hold."""
    node = t._grad_fn
    if node is not None and hasattr(type(node), "_given"):
        node._given = {**(getattr(node, "_given", None) or {}), **given}


def saved_arg_names(node) -> list:
    """The names saved_arg_reader answers for this node."""
    return list(SAVED_ARGS.get(node._name, ())) + list(getattr(node, "_given", None) or ())
