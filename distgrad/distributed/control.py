"""The driver's own connection to each worker, for the messages a Ray actor call carried.

Why: a Ray actor call costs this driver 0.3-0.5 ms of CPU (and the worker about as much
to take and answer it); a message on a socket costs tens of microseconds. At small sizes
a step is a few messages per worker and little else, so the call was much of the step.
Ray still starts, places, kills and restarts the workers; every message of the wire
format (runs, reads, stats, checkpoint writes, test hooks) goes here, in order, on one
connection per worker.

How: each worker listens (`ControlServer`) on a Unix socket in the abstract namespace, and
on TCP at its node's address when the driver is on another node. The driver connects
(`ControlLink`) and opens with the runtime's secret, which the worker answers, as the
workers' own connections do (channels.py): a connection that has not opened within
`HELLO_TIMEOUT_S` is closed, and the driver connects again, within the time the runtime
gives a worker to start (init's timeout_s). The worker serves the messages one at a time,
in the order they came, on one thread, and answers each with its sequence number. The driver never waits to write:
what the socket does not take at once goes out from a writer thread (a stopped worker
then makes the driver's wait for its reply time out instead of the driver's write
hanging). A reader thread files each answer for the caller waiting on it; when the
connection closes (the worker died, or was replaced), every answer not yet in fails.

Frames, both ways: sequence number (u64), status (u8: 0 a message or its answer, 1 the
answer is the exception the handler raised, pickled), number of parts (u32), then per
part: kind (u8: 0 bytes, 1 an array, 2 a value not carried) and a u64, then for bytes that
many bytes (for a value not carried: its type, which the receiver gets as `NotCarried`);
for an array the u64 is its dtype's code as in channels.py (float32, float64, int64,
bool, int32, uint8, int16, int8, float16, bfloat16), then ndim (u8), the shape (i64 each)
and the raw bytes.
"""
from __future__ import annotations

import hmac
import itertools
import math
import pickle
import socket
import struct
import threading
import time
import uuid

import numpy as np

from .channels import _CODES, _DIM, _DTYPES, _MAX_NDIM, _TAKEN, HANDSHAKE_TIMEOUT_S, \
    HELLO_TIMEOUT_S, _close, _read_by, _read_exact, _read_into, _refuse, accept_each, \
    connect_by, open_with_hello

_FRAME = struct.Struct("<QBI")
_PART = struct.Struct("<BQ")  # kind, and a length of bytes (an array: its dtype's code)
_NDIM = struct.Struct("<B")
_OPENING = b"distgrad-control-1"
_OK, _RAISED = 0, 1


class LinkLost(ConnectionError):
    """The connection to a worker closed before its answer came."""

    def __init__(self, index: int, why: str, retired: bool = False):
        super().__init__(f"worker:{index}: connection closed ({why})")
        self.index, self.why, self.retired = index, why, retired


class Raised(Exception):
    """The handler on the worker raised `cause` for this message."""

    def __init__(self, cause: BaseException):
        super().__init__(repr(cause))
        self.cause = cause


# ---- frames -------------------------------------------------------------------------------------

