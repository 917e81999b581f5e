"""Grad mode: a per-thread flag saying whether ops record graph nodes.

Each context manager saves the flag on entry and restores it on exit, and doubles as a
decorator (of functions and of generator functions, whose every resumption then runs in
the mode), as torch's do. A new thread starts with grad mode on.
"""
from __future__ import annotations

import functools
import inspect
import sys
import threading
import warnings

_state = threading.local()


def grad_flag() -> bool:
    """Grad mode's flag, as torch.is_grad_enabled() reports it: on under enable_grad even
    inside inference_mode."""
    return getattr(_state, "enabled", True)


def is_grad_enabled() -> bool:
    """Whether ops record graph nodes: the flag is on and inference_mode is not (torch's
    inference_mode leaves autograd out altogether, so enable_grad inside it records
    nothing)."""
    state = _state  # (read inline: ops ask this several times each)
    return getattr(state, "enabled", True) and not getattr(state, "inference", False)


def _set_enabled(mode: bool) -> None:
    _state.enabled = bool(mode)


def is_inference_mode_enabled() -> bool:
    return getattr(_state, "inference", False)


def gradients_unseen() -> bool:
    """Is this thread running a backward whose gradients no user code can see (no hook, no
    custom Function, no autograd.grad output: engine.execute decides)? A VJP may then skip
    what shows only in a gradient's identity, not in its values (sum_to's view)."""
    return getattr(_state, "unseen", False)


def _set_gradients_unseen(unseen: bool) -> bool:
    """Set the flag gradients_unseen reads; returns the one it replaces."""
    prev = getattr(_state, "unseen", False)
    _state.unseen = unseen
    return prev


def _wrap_generator(ctx_factory, func):
    """Run each step of the generator `func` returns inside a fresh context manager."""

    @functools.wraps(func)
    def generator_context(*args, **kwargs):
        gen = func(*args, **kwargs)
        try:
            with ctx_factory():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with ctx_factory():
                        gen.close()
                    raise
                except BaseException:
                    with ctx_factory():
                        response = gen.throw(*sys.exc_info())
                else:
                    with ctx_factory():
                        response = gen.send(request)
        except StopIteration as e:
            return e.value

    return generator_context


class _DecoratorContextManager:
    """A context manager that is also a decorator: `@no_grad()` runs the function in it."""

    def __call__(self, orig_func):
        func = orig_func
        if inspect.isclass(orig_func):
            warnings.warn("Decorating classes is deprecated and will be disabled in future "
                          "versions. You should only decorate functions or methods. To preserve "
                          "the current behavior of class decoration, you can directly decorate "
                          "the `__init__` method and nothing else.", FutureWarning, stacklevel=2)

            def func(*args, **kwargs):
                return orig_func(*args, **kwargs)

        if inspect.isgeneratorfunction(func):
            return _wrap_generator(self.clone, func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__()


class _NoParamDecoratorContextManager(_DecoratorContextManager):
    """Also usable as a bare decorator: `@no_grad` as well as `@no_grad()`."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamDecoratorContextManager):
    """Ops inside record no graph: `with distgrad.no_grad(): y = x * 2`."""

    def __init__(self) -> None:
        self.prev = False

    def __enter__(self) -> None:
        self.prev = grad_flag()
        _set_enabled(False)

    def __exit__(self, *exc) -> None:
        _set_enabled(self.prev)


class enable_grad(_NoParamDecoratorContextManager):
    """Turns grad mode back on inside `no_grad` (as a block or a decorator)."""

    def __enter__(self) -> None:
        self.prev = grad_flag()
        _set_enabled(True)

    def __exit__(self, *exc) -> None:
        _set_enabled(self.prev)


class set_grad_enabled(_DecoratorContextManager):
    """Sets grad mode at once (as a function) or for a block (as a context manager or a
    decorator)."""

    def __init__(self, mode: bool) -> None:
        self.prev = grad_flag()
        self.mode = mode
        _set_enabled(mode)

    def __call__(self, orig_func):
        _set_enabled(self.prev)  # as a decorator it changes nothing until the call
        return super().__call__(orig_func)

    def __enter__(self) -> None:
        _set_enabled(self.mode)

    def __exit__(self, *exc) -> None:
        _set_enabled(self.prev)

    def __str__(self) -> str:
        return f"torch.autograd.grad_mode.set_grad_enabled(mode={self.mode})"

    __repr__ = __str__

    def clone(self):
        return self.__class__(self.mode)


class inference_mode(_DecoratorContextManager):
    """Like no_grad (mode=False turns grad mode back on); tensors made inside are
    inference tensors (`Tensor.is_inference`): outside, they cannot be saved for backward,
    written in place or made to require grad (their memory's flag, storage.py)."""

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)  # used as a bare decorator

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self._prev = (grad_flag(), is_inference_mode_enabled())
        _set_enabled(not self.mode)
        _state.inference = bool(self.mode)

    def __exit__(self, *exc) -> None:
        _set_enabled(self._prev[0])
        _state.inference = self._prev[1]

    def clone(self):
        return self.__class__(self.mode)
