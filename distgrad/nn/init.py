"""`distgrad.nn.init`: fill a tensor in place (under no_grad), from distgrad's generator.

Values come from `distgrad.manual_seed`'s stream (or `generator=`), drawn in torch's
order and torch's way: the same seed gives torch's numbers (trunc_normal_ and orthogonal_
to within float32 rounding, as their arithmetic after the draws differs).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..autograd.grad_mode import no_grad
from ..ops.rules import written
from ..tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_",
           "ones_", "eye_", "dirac_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
           "xavier_normal_", "orthogonal_", "sparse_"]


def calculate_gain(nonlinearity: str, param=None) -> float:
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, float) or isinstance(param, int) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor):
    """(fan_in, fan_out) of a weight: its input and output channels times its receptive
    field (torch's private name, which modules' reset_parameters call)."""
    if tensor.dim() < 2:  # (torch's dim(): refused for an uninitialized parameter)
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         "dimensions")
    receptive = 1
    for d in tensor.shape[2:]:
        receptive *= d
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor: Tensor, values: Tensor) -> Tensor:
    with no_grad():
        return tensor.copy_(values)


def _fill_array(tensor: Tensor, values) -> Tensor:
    """Copy values made in the driver (an array, or a function drawing one) into the tensor,
    wherever it lives (the copy runs there). A tensor without data (meta) gets none: its
    copy only checks, and no numbers are drawn for it, as torch draws none."""
    from ..creation import empty, tensor as make

    if tensor.is_meta:
        return _fill(tensor, empty(tuple(tensor.shape), dtype=tensor.dtype, device="meta"))
    if callable(values):
        values = values()
    return _fill(tensor, make(values, dtype=tensor.dtype, device="cpu"))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    from ..creation import random_stream

    # drawn in the driver (the same numbers wherever the tensor lives), then copied to it
    return _fill_array(tensor, lambda: random_stream(generator).uniform_values(
        tuple(tensor.shape), tensor.dtype.np, a, b))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    from ..creation import random_stream

    return _fill_array(tensor, lambda: random_stream(generator).normal_values(
        tuple(tensor.shape), tensor.dtype.np, mean, std, tensor.is_contiguous()))


def constant_(tensor: Tensor, val: float) -> Tensor:
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor: Tensor) -> Tensor:
    with no_grad():  # (torch's zero_, as an uninitialized parameter's refusal names it)
        return tensor.zero_()


def ones_(tensor: Tensor) -> Tensor:
    with no_grad():
        return tensor.fill_(1.0)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    # torch's order of operations, so the bound has torch's last bit
    bound = math.sqrt(3.0) * (gain / math.sqrt(fan)) if fan else 0.0
    return uniform_(tensor, -bound, bound, generator)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * (gain * math.sqrt(2.0 / float(fan_in + fan_out)))
    return uniform_(tensor, -bound, bound, generator)


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """N(0, std²) with std = gain / √fan (He et al.)."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """N(0, std²) with std = gain·√(2 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """N(mean, std²) truncated to [a, b] by torch's rejection sampling, draw for draw: redraw
    normals outside [a, b] while the bounds hold over 0.3 of the mass, else uniform
    candidates on [a, b] accepted with probability pdf / pdf's peak."""
    from ..creation import random_stream

    if tensor.is_meta:  # (torch draws nothing and writes nothing)
        return tensor
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The "
                      "distribution of values may be incorrect.", stacklevel=2)
    values, redrawn = _truncated_normal(random_stream(generator), tuple(tensor.shape),
                                        tensor.dtype.np, mean, std, a, b,
                                        tensor.is_contiguous())
    # (torch draws into the tensor, then copies the redrawn values in when there are any)
    return written(_fill_array(tensor, values), int(redrawn))


