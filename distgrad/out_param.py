"""The `out=` parameter of torch's functions: the result written into tensors given.

torch's functions with an out= overload compute their result and write it into `out`
(several tensors, a tuple, for a function with several results): cast to out's dtype when
torch's casting rules allow it, out resized when its shape differs (with torch's warning
when it had elements), its version counted as an in-place write's. Autograd does not go
through out=: with grad mode on, an argument that requires grad is refused.
"""
from __future__ import annotations

import functools
import inspect

from . import dtypes, return_types
from .autograd import grad_mode
from .ops.api import FACTORS_UNCHECKED, tensor_operands
from .ops.overwrite import resize_in_memory
from .ops.rules import require_castable, warn_range_resized, warn_resized
from .ops.table import OPS
from .tensor import Tensor

# torch's functions (torch.*, torch.linalg.*) that take out=, as distgrad has them
NAMESPACE = """
abs absolute acos acosh add addbmm addcdiv addcmul addmm addmv addr all amax amin aminmax angle any
arange
arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin asin asinh atan atan2 atanh
baddbmm bernoulli bitwise_and bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift
bitwise_xor bmm bucketize cat ceil chain_matmul cholesky cholesky_inverse cholesky_solve clamp
clamp_max clamp_min clip column_stack concat concatenate copysign cos cosh cross cummax cummin
cumprod cumsum deg2rad diag diff digamma div divide dot dstack empty eq erf erfc erfinv exp exp2
expm1 eye fix float_power floor floor_divide fmax fmin fmod frac frexp full gather gcd ge geqrf ger
greater greater_equal gt heaviside histc histogram histogramdd hstack hypot i0 igamma igammac index_add
index_copy index_reduce index_select inner inverse isneginf isposinf kron kthvalue ldexp le lcm lerp
less less_equal lgamma linspace log log10 log1p log2 log_softmax logaddexp logaddexp2 logcumsumexp
logical_and logical_not logical_or logical_xor logit logspace logsumexp lt lu_solve lu_unpack
masked_select matmul matrix_power max maximum mean median min minimum mm mode msort mul multinomial
multiply mv mvlgamma nan_to_num nanmean nanmedian nanquantile nansum narrow_copy ne neg negative
nextafter nonzero norm normal not_equal ones orgqr outer polygamma pow prod qr quantile rad2deg rand randint randn randperm
range reciprocal remainder renorm round row_stack rsqrt searchsorted sgn sigmoid sign signbit sin
sinc sinh softmax sort sqrt square stack std std_mean sub subtract sum svd take_along_dim tan tanh
tensordot topk triangular_solve tril triu true_divide trunc var var_mean vdot vstack where xlogy
zeros
""".split() + """
alias_copy as_strided_copy detach_copy diagonal_copy expand_copy frobenius_norm nuclear_norm
permute_copy select_copy slice_copy squeeze_copy t_copy transpose_copy unfold_copy
unsqueeze_copy view_copy
""".split()  # (the *_copy functions of one result, and the deprecated norms)
LINALG = """
cholesky cholesky_ex cond cross det eigh eigvalsh householder_product inv inv_ex lu lu_factor
lu_factor_ex lu_solve
matmul matrix_norm matrix_power matrix_rank multi_dot norm pinv qr slogdet solve solve_ex
solve_triangular svd svdvals tensorsolve vecdot vector_norm
""".split()

# Those whose kernels do not refuse an `out` that partly overlaps an input (torch's
# reductions, matrix products, linalg): what they write there is undefined in torch. Every
# other refuses, as torch's TensorIterator and cat, sort, gather... do.
OVERLAP_UNCHECKED = set("""
all amax amin aminmax any argmax argmin cholesky_inverse cummax cummin diag dot histc inner
inverse isneginf isposinf log_softmax logsumexp lu_solve lu_unpack matmul matrix_power max mean
median min mm mode
mv mvlgamma nanmean nanmedian nanquantile nansum narrow_copy norm prod quantile searchsorted
signbit softmax std std_mean sum tensordot tril triu var var_mean vdot bmm chain_matmul
""".split()) | set(LINALG) - {"cross"}  # (linalg's by their own names)


# The functions whose out must have one dtype, not any the result casts to: rule(k, out's
# dtype, the result's, kwargs, how many results) -> torch's message, or None when out k is
# right.
def _exact(k, out, result, kwargs, n):
    if out is not result:
        return f"Expected out tensor to have dtype {result.c_name}, but got {out.c_name} instead"


