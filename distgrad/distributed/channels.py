"""Worker-to-worker tensor delivery: a run's "send" writes a tensor straight to the worker
whose run will "recv" it, through neither the driver nor Ray's object store.

Why: a Ray object passed from one actor's run to another's costs a put into the object
store (page-faulted shared memory, ~1.5 ms per MB here) and a round through the owner
(the driver) before the second run may start: 4-5 ms for a 1 MB activation. Here the
receiving run is already running when the tensor is written, and the sender writes it as
soon as it is computed, even in the middle of its run.

How: every worker listens on a Unix socket in the abstract namespace (no file, not on the
network) for the workers of its node, and on TCP at its node's address when the runtime
spans nodes; each pair of workers keeps one connection, made when the runtime starts (the
worker with the lower index connects). A connection must open, within the time the
runtime gives its workers to start (`handshake_timeout_s`: init's timeout_s), with the
index of a worker below this one that has no connection yet and the runtime's secret
(random, from the driver), or it is closed. The listener answers a hello it takes with one
byte. A peer sends its hello as soon as it has connected, so the listener gives a hello
only `HELLO_TIMEOUT_S`: a silent connection holds one of the listener's handshake threads
that long at most, and a flood of them leaves room for the peers soon. A peer that is
slow to send its hello (a loaded machine, a pause of its process), or that finds every
handshake thread taken, is closed without the answer and connects again, until the time
the runtime gives its workers to start: it is not cut off sooner than init or
restart_worker would give up on it. A worker connecting gives up on the peers it has not
reached when the driver's deadline for the set-up does, and says which they were. A reader
thread per connection files what arrives in a mailbox by key, where a run's recv
waits. A frame that breaks the format below closes its connection. A peer's death closes its connection: a recv waiting on it raises PeerLostError
(the driver reports WorkerDiedError). A run that fails sends, in place of each tensor it
did not send, the reason, so its receivers fail instead of waiting.

Between two workers of one node, each direction of a connection whose sender has
`shared_memory` on also has a shared-memory segment (shm.py): right after the handshake
each end offers one (or none) and says whether it mapped the other's (shm.exchange). A
tensor of `shm.MIN_BYTES` or more then goes through it in chunks, the socket carrying
only a (slot, length) frame per chunk, so everything above holds for it too.

Frames: key (int64), status (0 a tensor, 1 a failure, 2 a run starts or ends (the key:
twice the runs the sender has started, plus 1 while in one), 3 a tensor through the
segment), dtype code, ndim, the shape (int64 each), then the raw bytes
(status 0), or a uint32 length and a UTF-8 message (status 1), or one (slot, length)
uint32 pair per chunk (status 3). A tensor's header is checked against `max_elements`
before its memory is allocated; when that allocation fails, its bytes are read and
dropped (so the sender never blocks) and the recv that waits for it raises MemoryError.
In-process workers (the local backend) share a `LocalHub` with the same interface.
"""
from __future__ import annotations

import errno
import hmac
import os
import socket
import struct
import threading
import time
import uuid

import numpy as np

from .. import dtypes
from . import shm

_HEAD = struct.Struct("<qBBB")
_DIM = struct.Struct("<q")
_LEN = struct.Struct("<I")
# A dtype's code is its place here (new dtypes go at the end: the codes stay).
_DTYPES = [np.dtype(d) for d in ("float32", "float64", "int64", "bool", "int32", "uint8", "int16",
                                 "int8", "float16")] + [dtypes.BF16]
_CODES = {d: k for k, d in enumerate(_DTYPES)}
_HELLO = struct.Struct("<qq")  # index, incarnation (which of its processes)
SECRET_BYTES = 32
# The status of a frame saying whether the sender is in a run, and how many it has started:
# key = 2 * started + (1 if in one)
_RUNNING = 2
_SHARED = 3  # the status of a tensor whose bytes come through the shared-memory segment
# How long a connection may take to open, when the driver gives no time of its own (init's
# default timeout_s): a worker's start-up, of which a peer's hello is part.
HANDSHAKE_TIMEOUT_S = 60.0
# How long a connection may take to send its hello: a peer sends it at once, and one that
# did not is closed and connects again (within the time above).
HELLO_TIMEOUT_S = 2.0
_MAX_HANDSHAKES = 64  # handshakes served at once; more connections are closed at once
_TAKEN, _REFUSED = b"\1", b"\0"  # the listener's answer to a hello with the secret
_RECONNECT_PAUSE_S = (0.01, 0.5)  # a peer's first and longest wait before connecting again
_ACCEPT_RETRY_S = 0.05  # a listener's wait after it could not accept a connection
_MAX_NDIM = 64  # numpy's limit
_MAX_MESSAGE = 65536  # a failure's reason, as send_failure cuts it
_DROP_CHUNK = 1 << 20  # bytes read at a time when dropping a tensor that could not be kept


