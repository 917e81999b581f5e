"""distgrad: torch.autograd's API over numpy, with the graph spread over Ray workers.

`import distgrad as torch` runs torch.autograd code; `device="worker:K"` places a tensor
(and the ops on it, and their graph nodes) on worker K. See `distgrad.distributed`.
"""
from __future__ import annotations

import math as _math

from . import dtypes as _dtypes
from .dtypes import (bfloat16, dtype, float16, float32, float64, get_default_dtype,  # noqa: F401
                     int8, int16, int32, int64, uint8)
from .layouts import (channels_last, channels_last_3d, contiguous_format, layout,  # noqa: F401
                      memory_format, preserve_format, sparse_coo, strided)
from .tensor import Tensor, device
from .ops.table import Size
from .generator import Generator
from .ops import functions as _functions
from .ops.functions import *  # noqa: F401,F403  (add, mul, matmul, sum, ... as torch has them)
from .storage_objects import TypedStorage, UntypedStorage
from . import moves as _moves  # noqa: F401  (to_device; moves to and from the meta device)
from .creation import (arange, as_tensor, asarray, empty, empty_like, eye, from_numpy,
                       frombuffer, full, full_like, get_default_device, initial_seed, linspace,
                       manual_seed, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       randperm, scalar_tensor, seed, set_default_device,
                       set_default_tensor_type, tensor, zeros, zeros_like)
from .autograd.grad_mode import (enable_grad, inference_mode, is_inference_mode_enabled,
                                 no_grad, set_grad_enabled)
from .autograd.grad_mode import grad_flag as is_grad_enabled  # (torch's: the flag itself)
from .autograd.anomaly_mode import (is_anomaly_check_nan_enabled, is_anomaly_enabled,
                                     set_anomaly_enabled)
from . import autograd
from . import accelerator
from . import amp
from .foreach import *  # noqa: F401,F403  (torch._foreach_add_, ...)
from .amp import (GradScaler, autocast, autocast_decrement_nesting,  # noqa: F401
                  autocast_increment_nesting, clear_autocast_cache, get_autocast_cpu_dtype,
                  get_autocast_dtype,
                  is_autocast_available, is_autocast_cache_enabled, is_autocast_cpu_enabled,
                  is_autocast_enabled, set_autocast_cache_enabled, set_autocast_dtype,
                  set_autocast_enabled)
from .sampling import (bernoulli, binomial, default_generator, get_rng_state,  # noqa: F401
                       multinomial, normal, poisson, set_rng_state)
from .dtype_info import (can_cast, finfo, iinfo, is_complex, is_floating_point,  # noqa: F401
                         is_nonzero, isreal, set_default_dtype)
from .functional_aliases import (affine_grid_generator, avg_pool1d, channel_shuffle,  # noqa: F401
                                 conv1d, conv2d, cosine_similarity, dropout, embedding,
                                 grid_sampler, grid_sampler_2d, grid_sampler_3d, layer_norm,
                                 max_pool2d, pairwise_distance, pixel_shuffle, pixel_unshuffle)
from . import functional_aliases as _aliases
globals().update({_name: getattr(_aliases, _name) for _name in _aliases.TOP_LEVEL})
from .creation import LEGACY_TYPES as _LEGACY_TYPES, tensortype  # noqa: E402
from .creation import inclusive_range as range  # noqa: E402,A001  (torch.range, deprecated)
globals().update(_LEGACY_TYPES)  # (torch.FloatTensor, torch.LongTensor, ...)
from .inplace_functions import *  # noqa: F401,F403  (torch.relu_(x), torch.exp_(x), ...)
from .signal_windows import *  # noqa: F401,F403  (hann_window, ...)
from . import linalg
from . import special
from . import signal
from . import return_types  # noqa: F401  (torch.return_types)
from ._format import set_printoptions  # noqa: F401
from .settings import (are_deterministic_algorithms_enabled,  # noqa: F401
                       get_deterministic_debug_mode, get_float32_matmul_precision,
                       get_num_interop_threads, get_num_threads,
                       is_deterministic_algorithms_warn_only_enabled, is_warn_always_enabled,
                       set_deterministic_debug_mode, set_flush_denormal,
                       set_float32_matmul_precision, set_num_interop_threads, set_num_threads,
                       set_warn_always, use_deterministic_algorithms)

bool = _dtypes.bool_  # noqa: A001  (torch.bool)
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16

from .version import __version__  # noqa: E402

# torch's constants
pi, e, inf, nan = _math.pi, _math.e, _math.inf, _math.nan
newaxis = None


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_storage(obj) -> bool:
    """torch's test for its storage objects; distgrad hands out none (a tensor is not one)."""
    from .storage import Storage

    return isinstance(obj, Storage)


def numel(input) -> int:
    return input.numel()


def is_inference(input) -> bool:
    return input.is_inference()


def adjoint(input):
    return input.adjoint()


def typename(obj) -> str:
    """A tensor's type string ("torch.FloatTensor"); else the object's module and name."""
    if isinstance(obj, Tensor):
        return obj.type()
    if hasattr(obj, "__qualname__") or hasattr(obj, "__name__"):
        module = getattr(obj, "__module__", "") or ""
        name = getattr(obj, "__qualname__", None) or obj.__name__
    else:
        module, name = type(obj).__module__ or "", type(obj).__qualname__
    return name if module in ("", "builtins") else f"{module}.{name}"


def result_type(a, b):
    return _dtypes.result_type((a, b))


def promote_types(a, b):
    return _dtypes.promote(a, b)


def __getattr__(name):
    # Submodules that pull in more code load on first use: distgrad.nn, .optim, .distributed,
    # .cuda, .profiler, .testing, .func, .distributions, .backends, .random, .jit, .version.
    import importlib

    if name in ("nn", "optim", "distributed", "viz", "cuda", "cpu", "utils", "profiler", "testing",
                "func", "distributions", "backends", "random", "jit", "version", "compiler",
                "_dynamo", "__future__"):
        return importlib.import_module(f".{name}", __name__)
    if name == "vmap":  # torch.vmap is torch.func.vmap
        return importlib.import_module(".func", __name__).vmap
    raise AttributeError(f"module 'distgrad' has no attribute '{name}'")
from .serialization import load, save  # noqa: E402
from .control_flow import cond, while_loop  # noqa: E402
from .ops.histogramdd import histogramdd  # noqa: E402
from .compiler import compile  # noqa: E402,A001  (torch.compile's name)
from .out_param import LINALG as _OUT_LINALG, NAMESPACE as _OUT_NAMESPACE  # noqa: E402
from .out_param import LINALG_OUT_DTYPES as _LINALG_OUT_DTYPES  # noqa: E402
from .out_param import add_out_param as _add_out_param  # noqa: E402

_add_out_param(globals(), _OUT_NAMESPACE)
_add_out_param(vars(linalg), _OUT_LINALG, _LINALG_OUT_DTYPES)
from .ops.api import require_tensor_input as _require_tensor_input  # noqa: E402

_require_tensor_input(globals(), Tensor)  # (after out=: its check comes first, as torch's)
from .ops.tensor_arguments import require_tensor_arguments as _require_tensor_arguments  # noqa: E402,E501

_require_tensor_arguments(globals(), Tensor)
from .autocast_lists import install_torch as _install_autocast  # noqa: E402

_install_autocast(globals(), Tensor, linalg)  # (torch's CPU autocast lists: autocast_lists.py)