class NotCarried:
    """What the worker gets in place of a value the link does not carry (neither bytes
    nor an array of a distgrad dtype): its checks refuse it as they refuse any wrong value."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self):
        return f"NotCarried({self.what})"


def _frame(seq: int, status: int, parts) -> bytes:
    out = [_FRAME.pack(seq, status, len(parts))]
    for p in parts:
        if isinstance(p, (bytes, bytearray, memoryview)):
            data = bytes(p)
            out.append(_PART.pack(0, len(data)))
            out.append(data)
        elif isinstance(p, np.ndarray) and p.dtype in _CODES:
            arr = p if p.flags.c_contiguous else np.ascontiguousarray(p)
            out.append(_PART.pack(1, _CODES[arr.dtype]) + _NDIM.pack(arr.ndim) +
                       b"".join(_DIM.pack(d) for d in arr.shape))
            out.append(arr.reshape(-1).view(np.uint8).data if arr.size else b"")
        else:
            what = f"{type(p).__name__} {getattr(p, 'dtype', '')}".strip().encode()
            out.append(_PART.pack(2, len(what)))
            out.append(what)
    return b"".join(out)


def _read_frame(s: socket.socket, max_elements: int | None = None):
    seq, status, n = _FRAME.unpack(_read_exact(s, _FRAME.size))
    parts = []
    for _ in range(n):
        kind, length = _PART.unpack(_read_exact(s, _PART.size))
        if kind in (0, 2):
            data = _read_exact(s, length)
            parts.append(data if kind == 0 else NotCarried(data.decode("utf-8", "replace")))
            continue
        if kind != 1 or length >= len(_DTYPES):
            raise ValueError(f"control frame: part kind {kind}, dtype code {length}")
        ndim = _NDIM.unpack(_read_exact(s, _NDIM.size))[0]
        if ndim > _MAX_NDIM:
            raise ValueError(f"control frame: an array of {ndim} dimensions")
        shape = [_DIM.unpack(_read_exact(s, _DIM.size))[0] for _ in range(ndim)]
        if any(d < 0 for d in shape) or (max_elements is not None and
                                          math.prod(shape) > max_elements):
            raise ValueError(f"control frame: array of shape {shape}")
        arr = np.empty(shape, dtype=_DTYPES[length])
        if arr.size:
            _read_into(s, arr)
        parts.append(arr)
    return seq, status, parts


def _pickled(e: BaseException) -> bytes:
    try:
        return pickle.dumps(e.with_traceback(None))
    except Exception:  # an exception that does not pickle arrives as its words
        return pickle.dumps(RuntimeError(f"{type(e).__name__}: {e}"))


def _unpickled(data: bytes) -> BaseException:
    try:
        return pickle.loads(data)
    except Exception as e:  # a class the driver does not have, say: its words still come
        return RuntimeError(f"the worker raised an exception the driver cannot rebuild "
                            f"({type(e).__name__}: {e})")


# ---- the worker's end ---------------------------------------------------------------------------

class ControlServer:
    """Listens for the driver and serves its messages with `serve(*parts) -> tuple` (the
    worker's handle), one at a time, in order."""

    def __init__(self, serve, secret: bytes, tcp_host: str | None = None,
                 max_elements: int | None = None,
                 hello_timeout_s: float = HELLO_TIMEOUT_S):
        self.serve, self.secret, self.max_elements = serve, secret, max_elements
        self.hello_timeout_s = hello_timeout_s  # a connection's time to open with the secret
        self.serving = threading.Lock()  # one message at a time, whichever connection
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix_name = "\0distgrad-control-" + uuid.uuid4().hex
        self.unix.bind(self.unix_name)
        self.unix.listen(4)
        listeners = [self.unix]
        self.tcp = None
        if tcp_host is not None:
            self.tcp = socket.create_server((tcp_host, 0))
            listeners.append(self.tcp)
        for listener in listeners:
            threading.Thread(target=self._accept, args=(listener,), daemon=True,
                             name="distgrad-control-accept").start()

    def address(self) -> dict:
        return {"unix": self.unix_name,
                "tcp": None if self.tcp is None else list(self.tcp.getsockname()[:2])}

    def _accept(self, listener: socket.socket) -> None:
        def take(s: socket.socket) -> None:
            try:
                threading.Thread(target=self._connection, args=(s,), daemon=True,
                                 name="distgrad-control").start()
            except RuntimeError:  # no thread to be had now: this opening fails, not the next
                _close(s)

        accept_each(listener, take)

    def _connection(self, s: socket.socket) -> None:
        try:
            opening = _read_by(s, len(_OPENING) + len(self.secret),
                               time.monotonic() + self.hello_timeout_s)
            s.settimeout(None)
            if not hmac.compare_digest(opening, _OPENING + self.secret):
                _refuse(s)  # (a driver of another runtime: it gives up at once)
                return
            s.sendall(_TAKEN)
        except (OSError, EOFError):
            _close(s)  # (the driver, if it was, connects again)
            return
        while True:
            try:
                seq, _, parts = _read_frame(s, self.max_elements)
            except (OSError, EOFError, ValueError, struct.error):
                _close(s)  # the driver is gone, or sent what no driver sends
                return
            with self.serving:
                try:
                    frame = _frame(seq, _OK, self.serve(*parts))
                except BaseException as e:  # the driver raises it (as Ray raised a task's)
                    frame = _frame(seq, _RAISED, [_pickled(e)])
                try:
                    s.sendall(frame)
                except OSError:
                    _close(s)
                    return


# ---- the driver's end ---------------------------------------------------------------------------

class Reply:
    """One message's answer, when it comes: its parts, or why it will not (a LinkLost, or
    the pickled exception the worker raised). Each read raises a new exception, as each
    ray.get did: a raised one holds its traceback, and with it the caller's frames."""

    __slots__ = ("event", "parts", "lost", "raised")

    def __init__(self):
        self.event = threading.Event()
        self.parts = None
        self.lost: LinkLost | None = None
        self.raised: bytes | None = None

    def done(self) -> bool:
        return self.event.is_set()


class Part:
    """Part `k` of a message's answer, or (k None) the whole answer as a tuple: what the
    Ray transport's k-th return, or its one return, was."""

    __slots__ = ("reply", "k")

    def __init__(self, reply: Reply, k):
        self.reply, self.k = reply, k

    def done(self) -> bool:
        return self.reply.event.is_set()

    def result(self, timeout=None):
        """The part; TimeoutError if the answer is not in after `timeout` s (None: no
        limit), LinkLost if it will not come, Raised if the worker's handler raised."""
        r = self.reply
        if not r.event.wait(timeout):
            raise TimeoutError
        if r.lost is not None:
            raise LinkLost(r.lost.index, r.lost.why, r.lost.retired)
        if r.raised is not None:
            raise Raised(_unpickled(r.raised))
        if self.k is None:
            return tuple(r.parts)
        if self.k >= len(r.parts):
            raise LinkLost(-1, f"the answer has {len(r.parts)} parts, not {self.k + 1}")
        return r.parts[self.k]


def answered(value) -> Part:
    """A handle on an answer that is in already (a message that needs no sending)."""
    reply = Reply()
    reply.parts = [value]
    reply.event.set()
    return Part(reply, None)


class ControlLink:
    """The driver's connection to worker `index` (see the module doc)."""

    def __init__(self, index: int, address: dict, secret: bytes, same_node: bool,
                 timeout_s: float = HANDSHAKE_TIMEOUT_S):
        self.index = index
        deadline = time.monotonic() + timeout_s

        def connect() -> socket.socket:
            s = connect_by(address["unix"] if same_node else None, address["tcp"], deadline)
            if not same_node:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s

        self.sock = open_with_hello(connect, _OPENING + secret, deadline,
                                    f"worker:{index} refused the driver's connection")
        self.lock = threading.Lock()  # sequence numbers, the pending answers, the backlog
        self.seq = itertools.count(1)
        self.pending: dict[int, Reply] = {}
        self.lost: LinkLost | None = None
        self.backlog: list = []  # bytes the socket did not take at once, in order
        self.writable = threading.Condition(self.lock)
        self.reader = threading.Thread(target=self._read, daemon=True,
                                       name=f"distgrad-control-{index}")
        self.reader.start()
        self.writer = None

    def call(self, parts, returns: int = 1) -> list:
        """Send one message (its parts: the payload, then arrays); handles on its answer's
        first `returns` parts (on the whole answer when `returns` is 1, as Ray's)."""
        reply = Reply()
        with self.lock:
            if self.lost is not None:
                reply.lost = self.lost
                reply.event.set()
            else:
                seq = next(self.seq)
                self.pending[seq] = reply
                self._write(_frame(seq, _OK, parts))
        if returns == 1:
            return [Part(reply, None)]
        return [Part(reply, k) for k in range(returns)]

    def close(self, why: str = "closed", retired: bool = False) -> None:
        """Close the connection; the answers not in yet fail with LinkLost."""
        self._lose(LinkLost(self.index, why, retired))
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        _close(self.sock)

    def _write(self, data: bytes) -> None:  # (holds self.lock)
        if not self.backlog:
            try:
                sent = self.sock.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError:
                return  # the reader sees the connection close and fails the answers
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        self.backlog.append(data)
        if self.writer is None:
            self.writer = threading.Thread(target=self._write_backlog, daemon=True,
                                           name=f"distgrad-control-write-{self.index}")
            self.writer.start()
        self.writable.notify()

    def _write_backlog(self) -> None:
        while True:
            with self.lock:
                while not self.backlog and self.lost is None:
                    self.writable.wait()
                if self.lost is not None:
                    return
                data = self.backlog[0]
            try:
                self.sock.sendall(data)
            except OSError:
                return
            with self.lock:
                self.backlog.pop(0)

    def _read(self) -> None:
        why = "the worker closed it"
        try:
            while True:
                seq, status, parts = _read_frame(self.sock)
                with self.lock:
                    reply = self.pending.pop(seq, None)
                if reply is None:
                    continue
                if status == _RAISED:
                    reply.raised = parts[0]
                else:
                    reply.parts = parts
                reply.event.set()
        except (OSError, EOFError, ValueError, struct.error) as e:
            why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        self._lose(LinkLost(self.index, why))

    def _lose(self, error: LinkLost) -> None:
        with self.lock:
            if self.lost is None:
                self.lost = error
            pending, self.pending = self.pending, {}
            self.backlog.clear()
            self.writable.notify_all()
        for reply in pending.values():
            reply.lost = self.lost
            reply.event.set()