class PeerLostError(RuntimeError):
    """The worker a run waits on for a tensor is gone (its connection closed)."""

    def __init__(self, peer: int, why: str, incarnation: int = 0):
        super().__init__(f"worker:{peer} is gone ({why}): the tensor this run waited for "
                         f"from it will not come")
        self.peer = peer
        self.why = why
        self.incarnation = incarnation  # which of the peer's processes (1: its first)

    def __reduce__(self):  # Ray pickles a run's exception to the driver
        return type(self), (self.peer, self.why, self.incarnation)


class PeerRunFailedError(RuntimeError):
    """The run that was to send a tensor failed before it did (`.peer` ran it; `.detail`
    is what it sent in the tensor's place: the failure record of an op, as JSON)."""

    def __init__(self, message: str, peer: int, detail: str = ""):
        super().__init__(message)
        self.peer = peer
        self.detail = detail

    def __reduce__(self):
        return type(self), (str(self), self.peer, self.detail)


class _Failed:
    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


class _NoMemory:
    """In the mailbox in place of a tensor this worker could not allocate."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


class _BadFrame(ValueError):
    """A frame that breaks the format: its connection is closed."""


class Mailbox:
    """Tensors that arrived, by (sender, key); per sender, whether it is running a run or
    idle since when, and whether its connection closed.

    A recv fails instead of waiting when its tensor cannot come any more: the sender's
    connection closed, or it has been idle for `idle_timeout_s` (the driver sends the
    sending run before the receiving one, so a sender that stays idle has nothing more
    to send: the message asked for a tensor no run sends). A sender that has not yet
    started every run the driver had sent it before the receiving run is not idle but
    late (a loaded machine may start a run seconds after it was sent): its idleness
    counts from when it has.
    """

    def __init__(self, idle_timeout_s: float = 60.0):
        self.cond = threading.Condition()
        self.items: dict = {}
        self.closed: dict = {}
        self.busy: dict = {}
        self.idle_since: dict = {}
        self.started: dict = {}  # per peer, how many runs its process has started
        self.incarnation: dict = {}  # per peer, how many connections it has had
        self.idle_timeout_s = idle_timeout_s

    def put(self, peer: int, key: int, item) -> None:
        with self.cond:
            self.items[(peer, key)] = item
            self.cond.notify_all()

    def running(self, peer: int, busy: bool, started: int | None = None) -> None:
        with self.cond:
            self.busy[peer] = busy
            if started is not None:
                self.started[peer] = started
            if not busy:
                self.idle_since[peer] = time.monotonic()
            self.cond.notify_all()

    def close(self, peer: int, why: str) -> None:
        with self.cond:
            self.closed.setdefault(peer, why)
            self.cond.notify_all()

    def reopen(self, peer: int, incarnation: int | None = None) -> None:
        """A new process took `peer`'s place (restart_worker): it starts idle, nothing
        of the old one's is waited for any more."""
        with self.cond:
            self.incarnation[peer] = incarnation if incarnation is not None else \
                self.incarnation.get(peer, 0) + 1
            self.closed.pop(peer, None)
            self.busy.pop(peer, None)
            self.started.pop(peer, None)
            self.idle_since[peer] = time.monotonic()
            self.cond.notify_all()

    def take(self, peer: int, key: int, wait: bool = True, incarnation: int | None = None,
             runs: int | None = None):
        """The tensor `key` from `peer`, waiting for it. `incarnation`: which of the peer's
        processes the run was sent for (the driver's count when it sent it); a tensor
        from an earlier process is never waited for once a later one has connected.
        `runs`: how many runs the driver had sent that process before the receiving run."""
        with self.cond:
            start = time.monotonic()  # idleness counts from when this recv began to wait
            seen = self.incarnation.get(peer, 0) if incarnation is None else incarnation
            while (peer, key) not in self.items:
                now = self.incarnation.get(peer, 0)
                if incarnation is None and seen == 0 and now:
                    seen = now  # (unstamped: the peer's first connection, landed meanwhile)
                if now > seen:
                    raise PeerLostError(peer, "it was restarted", seen)
                if now == seen and peer in self.closed:
                    raise PeerLostError(peer, self.closed[peer], seen)
                if now < seen:  # the process the run was sent for has not connected yet
                    idle = time.monotonic() - start
                elif runs is not None and self.started.get(peer, 0) < runs:
                    idle = 0.0  # the run that sends it may not have started yet
                else:
                    since = max(start, self.idle_since.get(peer, start))
                    idle = 0.0 if self.busy.get(peer) else time.monotonic() - since
                if not wait or idle > self.idle_timeout_s:
                    from .wire import WireFormatError

                    raise WireFormatError(f"field 'recv': worker:{peer} sends no tensor {key} "
                                          "(it is idle, and no run of it sent one)")
                self.cond.wait(min(1.0, max(0.01, self.idle_timeout_s - idle)))
            return self.items.pop((peer, key))


