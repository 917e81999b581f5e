"""The errors of work done on workers, as the driver raises them.

An op that fails on a worker does not stop the run it is in: its results become failure
records (the error's type and message, the op and the worker), every op that uses one
of them makes failure records with the same error, and the rest of the run goes on.
Reading a tensor that holds a failure record raises the original error here, with its
type (torch's IndexError stays an IndexError) and the op and worker named.
"""
from __future__ import annotations

from ..ops.lapack import LinAlgError
from .wire import WireFormatError


class WorkerDiedError(RuntimeError):
    """A worker process died (or was restarted); raised in the driver at the next call
    that waits on it, and when a tensor it held (or one computed from it) is read.

    `.worker` is its device string ("worker:1"), `.index` its number.
    """

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index
        self.worker = f"worker:{index}" if index is not None else None


class DeadlineExceeded(TimeoutError):
    """The driver's wait for a worker's answer ran out of time (call_timeout_s, or the
    call's own limit): raised by the endpoints, so that a wait tells its own deadline
    apart from a TimeoutError the worker raised (a write to a disk that timed out, say),
    which is the worker's error and is reported as such."""


# The error types a failure record may name; any other comes back as a RuntimeError.
_TYPES = {t.__name__: t for t in (IndexError, RuntimeError, NotImplementedError,
                                  ZeroDivisionError, ValueError, TypeError, KeyError,
                                  MemoryError, TimeoutError, WireFormatError, LinAlgError)}


def record_of(error: BaseException, op: str, worker: int, key: int) -> dict:
    """A failure record: what the worker reports, and what a read raises. `key` names the
    failed op (its first result's id) so that the error is reported once."""
    record = {"type": type(error).__name__, "message": str(error), "op": op,
              "worker": worker, "key": key}
    peer = getattr(error, "peer", None)
    if peer is not None:  # a tensor from another worker that will not come (channels.py)
        record["peer"] = peer
        record["incarnation"] = getattr(error, "incarnation", 0)
    return record


def error_of(record: dict) -> BaseException:
    """The exception a read of a tensor holding `record` raises (not a worker death:
    the endpoint turns those into WorkerDiedError, see runtime.py)."""
    cls = _TYPES.get(record.get("type"), RuntimeError)
    message = record.get("message", "")
    if cls is RuntimeError and record.get("type") not in _TYPES:
        message = f"{record.get('type')}: {message}"
    where = f"op '{record.get('op')}' on worker:{record.get('worker')}"
    if cls is KeyError:
        return KeyError(f"{message} ({where})")
    return cls(f"{message} ({where})")


class ThreadErrors:
    """The failures of work no read has reported yet, by the driver thread whose ops
    caused them: `synchronize()` raises the calling thread's first one, and a thread
    never sees another's."""

    LIMIT = 64  # per thread: a thread that never synchronizes keeps only the first ones

    def __init__(self):
        import threading

        self.lock = threading.Lock()
        self.by_thread: dict = {}  # thread ident -> {key: exception}
        self.seen: dict = {}  # thread ident -> keys a read raised (a reply may come after)

    def add(self, threads, key, error: BaseException) -> None:
        with self.lock:
            for t in threads:
                if key in self.seen.get(t, ()):
                    continue
                errors = self.by_thread.setdefault(t, {})
                if len(errors) < self.LIMIT:
                    errors.setdefault(key, error)

    def reported(self, thread, key) -> None:
        """A read in `thread` raised the error of `key`: not to be raised again."""
        with self.lock:
            errors = self.by_thread.get(thread)
            if errors:
                errors.pop(key, None)
            seen = self.seen.setdefault(thread, set())
            if len(seen) > 4 * self.LIMIT:
                seen.clear()
            seen.add(key)

    def take(self, thread):
        """The first unreported error of `thread` (the rest are dropped), or None."""
        with self.lock:
            errors = self.by_thread.pop(thread, None)
        return next(iter(errors.values())) if errors else None

    def take_all(self) -> list:
        """Every thread's unreported errors, in the order they came (all dropped here)."""
        with self.lock:
            by_thread, self.by_thread = self.by_thread, {}
        return [e for errors in by_thread.values() for e in errors.values()]
