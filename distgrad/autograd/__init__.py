"""distgrad.autograd: `backward`, `grad`, `Function`, `gradcheck`, `functional` — torch's API."""
from __future__ import annotations

from . import anomaly_mode, engine, grad_mode
from .anomaly_mode import detect_anomaly, set_detect_anomaly
from .differentiate import backward, grad
from .grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled
from .variable import Variable
from .engine import is_checkpoint_valid as _is_checkpoint_valid  # noqa: F401


def __getattr__(name):
    # Heavier pieces load on first use.
    if name == "Function":
        from .function import Function

        return Function
    if name in ("gradcheck", "gradgradcheck"):
        import importlib

        _gc = importlib.import_module(".gradcheck", __name__)
        # The function shadows its module, as in torch (the import bound the module here).
        globals().update(gradcheck=_gc.gradcheck, gradgradcheck=_gc.gradgradcheck)
        return getattr(_gc, name)
    if name in ("function", "functional", "profiler", "forward_ad"):
        import importlib  # `from . import functional` would re-enter this __getattr__

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(name)


__all__ = ["backward", "grad", "Function", "Variable", "gradcheck", "functional", "profiler",
           "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "grad_mode", "engine",
           "detect_anomaly", "set_detect_anomaly", "anomaly_mode", "graph", "forward_ad"]