def _no_memory(index: int, peer: int, nbytes: int, dtype, shape, error) -> str:
    return (f"worker:{index} is out of memory: it could not allocate {nbytes} bytes for the "
            f"{np.dtype(dtype).name} tensor of shape {list(shape)} that worker:{peer} sent it "
            f"({error})")


def _received(peer: int, key: int, item, shape, dtype: str) -> np.ndarray:
    """What a recv gives its run: the array, checked against what the driver announced."""
    if isinstance(item, _NoMemory):
        raise MemoryError(item.message)
    if isinstance(item, _Failed):
        raise PeerRunFailedError(f"worker:{peer}'s run failed before it sent the tensor this "
                                 f"run needs: {item.message}", peer, item.message)
    if list(item.shape) != list(shape) or item.dtype.name != dtype:
        from .wire import WireFormatError

        raise WireFormatError(f"field 'recv': tensor {key} from worker:{peer} is a "
                              f"{item.dtype.name} {list(item.shape)}, the run expected a "
                              f"{dtype} {list(shape)}")
    return item


# ---- in-process workers ---------------------------------------------------------------------------

class LocalHub:
    """The mailboxes of in-process workers (the local backend)."""

    def __init__(self, n: int):
        self.boxes = [Mailbox() for _ in range(n)]

    def channels(self, index: int) -> "LocalChannels":
        return LocalChannels(self, index)


class LocalChannels:
    def __init__(self, hub: LocalHub, index: int):
        self.hub = hub
        self.index = index
        self.hooks = None  # the worker's test hooks (testhooks.py), or None
        self.sent_bytes = {"in_process": 0}

    def knows(self, peer: int) -> bool:
        return 0 <= peer < len(self.hub.boxes) and peer != self.index

    def running(self, busy: bool) -> None:
        pass  # a recv here never waits: the sending run ran first

    def send(self, peer: int, key: int, arr: np.ndarray, incarnation=None) -> None:
        # A row-major copy, as over a socket: the sender may write to its tensor in place later.
        self.hub.boxes[peer].put(self.index, key, np.array(arr, order="C", copy=True))
        self.sent_bytes["in_process"] += arr.nbytes

    def send_failure(self, peer: int, key: int, message: str, incarnation=None) -> None:
        self.hub.boxes[peer].put(self.index, key, _Failed(message))

    def recv(self, peer: int, key: int, shape, dtype: str, incarnation=None,
             runs=None) -> np.ndarray:
        # The sending run ran first (the driver sends a run after those it receives from).
        item = self.hub.boxes[self.index].take(peer, key, wait=False)
        if self.hooks is not None and isinstance(item, np.ndarray):
            try:  # (the copy send made stands for this worker's allocation)
                self.hooks.allocate(item.nbytes)
            except MemoryError as e:
                raise MemoryError(_no_memory(self.index, peer, item.nbytes, item.dtype,
                                             item.shape, e)) from None
        return _received(peer, key, item, shape, dtype)


# ---- worker processes -----------------------------------------------------------------------------