def _exact_with_indices(k, out, result, kwargs, n):
    """max and min: exact over a dim (values and indices); for the whole tensor any dtype
    it can be cast to."""
    if n == 2:
        return _exact(k, out, result, kwargs, n)
    if result.category > out.category:
        return ("Expected canCast( typeMetaToScalarType(self.dtype()), typeMetaToScalarType("
                "out.dtype())) to be true, but got false.  (Could this error message be "
                "improved?  If so, please report an enhancement request to PyTorch.)")


def _bool_only(name):
    return lambda k, out, result, kwargs, n: None if out.name == "bool" else \
        f"{name} only supports bool tensor for result, got: {out.long_name}"


def _boolean_outputs(name):
    return lambda k, out, result, kwargs, n: None if out.name == "bool" else \
        f"{name} does not support non-boolean outputs."


def _searchsorted(k, out, result, kwargs, n):
    flag = bool(kwargs.get("out_int32", False))
    if out.name != ("int32" if flag else "int64"):
        return ("torch.searchsorted(): output tensor's dtype is wrong, it can only be "
                "Int(int32) or Long(int64) depending on whether out_int32 flag is True, but we "
                f"got output tensor's dtype {out.long_name} and out_int32 flag is {flag}")


def _kthvalue(k, out, result, kwargs, n):
    if out is not result:
        return "output indices must be of scalar type Long" if k else \
            "output values must be of same type as input"


def _cumulative(k, out, result, kwargs, n):
    if out is not result:
        return f"expected scalar_type {result.long_name} but found {out.long_name}"


def _median(k, out, result, kwargs, n):
    if out is result:
        return None
    if k:
        return (f"Expected tensor for argument #1 'indices' to have scalar type Long; but got "
                f"torch.{out.long_name}Tensor instead (while checking arguments for median)")
    return (f"Expected tensor for 'values' to have the same type as tensor for argument #2 "
            f"'self'; but type torch.{out.long_name}Tensor does not equal "
            f"torch.{result.long_name}Tensor (while checking arguments for median)")


def _mode(k, out, result, kwargs, n):
    if out is not result:
        return (f"expected scalar type '{result.long_name}' but got '{out.long_name}' for "
                f"{'indices' if k else 'values'} output")


def _nonzero(k, out, result, kwargs, n):
    if out.name != "int64":
        return ("nonzero: Expected out tensor to have scalar type Long but got scalar "
                f"type{out.long_name}")  # (torch's words, without the space)


# cat and the functions made of it refuse an out their inputs cannot be cast to with
# cat's own TypeError, not TensorIterator's RuntimeError.
CAT_FAMILY = {"cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack",
              "column_stack", "row_stack"}


def _require_cat_castable(result, out) -> None:
    if result.category > out.category:
        raise TypeError(f"torch.cat(): input types can't be cast to the desired output type "
                        f"{out.long_name}")


# The reductions and scans whose result dtype torch takes from out (get_dtype_from_result):
# they compute in out's dtype, and refuse a dtype= that is not out's.
RESULT_DTYPE_FROM_OUT = {"sum", "prod", "cumsum", "cumprod"}
# The factories make their values in out's dtype too, given no dtype= (`zeros(2, out=long)`)
FACTORIES = {"arange", "empty", "eye", "full", "linspace", "logspace", "ones", "rand", "randint",
             "randn", "randperm", "range", "zeros"}
# Their kernels resize out themselves (resize_), without the resize warning; but arange
# warns in words of its own. Those making a sequence write it into an out of as many
# elements in out's shape.
SEQUENCES = {"arange", "range", "linspace", "logspace"}


def _nansum_dtype(args, kwargs: dict, out) -> dict:
    """nansum into out: an integer input's is sum's (dtype from out); a float input's with
    an integer dtype= too (its nans taken as 0), else computed in out's dtype, which must be
    dtype='s and a floating one."""
    input = args[0] if args else kwargs.get("input")
    asked = kwargs.get("dtype")
    if not input.dtype.is_floating_point or (asked is not None and
                                             not asked.is_floating_point):
        return _dtype_of_out(kwargs, out)
    if asked is not None and asked is not out.dtype:
        raise RuntimeError(f"nansum: provided dtype must match dtype of result. Got "
                           f"{out.dtype.long_name} and {asked.long_name}.")
    if not out.dtype.is_floating_point:
        raise NotImplementedError(f'"nansum_cpu" not implemented for \'{out.dtype.long_name}\'')
    return {**kwargs, "dtype": out.dtype}


