"""torch's top-level in-place functions (`torch.relu_(x)`, `torch.exp_(x)`, ...): each is the
tensor's in-place method of that name, called on its `input`."""
from __future__ import annotations

from .tensor import Tensor

# (the torch functions whose Tensor method of the same name takes the same arguments)
NAMES = ("abs_ acos_ acosh_ addmv_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_ "
         "as_strided_ asin_ asinh_ atan_ atanh_ ceil_ clamp_ clamp_max_ cos_ cosh_ deg2rad_ "
         "detach_ erf_ erfc_ exp2_ exp_ expm1_ fill_ fix_ floor_ frac_ gcd_ i0_ index_put_ lcm_ "
         "ldexp_ log10_ log1p_ log2_ log_ logit_ neg_ negative_ rad2deg_ reciprocal_ relu_ "
         "resize_as_ round_ rsqrt_ sigmoid_ sin_ sinc_ sinh_ sqrt_ square_ tan_ tanh_ trunc_ "
         "xlogy_ zero_").split()


def _function(name: str):
    def function(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                            f"{type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    return function


globals().update((name, _function(name)) for name in NAMES)
__all__ = list(NAMES)