class SocketChannels:
    """One worker process's connections to its peers (see the module doc)."""

    def __init__(self, index: int, node: str, idle_timeout_s: float = 60.0,
                 secret: bytes = b"\0" * SECRET_BYTES, max_elements: int = 2 ** 28,
                 hooks=None, shared_memory: bool = False, incarnation: int = 1,
                 handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
                 hello_timeout_s: float = HELLO_TIMEOUT_S):
        self.index = index
        self.handshake_timeout_s = handshake_timeout_s  # a peer's time to open a connection
        self.hello_timeout_s = hello_timeout_s  # a connection's time to send its hello
        self.incarnation = incarnation  # which of this worker's processes this is (1: the first)
        self.node = node
        self.secret = secret  # the runtime's: a connection must present it
        self.max_elements = max_elements  # the largest tensor a frame may announce
        self.hooks = hooks  # the worker's test hooks (testhooks.py), or None
        self.box = Mailbox(idle_timeout_s)
        self.socks: dict[int, socket.socket] = {}
        self.send_locks: dict[int, threading.Lock] = {}
        # Per peer on this node: the shared-memory segment this worker sends through (shm.py)
        self.shared_memory = shared_memory and shm.available()
        self.rings: dict[int, shm.Outgoing] = {}
        self.readers: dict[int, threading.Thread] = {}
        self.sent_bytes = {"socket": 0, "shared_memory": 0}
        self.registered = threading.Condition()
        # Whether this worker is in a run, as its peers were told: one telling at a time, so
        # that a connection taken in meanwhile hears the state last told (_register).
        self.busy = False
        self.started = 0  # runs this process has started
        self.telling = threading.Lock()
        self.handshakes = threading.BoundedSemaphore(_MAX_HANDSHAKES)
        self.token = uuid.uuid4().hex[:12]  # names this worker's socket and segments
        self.unix_name = f"\0distgrad-{os.getpid()}-{index}-{self.token}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(self.unix_name)
        self.unix.listen(64)
        self.tcp = None
        self._serve(self.unix)

    # ---- set-up: listen, then connect every pair once ------------------------------------
    def address(self, tcp_host: str | None = None) -> dict:
        """Where peers reach this worker; listens on TCP at `tcp_host` when it is given."""
        tcp = None
        if tcp_host is not None:
            if self.tcp is None:
                self.tcp = socket.create_server((tcp_host, 0))
                self._serve(self.tcp)
            tcp = list(self.tcp.getsockname()[:2])
        return {"index": self.index, "node": self.node, "unix": self.unix_name, "tcp": tcp,
                "incarnation": self.incarnation}

    def connect(self, table: list, to_all: bool = False,
                timeout_s: float | None = None) -> None:
        """Connect to the peers after this one in `table` (the earlier ones connect here),
        or to every peer (`to_all`: a restarted worker, whose peers are already up), then
        wait until every peer is connected: within timeout_s (the driver's time left for
        the set-up; None: handshake_timeout_s), or ConnectionError naming the peers not
        reached."""
        timeout_s = self.handshake_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        for peer in table:
            k = peer["index"]
            if k == self.index or (k < self.index and not to_all):
                continue
            try:
                self._connect_to(peer, deadline)
            except (OSError, EOFError, ValueError) as e:
                raise ConnectionError(f"worker:{self.index} could not reach worker:{k} within "
                                      f"{timeout_s:.3g} s ({type(e).__name__}: {e})") from None
        others = {p["index"] for p in table} - {self.index}
        with self.registered:
            if not self.registered.wait_for(lambda: others <= set(self.socks),
                                            timeout=max(0.0, deadline - time.monotonic())):
                missing = ", ".join(f"worker:{k}" for k in sorted(others - set(self.socks)))
                raise ConnectionError(f"worker:{self.index}: no connection from {missing} "
                                      f"within {timeout_s:.3g} s")

    def _connect_to(self, peer: dict, deadline: float) -> None:
        s = open_with_hello(lambda: self._open(peer, deadline),
                            _HELLO.pack(self.index, self.incarnation) + self.secret, deadline,
                            f"worker:{peer['index']} refused worker:{self.index}'s process "
                            f"{self.incarnation}")
        try:
            self._register(peer["index"], s, peer.get("incarnation", 1), deadline)
        except BaseException:
            _close(s)
            raise

    def _open(self, peer: dict, deadline: float) -> socket.socket:
        """A connection to `peer`, its hello not sent yet."""
        s = connect_by(peer["unix"] if peer["node"] == self.node else None, peer["tcp"],
                       deadline)
        if self.hooks is not None:
            self.hooks.enter(self.index, "hello")  # connected, its hello not sent yet
        return s

    def _serve(self, listener: socket.socket) -> None:
        def take(s: socket.socket) -> None:
            if not self.handshakes.acquire(blocking=False):
                s.close()  # a flood of connections: a peer among them connects again
                return
            try:
                threading.Thread(target=self._handshake, args=(s,), daemon=True,
                                 name="distgrad-handshake").start()
            except RuntimeError:  # no thread to be had now: as when every one is taken
                self.handshakes.release()
                s.close()

        threading.Thread(target=accept_each, args=(listener, take), daemon=True,
                         name="distgrad-accept").start()

    def _handshake(self, s: socket.socket) -> None:
        """Keep `s` if it opens as a peer of this runtime (see the module doc), else close it."""
        try:
            try:
                hello = _read_by(s, _HELLO.size + SECRET_BYTES,
                                 time.monotonic() + self.hello_timeout_s)
                peer, incarnation = _HELLO.unpack(hello[:_HELLO.size])
                ok = hmac.compare_digest(hello[_HELLO.size:], self.secret)
                s.settimeout(None)
            except (OSError, EOFError):
                ok = False
            # Only a worker below this one connects here (see connect), or a restarted one
            # this worker knew (it connects to every peer): never an index that does not exist.
            # Nor a process of a peer older than the one taken in (a restart that failed may
            # leave one running for a while, on another node: its hello comes late).
            if not ok:
                s.close()
            elif not (0 <= peer < self.index or peer in self.socks) or \
                    peer == self.index or incarnation < self.box.incarnation.get(peer, 0):
                _refuse(s)  # a process of this runtime: it gives up at once
            else:
                try:
                    s.sendall(_TAKEN)
                    self._register(peer, s, incarnation,
                                   time.monotonic() + self.handshake_timeout_s)
                except (OSError, EOFError, ValueError):
                    _close(s)  # the peer went, or the segments' exchange failed
        finally:
            self.handshakes.release()

    def _register(self, peer: int, s: socket.socket, incarnation: int, deadline: float) -> None:
        ring = incoming = None
        if s.family != socket.AF_UNIX:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:  # a peer on this node: each end offers a segment for what it sends (shm.py)
            offer = None
            if self.shared_memory:
                try:
                    offer = shm.Outgoing(f"distgrad-shm-{self.index}-to-{peer}-{self.token}")
                except OSError:
                    pass  # no shared memory to be had: this direction stays on the socket
            ring, incoming = shm.exchange(s, offer, _left(deadline))
        if self.hooks is not None and peer in self.socks:
            self.hooks.enter(self.index, "rejoin")  # a restarted peer's, before it is taken in
        with self.registered:
            old = self.socks.get(peer)
            old_lock, old_ring = self.send_locks.get(peer), self.rings.pop(peer, None)
            self.socks[peer] = s
            self.send_locks[peer] = threading.Lock()
            if ring is not None:
                self.rings[peer] = ring
            reader = threading.Thread(target=self._read, args=(peer, s, incoming), daemon=True,
                                      name=f"distgrad-recv-{peer}")
            self.readers[peer] = reader
            # The mailbox hears of the new process before its first frame, and the reader
            # starts before anyone can see it (close() joins every reader it finds).
            if old is not None:
                self.box.reopen(peer, incarnation)
            else:
                with self.box.cond:
                    self.box.incarnation[peer] = incarnation
            reader.start()
            self.registered.notify_all()
        if old is None:
            return
        # The peer was restarted: its old connection is done (shut down, so that its reader
        # thread wakes and ends).
        _close(old)
        if old_ring is not None:
            _drop_ring(old_ring, old_lock, "the worker was restarted")
        # A restarted peer's new process hears this worker's state too: told only to the old
        # one, a run under way here would look idle to it (its recv from here would give up),
        # and the runs started here would look not started yet (it would never give up).
        with self.telling:
            try:
                self._write(peer, self._state(), b"", (s, self.send_locks[peer]))
            except PeerLostError:
                pass

    def _read(self, peer: int, s: socket.socket, incoming: "shm.Incoming | None") -> None:
        try:
            self._read_frames(peer, s, incoming)
        finally:
            if incoming is not None:
                incoming.close()  # (this reader was its only user)

    def _read_frames(self, peer: int, s: socket.socket, incoming) -> None:
        try:
            while True:
                key, status, code, ndim = _HEAD.unpack(_read_exact(s, _HEAD.size))
                if status == 0:
                    self._read_tensor(peer, s, key, code, ndim)
                elif status == _SHARED:
                    if incoming is None:
                        raise _BadFrame("a shared-memory tensor, but no segment was set up")
                    self._read_tensor(peer, s, key, code, ndim, incoming)
                elif status == _RUNNING:
                    if key < 0 or ndim:
                        raise _BadFrame(f"a run-state frame with key {key}, ndim {ndim}")
                    with self.registered:  # (a replaced connection's: the old process's)
                        if self.socks.get(peer) is s:
                            self.box.running(peer, bool(key & 1), key >> 1)
                elif status == 1:
                    if ndim:
                        raise _BadFrame(f"a failure frame with ndim {ndim}")
                    n = _LEN.unpack(_read_exact(s, _LEN.size))[0]
                    if n > _MAX_MESSAGE:
                        raise _BadFrame(f"a failure message of {n} bytes")
                    self.box.put(peer, key, _Failed(_read_exact(s, n).decode("utf-8", "replace")))
                else:
                    raise _BadFrame(f"status {status}")
        except (OSError, EOFError, struct.error, _BadFrame) as e:
            if incoming is not None:
                incoming.close()  # the peer's segment, before anyone hears it is gone
            if isinstance(e, _BadFrame):
                why = f"it sent a bad frame ({e}), so its connection was closed"
                _close(s)
            elif isinstance(e, EOFError):
                why = "its connection closed"
            else:
                why = f"its connection failed: {type(e).__name__}: {e}"
            if self.hooks is not None:
                self.hooks.enter(self.index, "lost")  # before the end is filed
            # Whether this is still the peer's connection, and the mailbox told so, at once:
            # a restarted peer's new one may be taken in meanwhile (_register), and the new
            # process must not be taken for gone.
            with self.registered:
                current = self.socks.get(peer) is s
                if current:
                    ring = self.rings.pop(peer, None)
                    if ring is not None:  # a send waiting for a free slot fails, not waits
                        _drop_ring(ring, self.send_locks[peer], why)
                    self.box.close(peer, why)
            if not current:
                _close(s)  # a connection the peer's restart replaced

    def _read_tensor(self, peer: int, s: socket.socket, key: int, code: int, ndim: int,
                     incoming=None) -> None:
        """A tensor frame's shape and bytes (from the socket, or through `incoming`, the
        peer's segment): checked before its memory is allocated, and read to the end even
        when that allocation fails (the sender is writing it)."""
        if code >= len(_DTYPES) or ndim > _MAX_NDIM:
            raise _BadFrame(f"dtype code {code}, ndim {ndim}")
        shape = [_DIM.unpack(_read_exact(s, _DIM.size))[0] for _ in range(ndim)]
        numel = 1
        for d in shape:
            if d < 0:
                raise _BadFrame(f"shape {shape}")
            numel *= d
        if numel > self.max_elements:
            raise _BadFrame(f"a tensor of shape {shape}, more than {self.max_elements} elements")
        dtype = _DTYPES[code]
        nbytes = numel * dtype.itemsize
        try:
            if self.hooks is not None:
                self.hooks.allocate(nbytes)
            arr = np.empty(shape, dtype)
        except MemoryError as e:
            if incoming is not None:
                _read_chunks(s, incoming, None, nbytes)
            else:
                _drop(s, nbytes)
            self.box.put(peer, key, _NoMemory(_no_memory(self.index, peer, nbytes, dtype, shape, e)))
            return
        if incoming is not None:
            _read_chunks(s, incoming, arr.reshape(-1).view(np.uint8), nbytes)
        else:
            _read_into(s, arr)
        self.box.put(peer, key, arr)

    # ---- a run's instructions ------------------------------------------------------------
    def knows(self, peer: int) -> bool:
        return peer in self.socks

    def send(self, peer: int, key: int, arr: np.ndarray, incarnation=None) -> None:
        conn, ring = self._connection(peer, incarnation)
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-dim one 1-dim)
            arr = arr.copy(order="C")
        ring = ring if arr.nbytes >= shm.MIN_BYTES else None
        head = _HEAD.pack(key, 0 if ring is None else _SHARED, _CODES[arr.dtype],
                          arr.ndim) + b"".join(_DIM.pack(d) for d in arr.shape)
        if ring is None:
            self._write(peer, head, arr.reshape(-1).view(np.uint8).data, conn)
            self.sent_bytes["socket"] += arr.nbytes
        else:
            self._write_through(peer, ring, head, arr.reshape(-1).view(np.uint8), conn)
            self.sent_bytes["shared_memory"] += arr.nbytes

    def running(self, busy: bool) -> None:
        """Tell every peer this worker starts (or ends) a run (see Mailbox)."""
        with self.telling:
            self.busy = busy
            self.started += busy
            frame = self._state()
            for peer in list(self.socks):
                try:
                    self._write(peer, frame, b"")
                except PeerLostError:
                    pass

    def _state(self) -> bytes:
        """The frame telling whether this worker is in a run and how many it has started."""
        return _HEAD.pack(2 * self.started + self.busy, _RUNNING, 0, 0)

    def send_failure(self, peer: int, key: int, message: str, incarnation=None) -> None:
        data = message.encode("utf-8")[:65536]
        try:
            conn, _ = self._connection(peer, incarnation)
            self._write(peer, _HEAD.pack(key, 1, 0, 0) + _LEN.pack(len(data)), data, conn)
        except PeerLostError:
            pass  # nobody is left to wait for it

    def _connection(self, peer: int, incarnation):
        """((socket, send lock), shared-memory ring or None) to `peer`'s process that the
        run was sent for (`incarnation`, the driver's count; None: whichever is connected).
        restart_worker returns once the new process has connected from its side; this
        worker's handshake thread may take it in only after the driver sent a run: a send
        then waits for it (into the old process's connection it would be lost). A run sent
        before the restart sends to no one: its receiver went with the old process (in the
        new one's mailbox the tensor would be kept for no run)."""
        with self.registered:
            if incarnation is not None and not self.registered.wait_for(
                    lambda: self.box.incarnation.get(peer, 0) >= incarnation,
                    timeout=self.handshake_timeout_s):
                raise PeerLostError(peer, f"its process {incarnation} did not connect "
                                    f"within {self.handshake_timeout_s} s", incarnation)
            if incarnation is not None and self.box.incarnation.get(peer, 0) > incarnation:
                raise PeerLostError(peer, "it was restarted", incarnation)
            return (self.socks[peer], self.send_locks[peer]), self.rings.get(peer)

    def _write(self, peer: int, head: bytes, body, conn=None) -> None:
        s, lock = conn or (self.socks[peer], self.send_locks[peer])
        try:
            with lock:
                s.sendall(head)
                if len(body):
                    s.sendall(body)
        except OSError as e:
            raise PeerLostError(peer, f"sending to it failed: {e}",
                                self.box.incarnation.get(peer, 0)) from None

    def _write_through(self, peer: int, ring: shm.Outgoing, head: bytes, data: np.ndarray,
                       conn) -> None:
        """A tensor's header on the socket, then its bytes chunk by chunk through the ring,
        each chunk announced on the socket once it is in its slot."""
        s, lock = conn
        try:
            with lock:
                try:
                    s.sendall(head)
                    for start in range(0, len(data), ring.slot_bytes):
                        chunk = data[start:start + ring.slot_bytes]
                        s.sendall(shm.SLOT.pack(ring.write(chunk), len(chunk)))
                finally:
                    if ring.lost is not None:  # the connection ended during this send:
                        ring.close()  # _drop_ring left the unmapping to it
        except OSError as e:
            raise PeerLostError(peer, f"sending to it failed: {e}",
                                self.box.incarnation.get(peer, 0)) from None

    def recv(self, peer: int, key: int, shape, dtype: str, incarnation=None,
             runs=None) -> np.ndarray:
        return _received(peer, key, self.box.take(peer, key, incarnation=incarnation,
                                                  runs=runs), shape, dtype)

    def close(self) -> None:
        """Stop listening, close every connection and unmap every segment (once the
        readers have ended, each unmapping its peer's)."""
        for listener in (self.unix, self.tcp):
            if listener is not None:
                _close(listener)
        with self.registered:
            socks, readers = list(self.socks.values()), list(self.readers.values())
        for s in socks:
            _close(s)
        for reader in readers:
            reader.join()