def _dtype_of_out(kwargs: dict, out, factory: bool = False) -> dict:
    """kwargs with dtype= out's, refusing another dtype= in torch's words (a factory's own)."""
    asked = kwargs.get("dtype")
    if asked is not None and asked is not out.dtype:
        raise RuntimeError(
            f"dtype {asked.long_name} does not match dtype of out parameter "
            f"({out.dtype.long_name})" if factory else
            f"Expected out tensor to have dtype {asked.c_name}, but got {out.dtype.c_name} "
            "instead")
    return {**kwargs, "dtype": out.dtype}


def _found_dtype(k, out, result, kwargs, n):
    """TensorIterator's ops that do not promote (neg, abs, floor, sign, lerp...) want out of
    the result's very dtype."""
    if out is not result:
        return f"Found dtype {out.long_name} but expected {result.long_name}"


def _frexp(k, out, result, kwargs, n):
    if out is not result:
        return (f"torch.frexp() expects mantissa to have dtype {result.c_name} but got "
                f"{out.c_name}" if k == 0 else
                f"torch.frexp() expects exponent to have int dtype but got {out.c_name}")


def _clamp_by_numbers(k, out, result, kwargs, n):
    """clamp by numbers (the Scalar overloads) wants out of the result's dtype; by tensors
    it casts. Into its own input, its meta function refuses a higher category first, naming
    out's C++ type."""
    bounds = (kwargs.get("min"), kwargs.get("max"))
    if not any(isinstance(b, Tensor) for b in bounds):
        if kwargs.get("out") is kwargs.get("input") and result.category > out.category:
            return (f"result type {result.long_name} can't be cast to the desired output type "
                    f"{out.c_name}")
        return _found_dtype(k, out, result, kwargs, n)


def _lerp(k, out, result, kwargs, n):
    """lerp by a tensor weight wants out of the result's dtype; by a number it casts."""
    if isinstance(kwargs.get("weight"), Tensor):
        return _found_dtype(k, out, result, kwargs, n)


def _castable(name: str):
    """torch's linalg kernels that cast their result into out, in their own words where
    they cannot."""
    return lambda k, out, result, kwargs, n: None if result.category <= out.category else (
        f"{name}: Expected result to be safely castable from {result.long_name} dtype, but "
        f"got result with dtype {out.long_name}")


def _differing(message: str):
    """A rule refusing an out whose dtype is not the result's, in torch's words for the op
    (a format of `out` and `result`, the dtypes)."""
    return lambda k, o, r, kwargs, n: None if o is r else message.format(out=o, result=r)


def _ldexp(k, out, result, kwargs, n):
    if result.category > out.category:
        return f"ldexp can't be cast to the desired output type {out.long_name}"


OUT_DTYPES = {
    **dict.fromkeys(("argmax", "argmin", "sort", "topk", "msort", "aminmax"), _exact),
    "max": _exact_with_indices, "min": _exact_with_indices,
    "all": _bool_only("all"), "any": _bool_only("any"),
    **{n: _boolean_outputs(n) for n in ("isneginf", "isposinf", "signbit")},
    "searchsorted": _searchsorted, "bucketize": _searchsorted, "kthvalue": _kthvalue,
    "cummax": _cumulative, "cummin": _cumulative, "median": _median, "nanmedian": _median,
    "mode": _mode, "nonzero": _nonzero, "ldexp": _ldexp, "frexp": _frexp,
    **dict.fromkeys([n for n in NAMESPACE if n.endswith("_copy")] + ["frobenius_norm"], _exact),
    "nuclear_norm": _differing("linalg.matrix_norm expected out tensor dtype {result.long_name} "
                               "but got: {out.long_name}"),
    **dict.fromkeys(("clamp", "clip", "clamp_min", "clamp_max"), _clamp_by_numbers),
    **dict.fromkeys(("abs", "absolute", "neg", "negative", "ceil", "floor", "round", "trunc",
                     "fix", "frac", "sign", "sgn", "bitwise_not"), _found_dtype),
    "lerp": _lerp,
    # the kernels of torch's own that check out's dtype before they write
    **dict.fromkeys(("addmm", "addmv", "baddbmm", "bmm", "mm", "mv", "matmul", "diag",
                     "inverse", "tril", "triu", "take_along_dim", "cross", "renorm", "gather",
                     "index_add", "index_copy", "index_reduce", "softmax", "log_softmax",
                     "norm", "lu_unpack", "lu_solve"), _exact),
    # (matrix_power: an out it can be cast to must be of its dtype, else its own words)
    "matrix_power": lambda *a: _castable("matrix_power")(*a) or _exact(*a),
    **{name: _castable(name) for name in ("cholesky", "cholesky_solve", "cholesky_inverse")},
    "logcumsumexp": _cumulative,
    **dict.fromkeys(("tensordot", "inner"), _differing(
        "tensordot: Expected the output tensor to have dtype {result.long_name}, but got an "
        "output tensor with dtype {out.long_name}")),
    "addbmm": _differing("self and mat2 must have the same dtype, but got {out.long_name} and "
                         "{result.long_name}"),
    **dict.fromkeys(("dot", "vdot"), _differing(
        "result dtype {out.long_name} does not match input dtype {result.long_name}")),
    **dict.fromkeys(("histc", "histogram"), _differing(
        "torch.histogram: input tensor and hist tensor should have the same dtype, but got "
        "input {result.c_name} and hist {out.c_name}")),
    **{name: _differing(f"{name}(): self and result must have the same scalar type")
       for name in ("index_select", "masked_select")},
    **dict.fromkeys(("amax", "amin"), _differing(
        "Expected the dtype for input and out to match, but got {result.long_name} for "
        "input's dtype and {out.long_name} for out's dtype.")),
    **dict.fromkeys(("quantile", "nanquantile"), _differing(
        "quantile() out tensor must be same dtype as the input tensor")),
    "nan_to_num": _differing("nan_to_num: dtype of out: {out.long_name} should be same as "
                             "input: {result.long_name}"),
    "where": _differing("Expected out type to be {result.long_name} but got {out.long_name}"),
    "narrow_copy": _differing(
        "Expected self.dtype() == output.dtype() to be true, but got false.  (Could this error "
        "message be improved?  If so, please report an enhancement request to PyTorch.)"),
    "float_power": _differing("the output given to float_power has dtype {out.long_name} but "
                              "the operation's result requires dtype {result.long_name}"),
    "heaviside": _differing("heaviside is not yet implemented for tensors with different "
                            "dtypes."),
}

