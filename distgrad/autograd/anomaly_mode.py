"""Anomaly detection: torch's `detect_anomaly` and `set_detect_anomaly`.

While the mode is on, every recorded node keeps the stack of the forward call that made
it (and, in a backward that builds a graph, the node whose backward made it), and the
engine runs each node through `checked`: a gradient with a nan raises torch's error, and
any error while a node runs first warns with that node's forward stack. Off, recording
pays one flag test per node.

A node that runs on a worker has its gradients checked on that worker (`isnan().any()`
runs there; only the answer comes back), so the check waits for each node's run: one
round trip per node, as torch's check waits for the device. The error then also names
the worker.
"""
from __future__ import annotations

import threading
import traceback
import warnings

from ..user_frames import PACKAGE, user_stacklevel
from . import grad_mode

_enabled = False  # process-wide, as torch's AnomalyMode
_check_nan = True
_running = threading.local()  # the node whose backward runs now (parent of nodes it records)


def is_anomaly_enabled() -> bool:
    return _enabled


def is_anomaly_check_nan_enabled() -> bool:
    return _check_nan


def set_anomaly_enabled(mode: bool, check_nan: bool = True) -> None:
    """torch.set_anomaly_enabled: the mode, with no warning and nothing to restore."""
    _set(mode, check_nan)


def _set(mode: bool, check_nan: bool) -> None:
    global _enabled, _check_nan
    _enabled, _check_nan = bool(mode), bool(check_nan)


class detect_anomaly:
    """Anomaly detection for a block (not a decorator, as in torch)::

        with distgrad.autograd.detect_anomaly():
            loss.backward()   # RuntimeError naming the node that returned nan
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.prev = _enabled
        self.check_nan = check_nan
        self.prev_check_nan = _check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self) -> None:
        _set(True, self.check_nan)

    def __exit__(self, *exc) -> None:
        _set(self.prev, self.prev_check_nan)


class set_detect_anomaly:
    """Sets anomaly detection at once (as a function) or for a block (as a context manager)."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = _enabled
        self.prev_check_nan = _check_nan
        self.mode, self.check_nan = mode, check_nan
        _set(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        _set(self.prev, self.prev_check_nan)


# recording -------------------------------------------------------------------------------
def note(node) -> None:
    """Keep the forward stack (user frames: distgrad's own are left out) on a new node."""
    stack = traceback.extract_stack()[:-1]
    # (a wrapper generated from a string, called by the user and calling into distgrad, is
    # distgrad's too)
    frames = [f for k, f in enumerate(stack) if not f.filename.startswith(PACKAGE) and not (
        f.filename == "<string>" and k + 1 < len(stack)
        and stack[k + 1].filename.startswith(PACKAGE))]
    lines, parent = traceback.format_list(frames), getattr(_running, "node", None)
    try:
        node._anomaly = ("".join(lines), parent)
        # (torch shows them in the node's metadata too)
        node.metadata["traceback_"] = lines
        if parent is not None:
            node.metadata["parent_"] = parent
    except AttributeError:  # (a node kind that keeps no stack)
        pass


# the engine's side -----------------------------------------------------------------------
def checked(node, run):
    """`run()` (the node's backward), its gradients checked for nan; on any error, the
    forward stacks of the node and of the nodes whose backward made it, as warnings."""
    prev = getattr(_running, "node", None)
    _running.node = node
    try:
        out = run()
        if _check_nan:
            _check(node, out)
        return out
    except BaseException:
        _warn_stacks(node)
        raise
    finally:
        _running.node = prev


class batched_backward:
    """A block of backwards torch runs under its legacy vmap (grad's is_grads_batched,
    functional.jacobian's vectorize): there its nan check's `.item()` has no batching rule."""

    def __enter__(self) -> None:
        self.prev = getattr(_running, "batched", False)
        _running.batched = True

    def __exit__(self, *exc) -> None:
        _running.batched = self.prev


BATCHED_ITEM = "Batching rule not implemented for aten::item. We could not generate a fallback."


def _check(node, grads) -> None:
    with grad_mode.no_grad():
        for i, g in enumerate(grads):
            if g is None or not g.dtype.is_floating_point:
                continue
            if getattr(_running, "batched", False):
                raise RuntimeError(BATCHED_ITEM)
            if not bool(g.isnan().any().item()):
                continue
            where = g.device_str
            msg = f"Function '{node.name()}' returned nan values in its {i}th output."
            if where.startswith("worker") or "sharded" in where:
                msg += f" (The gradient was computed on {where}.)"
            raise RuntimeError(msg)


def _warn_stacks(node) -> None:
    meta = getattr(node, "_anomaly", None)
    if meta is None:
        warnings.warn(f"Error detected in {node.name()}. No forward pass information available. "
                      "Enable detect anomaly during forward pass for more information.",
                      stacklevel=user_stacklevel())
        return
    stack, parent = meta
    warnings.warn(f"Error detected in {node.name()}. Traceback of forward call that caused the "
                  f"error:\n{stack}", stacklevel=user_stacklevel())
    while parent is not None:
        stack, grand = getattr(parent, "_anomaly", None) or ("", None)
        warnings.warn(f"\n\nPrevious calculation was induced by {parent.name()}. Traceback of "
                      f"forward call that induced the previous calculation:\n{stack}",
                      stacklevel=user_stacklevel())
        parent = grand