def _drop_ring(ring: shm.Outgoing, lock: threading.Lock, why: str) -> None:
    """A connection's end: a send waiting for a slot of `ring` fails; it is unmapped now if
    no send is under way, else when that send, holding the lock, has failed."""
    ring.lose(why)
    if lock.acquire(blocking=False):
        try:
            ring.close()
        finally:
            lock.release()


def _read_chunks(s: socket.socket, incoming: shm.Incoming, data, nbytes: int) -> None:
    """A tensor's bytes through the peer's segment, into `data` (uint8; None drops them)."""
    pos = 0
    while pos < nbytes:
        slot, n = shm.SLOT.unpack(_read_exact(s, shm.SLOT.size))
        if n != min(incoming.slot_bytes, nbytes - pos):
            raise _BadFrame(f"a chunk of {n} bytes at byte {pos} of {nbytes}")
        try:
            incoming.read(slot, n, None if data is None else data[pos:pos + n])
        except ValueError as e:
            raise _BadFrame(str(e)) from None
        pos += n


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)  # the peer's reads and writes fail now
    except OSError:
        pass
    s.close()


def connect_by(unix, tcp, deadline: float) -> socket.socket:
    """A connection to the Unix socket named `unix` or, when that is None, to the TCP
    address `tcp` ([host, port]), made by `deadline`."""
    if unix is None:
        return socket.create_connection(tuple(tcp), timeout=_left(deadline))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(_left(deadline))
        s.connect(unix)
    except BaseException:
        s.close()
        raise
    return s