# torch.linalg's functions: their own words where they differ from torch's namesakes'
LINALG_OUT_DTYPES = {
    **dict.fromkeys(("inv", "det", "eigvalsh", "solve", "svdvals", "vector_norm", "cross",
                     "matmul"), _exact),
    **{name: _castable(f"linalg.{name}") for name in ("cond", "pinv")},
    **{name: _differing(f"linalg.{name} expected out tensor dtype {{result.long_name}} but "
                        "got: {out.long_name}") for name in ("norm", "matrix_norm")},
    "multi_dot": _differing("multi_dot(): expected out tensor to have dtype {result.c_name} "
                            "but got {out.c_name}"),
    "vecdot": _differing("linalg.vecdot: Expected out of dtype{result.long_name} but found "
                         "{out.long_name}"),
}


def add_out_param(namespace: dict, names, dtype_rules: dict = OUT_DTYPES,
                  differentiable: bool = True) -> None:
    """Give each function `names` lists in `namespace` torch's out= parameter, its out's
    dtype checked by `dtype_rules` (by name; any castable dtype where it has none). Those
    not `differentiable` (torch gives them no derivative) take arguments that require grad.
    `names` may map each to the name torch's errors give it (torch.special.expit: sigmoid)."""
    for name in names:
        fn = namespace.get(name)
        shown = names[name] if isinstance(names, dict) else name
        if fn is not None:
            namespace[name] = _taking_out(fn, shown, dtype_rules.get(shown), differentiable)


# Functions that parse their own overloads, out= among their parameters: their parser says
# what is wrong with an out that is no tensor (torch's invalid-combination TypeError).
PARSES_OUT = {"quantile", "nanquantile", "histogramdd"}  # (histogramdd: out = (hist, [edges]))

# Functions whose out= overload takes tensors only where another takes numbers too:
# {name: ((parameter, its position), ...)} (torch.where(c, 0.5, x) but not with out=).
TENSORS_WITH_OUT = {"where": (("input", 2), ("other", 3))}


def _require_tensors_with_out(name: str, named: dict) -> None:
    for param, position in TENSORS_WITH_OUT[name]:
        value = named.get(param)
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"{name}(): argument '{param}' (position {position}) must be "
                            f"Tensor, not {type(value).__name__}")


