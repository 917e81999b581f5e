"""`distgrad.__future__`: torch's switches for how nn.Module conversions (`.to`, `.float`,
`.to_empty`) and, for the swap, load_state_dict change a module's parameters."""
from __future__ import annotations

_overwrite_module_params_on_conversion: bool = False
_swap_module_params_on_conversion: bool = False


def set_overwrite_module_params_on_conversion(value: bool) -> None:
    """Conversions give a module new Parameters instead of changing the existing ones'
    data in place."""
    global _overwrite_module_params_on_conversion
    _overwrite_module_params_on_conversion = value


def get_overwrite_module_params_on_conversion() -> bool:
    return _overwrite_module_params_on_conversion


def set_swap_module_params_on_conversion(value: bool) -> None:
    """Conversions and load_state_dict swap the converted or loaded tensor into each
    existing Parameter and buffer object (distgrad.utils.swap_tensors); this takes
    precedence over set_overwrite_module_params_on_conversion."""
    global _swap_module_params_on_conversion
    _swap_module_params_on_conversion = value


def get_swap_module_params_on_conversion() -> bool:
    return _swap_module_params_on_conversion