def _truncated_normal(stream, shape, dtype, mean, std, a, b, contiguous):
    """trunc_normal_'s values, drawn from `stream` as torch draws them, and whether any
    was drawn again."""
    def norm_cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    if norm_cdf((b - mean) / std) - norm_cdf((a - mean) / std) > 0.3:
        values = stream.normal_values(shape, dtype, mean, std, contiguous)
        outside = (values < dtype.type(a)) | (values > dtype.type(b))
        redrawn = bool(outside.any())
        while outside.any():
            values = np.where(outside, stream.normal_values(shape, dtype, mean, std), values)
            outside = (values < dtype.type(a)) | (values > dtype.type(b))
        return values, redrawn
    mode = max(a, min(mean, b))
    log_peak = dtype.type(-0.5 * ((mode - mean) / std) ** 2)

    def rejected(candidates):
        scaled = (candidates - dtype.type(mean)) / dtype.type(std)
        log_pdf = scaled * scaled * dtype.type(-0.5) - log_peak
        with np.errstate(divide="ignore"):
            return np.log(stream.uniform_values(shape, dtype)) > log_pdf

    values = stream.uniform_values(shape, dtype, a, b)
    pending = rejected(values)
    redrawn = bool(pending.any())
    while pending.any():
        candidates = stream.uniform_values(shape, dtype, a, b)
        values = np.where(pending, candidates, values)
        pending = np.where(pending, rejected(candidates), pending)
    return values, redrawn


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (ones on the diagonal of a 2-d tensor)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill_array(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Dirac deltas for a conv weight: each group's output channel d passes input channel d
    through at the kernel's centre."""
    dims = tensor.ndim
    if dims not in [3, 4, 5]:
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if tensor.shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    if tensor.is_meta:
        return tensor
    per_group = tensor.shape[0] // groups
    values = np.zeros(tuple(tensor.shape))
    centre = tuple(n // 2 for n in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, tensor.shape[1])):
            values[(g * per_group + d, d) + centre] = 1
    # (torch zeroes the tensor, then writes each delta by itself)
    return written(_fill_array(tensor, values), groups * min(per_group, tensor.shape[1]))


def orthogonal_(tensor: Tensor, gain: float = 1, generator=None) -> Tensor:
    """A (semi-)orthogonal matrix (trailing dims flattened) times gain: Q of the QR of a
    normal matrix, its columns' signs set by R's diagonal (Haar-distributed, as torch)."""
    from ..creation import random_stream

    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0 or tensor.is_meta:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows

    def draw() -> np.ndarray:
        flat = random_stream(generator).normal_values((rows, cols), tensor.dtype.np)
        flat = flat.astype(np.float64)
        if rows < cols:
            flat = flat.T
        q, r = np.linalg.qr(flat)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (q * gain).reshape(tuple(tensor.shape))
    return written(_fill_array(tensor, draw), 1)  # (torch: copy_, then mul_(gain))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator=None) -> Tensor:
    """N(0, std²) with ceil(sparsity · rows) zeros in each column, at random rows (as torch,
    a randperm of the rows per column, from the default stream whatever `generator`)."""
    from ..creation import random_stream

    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if tensor.is_meta:
        return tensor
    rows, cols = tensor.shape

    def draw() -> np.ndarray:
        values = random_stream(generator).normal_values((rows, cols), tensor.dtype.np, 0.0, std)
        num_zeros = math.ceil(sparsity * rows)
        for column in range(cols):
            values[random_stream().randperm(rows)[:num_zeros], column] = 0.0
        return values
    return written(_fill_array(tensor, draw), cols)  # (torch zeroes column by column)


# torch's deprecated names without the trailing underscore: the same init, with a warning.
def _deprecated(method):
    new_name = method.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
                      FutureWarning, stacklevel=2)
        return method(*args, **kwargs)

    deprecated_init.__name__ = deprecated_init.__qualname__ = old_name
    return deprecated_init


uniform, normal, constant, eye, dirac, xavier_uniform, xavier_normal, kaiming_uniform, \
    kaiming_normal, orthogonal, sparse = map(_deprecated, (
        uniform_, normal_, constant_, eye_, dirac_, xavier_uniform_, xavier_normal_,
        kaiming_uniform_, kaiming_normal_, orthogonal_, sparse_))