def _taking_out(fn, name, dtype_rule=None, differentiable=True):
    @functools.wraps(fn)
    def with_out(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        if name in PARSES_OUT and not isinstance(out, Tensor):
            return fn(*args, out=out, **kwargs)
        if name in TENSORS_WITH_OUT:
            _require_tensors_with_out(name, _named_arguments(fn, args, kwargs))
        outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if differentiable and grad_mode.is_grad_enabled() and any(
                isinstance(t, Tensor) and t.requires_grad
                for t in (*outs, *tensor_operands(args), *tensor_operands(kwargs.values()))):
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                               "automatic differentiation, but one of the arguments requires "
                               "grad.")
        if name in RESULT_DTYPE_FROM_OUT and isinstance(out, Tensor):
            kwargs = _dtype_of_out(kwargs, out)
        elif name in FACTORIES and isinstance(out, Tensor):
            kwargs = _dtype_of_out(kwargs, out, factory=True)
        elif name == "nansum" and isinstance(out, Tensor):
            kwargs = _nansum_dtype(args, kwargs, out)
        with grad_mode.no_grad():
            result = fn(*args, **kwargs)  # (first: torch checks the arguments before out)
        if isinstance(result, Tensor) and not isinstance(out, Tensor):
            raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
        results = tuple(result) if isinstance(result, tuple) else (result,)
        if dtype_rule is not None:
            named = _named_arguments(fn, args, kwargs)
            for k, (o, r) in enumerate(zip(outs, results)):
                if isinstance(o, Tensor) and isinstance(r, Tensor):
                    message = dtype_rule(k, o.dtype, r.dtype, {**named, "out": o}, len(results))
                    if message is not None:
                        raise RuntimeError(message)
        if name in CAT_FAMILY and isinstance(outs[0], Tensor):
            _require_cat_castable(results[0].dtype, outs[0].dtype)
        if name not in OVERLAP_UNCHECKED:
            inputs = tuple(tensor_operands(_overlap_checked(name, args, kwargs)))
            for o in outs:
                if isinstance(o, Tensor):
                    o._check_no_partial_overlap(*inputs)
        if len(results) != len(outs):
            raise TypeError(f"{name}(): argument 'out' must be tuple of {len(results)} "
                            f"Tensors, not {len(outs)}")
        for o, r in zip(outs, results):
            _write_into(o, r, name)
        if not isinstance(result, tuple):
            return out
        named = type(result)  # (values, indices, ...: the result's own type, its out= variant)
        if issubclass(named, return_types._NamedResult):
            return return_types.out_variant(named)(outs)
        return named(*outs) if hasattr(named, "_fields") else named(outs)
    return with_out


def _named_arguments(fn, args, kwargs) -> dict:
    """The call's arguments by parameter name (positional ones too), for a dtype rule."""
    try:
        return dict(inspect.signature(fn).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return kwargs


def _overlap_checked(name: str, args, kwargs) -> tuple:
    """The arguments torch checks out for overlap with: all, or a matrix product's added
    input alone (copied into out; its factors are read unchecked)."""
    if name in FACTORS_UNCHECKED:
        return args[:1] or (kwargs.get("input"),)
    return (*args, *kwargs.values())


def _write_into(out: Tensor, result: Tensor, name: str) -> None:
    if not isinstance(out, Tensor):
        raise TypeError(f"argument 'out' must be Tensor, not {type(out).__name__}")
    require_castable(result.dtype, out.dtype)
    with grad_mode.no_grad():
        if tuple(out.shape) == tuple(result.shape):
            out.copy_(result)
            return
        if name in SEQUENCES and out.numel() == result.numel():
            out.copy_(result.reshape(out.shape))
            return
        _warn_resized(out, result, name)
        strides = out.stride()
        # (its views see it, as torch's; laid out as the result, as torch restrides it)
        if resize_in_memory(out, result.shape, result.stride()):
            out._relaid_from(strides)
            out.copy_(result)
            return
        grown = result.to(dtype=out.dtype, device=out.device_str).clone()
        # (torch grows out's memory: out stays an inference tensor, or not, as it was)
        grown._storage.inference = out._storage.inference
        out.data = grown
        out._relaid_from(strides)
        out._count_write()  # (a write, as torch's resize and copy count it)


# Elementwise kernels torch builds to compute in out's own dtype (one resize of out).
_OUT_TYPED_KERNELS = frozenset({"floor_divide"})


def _warn_resized(out: Tensor, result: Tensor, name: str) -> None:
    """torch's warning for an out with elements that the op resizes: none from a factory's
    own resize_, arange's own words."""
    if out.numel() == 0 or (name in FACTORIES and name != "arange"):
        return
    if name == "arange":
        warn_range_resized(out.shape, out.numel(), result.numel())
        return
    warn_resized(out.shape, result.shape)
    op = OPS.get(name)
    if result.dtype is not out.dtype and result.dtype is not dtypes.bool_ and \
            op is not None and op.elementwise and name not in _OUT_TYPED_KERNELS:
        # (torch's TensorIterator computes in the result's dtype into a temporary that it
        # resizes out to as well, then copies into out)
        warn_resized(out.shape, result.shape)