def open_with_hello(connect, hello: bytes, deadline: float, refused: str) -> socket.socket:
    """A connection (made by connect()) whose listener took `hello`, its answer read: made
    again each time the listener closes it before it answers (the hello came after its
    short deadline, or no handshake thread was free there), until `deadline`. Raises
    ConnectionRefusedError(refused) when the listener refuses it, TimeoutError when it
    does not answer by then (an OSError in every case)."""
    pause = _RECONNECT_PAUSE_S[0]
    while True:
        try:
            return _say_hello(connect(), hello, deadline, refused)
        except (BlockingIOError, EOFError, ConnectionResetError, BrokenPipeError) as e:
            if _left(deadline) <= pause:
                if isinstance(e, EOFError):
                    raise ConnectionAbortedError("closed before it answered the hello") from None
                raise
            time.sleep(pause)
            pause = min(2 * pause, _RECONNECT_PAUSE_S[1])


def _say_hello(s: socket.socket, hello: bytes, deadline: float, refused: str) -> socket.socket:
    try:
        s.sendall(hello)
        if _read_by(s, len(_TAKEN), deadline) != _TAKEN:
            raise ConnectionRefusedError(refused)
        s.settimeout(None)
        return s
    except BaseException:
        _close(s)
        raise


def accept_each(listener: socket.socket, take) -> None:
    """take(s) for each connection `listener` accepts, until it is closed. A failure to
    accept one (no file descriptor or memory free for now) is waited out: the listener
    goes on, for the connections that come once some are free."""
    while True:
        try:
            s, _ = listener.accept()
        except OSError as e:
            if listener.fileno() < 0 or e.errno in (errno.EBADF, errno.EINVAL):
                return  # closed (EINVAL: shut down)
            time.sleep(_ACCEPT_RETRY_S)
            continue
        take(s)


def _refuse(s: socket.socket) -> None:
    try:
        s.sendall(_REFUSED)
    except OSError:
        pass
    s.close()


def _drop(s: socket.socket, n: int) -> None:
    """Read and forget the next n bytes."""
    scratch = bytearray(min(n, _DROP_CHUNK))
    while n > 0:
        k = min(n, len(scratch))
        _read_into(s, memoryview(scratch)[:k])
        n -= k


def _read_by(s: socket.socket, n: int, deadline: float) -> bytes:
    """n bytes, all of them by `deadline` (a connection sending a byte at a time too)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no handshake in time")
        s.settimeout(left)
        k = s.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError
        got += k
    return bytes(buf)


def _left(deadline: float) -> float:
    """Seconds to `deadline`: 0 once it has passed (a socket then times out at once)."""
    return max(0.0, deadline - time.monotonic())


def _read_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    _read_into(s, buf)
    return bytes(buf)


def _read_into(s: socket.socket, target) -> None:
    view = memoryview(target).cast("B") if not isinstance(target, np.ndarray) else \
        memoryview(target.reshape(-1).view(np.uint8))
    got, n = 0, len(view)
    while got < n:
        k = s.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError
        got += k
