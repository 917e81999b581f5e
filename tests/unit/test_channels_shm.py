"""Tensors through shared memory between two workers of one node (distgrad/distributed/shm.py
under channels.py), without Ray: two workers' channels in this process, or this process
and a child process, over a Unix socket with and without segments."""
from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from distgrad.distributed import shm
from distgrad.distributed.channels import PeerLostError, SocketChannels

SECRET = bytes(range(32))
SEGMENT = shm.SLOTS * shm.SLOT_BYTES
pytestmark = pytest.mark.skipif(not shm.available(), reason="no memfd/eventfd (not Linux)")


@pytest.fixture
def pairs():
    made = []

    def pair(shared_memory=(True, True), nodes=("n", "n"), max_elements=2 ** 28):
        chans = [SocketChannels(i, nodes[i], 5.0, SECRET, max_elements,
                                shared_memory=shared_memory[i]) for i in range(2)]
        made.extend(chans)
        spans = nodes[0] != nodes[1]
        table = [c.address("127.0.0.1" if spans else None) for c in chans]
        threads = [threading.Thread(target=c.connect, args=(table,)) for c in chans]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(c.knows(1 - c.index) for c in chans)
        return chans

    yield pair
    for c in made:
        c.close()


def _mapped(token: str) -> list:
    """This process's mappings of the segments whose names carry `token`."""
    with open("/proc/self/maps") as f:
        return [line for line in f if "distgrad-shm" in line and token in line]


def _shm_files() -> set:
    return {n for n in os.listdir("/dev/shm") if "distgrad" in n}


def _big(nbytes: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    n = nbytes // np.dtype(dtype).itemsize
    return np.random.default_rng(seed).standard_normal(n).astype(dtype)


SIZES = [shm.MIN_BYTES - 4, shm.MIN_BYTES, shm.SLOT_BYTES + 12, 3 * SEGMENT + 4]


@pytest.mark.parametrize("shared_memory", [True, False], ids=["shm", "socket"])
def test_both_paths_deliver_every_size_bitwise(pairs, shared_memory):
    a, b = pairs((shared_memory, shared_memory))
    assert bool(a.rings) == shared_memory and bool(b.rings) == shared_memory
    arrays = [_big(n, k) for k, n in enumerate(SIZES)]
    arrays.append(_big(SEGMENT, 9, np.float64).reshape(64, -1)[:, ::2])  # not contiguous
    for k, arr in enumerate(arrays):
        a.send(1, k, arr)
    for k in reversed(range(len(arrays))):
        got = b.recv(0, k, list(arrays[k].shape), arrays[k].dtype.name)
        assert got.tobytes() == np.ascontiguousarray(arrays[k]).tobytes()
        assert got.flags.writeable and got.flags.c_contiguous
    total = sum(x.nbytes for x in arrays)
    small = arrays[0].nbytes  # under MIN_BYTES: on the socket either way
    want = {"socket": small, "shared_memory": total - small} if shared_memory else \
        {"socket": total, "shared_memory": 0}
    assert a.sent_bytes == want


def test_segments_only_between_workers_of_one_node(pairs):
    a, b = pairs(nodes=("a", "b"))  # TCP
    assert not a.rings and not b.rings
    arr = _big(SEGMENT + 8)
    a.send(1, 1, arr)
    assert b.recv(0, 1, list(arr.shape), "float32").tobytes() == arr.tobytes()
    assert a.sent_bytes == {"socket": arr.nbytes, "shared_memory": 0}


def test_each_direction_uses_the_senders_choice(pairs):
    a, b = pairs((True, False))  # a offers a segment for what it sends, b does not
    assert list(a.rings) == [1] and not b.rings
    x, y = _big(SEGMENT, 1), _big(SEGMENT, 2)
    a.send(1, 1, x)
    b.send(0, 1, y)
    assert b.recv(0, 1, list(x.shape), "float32").tobytes() == x.tobytes()
    assert a.recv(1, 1, list(y.shape), "float32").tobytes() == y.tobytes()
    assert a.sent_bytes["shared_memory"] == x.nbytes and b.sent_bytes["socket"] == y.nbytes


def test_a_segment_the_receiver_cannot_map_leaves_that_direction_on_the_socket(pairs,
                                                                              monkeypatch):
    def no_memory(*args):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(shm, "Incoming", no_memory)
    a, b = pairs()
    assert not a.rings and not b.rings  # each refused the other's, and each sender knows
    x = _big(SEGMENT, 5)
    a.send(1, 1, x)
    assert b.recv(0, 1, list(x.shape), "float32").tobytes() == x.tobytes()
    assert a.sent_bytes == {"socket": x.nbytes, "shared_memory": 0}
    assert not _mapped(a.token) and not _mapped(b.token)


def test_both_workers_sending_big_tensors_at_once(pairs):
    a, b = pairs()
    # Each sender waits for slots its peer's reader gives back, while that peer sends too:
    # the exchange every all-reduce of two workers does.
    xs = [_big(3 * SEGMENT + 4, k) for k in range(3)]
    ys = [_big(2 * SEGMENT + 8, 10 + k) for k in range(3)]
    threads = [threading.Thread(target=lambda: [a.send(1, k, x) for k, x in enumerate(xs)]),
               threading.Thread(target=lambda: [b.send(0, k, y) for k, y in enumerate(ys)])]
    for t in threads:
        t.start()
    for k in range(3):
        assert b.recv(0, k, list(xs[k].shape), "float32").tobytes() == xs[k].tobytes()
        assert a.recv(1, k, list(ys[k].shape), "float32").tobytes() == ys[k].tobytes()
    for t in threads:
        t.join(60)
        assert not t.is_alive()


def test_a_tensor_over_the_cap_closes_the_connection(pairs):
    a, b = pairs(max_elements=1000)
    arr = _big(2 * SEGMENT)
    sender = threading.Thread(target=lambda: _quietly(a.send, 1, 1, arr), daemon=True)
    sender.start()
    with pytest.raises(PeerLostError, match="bad frame.*more than 1000 elements"):
        b.recv(0, 1, list(arr.shape), "float32")
    sender.join(60)
    assert not sender.is_alive()  # the sender did not stay waiting for slots


def _quietly(fn, *args):
    try:
        fn(*args)
    except PeerLostError:
        pass


def test_a_tensor_the_receiver_cannot_allocate_is_dropped_through_the_segment(pairs):
    from distgrad.distributed.testhooks import WorkerHooks

    a, b = pairs()
    b.hooks = WorkerHooks()
    b.hooks.configure(alloc_limit_bytes=1 << 20, set_limit=True)
    big = _big(2 * SEGMENT + 8, 3)  # more than the segment: every slot must come back
    sender = threading.Thread(target=a.send, args=(1, 1, big), daemon=True)
    sender.start()
    sender.join(60)
    assert not sender.is_alive()
    with pytest.raises(MemoryError, match=rf"worker:1 is out of memory.* {big.nbytes} bytes"):
        b.recv(0, 1, list(big.shape), "float32")
    b.hooks.configure(alloc_limit_bytes=None, set_limit=True)
    again = _big(SEGMENT, 4)
    a.send(1, 2, again)  # the connection and its segment still work
    assert b.recv(0, 2, list(again.shape), "float32").tobytes() == again.tobytes()
    assert a.sent_bytes["shared_memory"] == big.nbytes + again.nbytes


class _StallFirstChunk:
    """Stands in for shm.Incoming.read: the first chunk read waits until released."""

    def __init__(self, monkeypatch):
        self.entered, self.go = threading.Event(), threading.Event()
        real = shm.Incoming.read

        def read(incoming, slot, n, into):
            if not self.entered.is_set():
                self.entered.set()
                self.go.wait(120)
            return real(incoming, slot, n, into)

        monkeypatch.setattr(shm.Incoming, "read", read)


def test_a_receiver_lost_while_the_sender_waits_for_a_slot_fails_the_send(pairs, monkeypatch):
    stall = _StallFirstChunk(monkeypatch)
    a, b = pairs()
    failure = []
    sender = threading.Thread(target=lambda: _record(failure, a.send, 1, 1, _big(4 * SEGMENT)),
                              daemon=True)
    sender.start()
    assert stall.entered.wait(60)
    ring = a.rings[1]
    deadline = time.monotonic() + 60
    while ring.free and time.monotonic() < deadline:  # every slot written, none given back
        time.sleep(0.01)
    assert ring.free == 0
    b.socks[0].shutdown(socket.SHUT_RDWR)  # what the kernel does to a dead process's sockets
    sender.join(60)
    assert not sender.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], PeerLostError)
    assert "worker:1 is gone" in str(failure[0])
    # (the send may fail on the socket before the reader has seen the end: the reader
    # unmaps the ring then, as it ends)
    a.readers[1].join(60)
    assert ring.lost and ring.view is None and 1 not in a.rings  # unmapped on this side
    stall.go.set()


def _record(out, fn, *args):
    try:
        fn(*args)
    except Exception as e:
        out.append(e)


def test_a_frame_naming_the_wrong_slot_closes_the_connection():
    chans = SocketChannels(1, "n", 5.0, SECRET, shared_memory=True)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(chans.address()["unix"])
        s.sendall(struct.pack("<qq", 0, 1) + SECRET)
        assert s.recv(1) == b"\1"  # the hello taken
        mine = shm.Outgoing("distgrad-shm-test")
        ring, incoming = shm.exchange(s, mine, 30)
        assert ring is mine and incoming is not None  # it took ours, and offered its own
        s.sendall(struct.pack("<qBBB", 4, 3, 0, 1) + struct.pack("<q", 100_000))
        s.sendall(shm.SLOT.pack(2, 400_000))  # slot 0 is due
        with pytest.raises(PeerLostError, match="bad frame.*slot 2, expected slot 0"):
            chans.recv(0, 4, [100_000], "float32")
        ring.close()
        incoming.close()
        s.close()
    finally:
        chans.close()


@pytest.mark.parametrize("offer", ["unsealed", "too small", "no descriptors", "status 3"])
def test_a_bad_segment_offer_or_an_unannounced_segment_closes_the_connection(offer):
    import fcntl

    chans = SocketChannels(1, "n", 5.0, SECRET, shared_memory=False)
    fds = []
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(chans.address()["unix"])
        s.sendall(struct.pack("<qq", 0, 1) + SECRET)
        assert s.recv(1) == b"\1"  # the hello taken
        head = struct.pack("<BII", 1, 4, 1 << 20)
        if offer == "status 3":  # a peer that offered no segment sends through one
            assert shm.exchange(s, None, 30) == (None, None)
            s.sendall(struct.pack("<qBBB", 4, 3, 0, 1) + struct.pack("<q", 100_000))
        else:
            fd = os.memfd_create("distgrad-shm-test", os.MFD_ALLOW_SEALING)
            fds = [fd, os.eventfd(0)]
            os.ftruncate(fd, 4 << 20 if offer == "unsealed" else 1 << 20)
            if offer == "too small":
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
                            | fcntl.F_SEAL_SEAL)
            socket.send_fds(s, [head], fds if offer != "no descriptors" else [])
        _read_until_closed(s)  # (its own offer first, if it got that far)
        assert not _mapped(chans.token) and not _mapped("distgrad-shm-test")
        if offer == "status 3":
            with pytest.raises(PeerLostError, match="bad frame.*no segment was set up"):
                chans.recv(0, 4, [100_000], "float32")
        else:
            assert not chans.socks
        s.close()
    finally:
        for fd in fds:
            os.close(fd)
        chans.close()


def _read_until_closed(s) -> None:
    s.settimeout(60)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass  # (closed with our bytes unread)


def test_closing_unmaps_every_segment_and_leaves_nothing_in_dev_shm(pairs):
    before = _shm_files()
    a, b = pairs()
    arr = _big(2 * SEGMENT)
    a.send(1, 1, arr)
    b.send(0, 1, arr)
    b.recv(0, 1, list(arr.shape), "float32")
    a.recv(1, 1, list(arr.shape), "float32")
    assert len(_mapped(a.token)) >= 2 and len(_mapped(b.token)) >= 2  # mapped at both ends
    assert _shm_files() == before
    a.close()
    b.close()
    assert not _mapped(a.token) and not _mapped(b.token)
    assert not [f for f in os.listdir("/proc/self/fd")
                if "distgrad-shm" in _link(f"/proc/self/fd/{f}")]
    assert _shm_files() == before


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


# ---- two processes ---------------------------------------------------------------------------

_CHILD = """
import json, sys, numpy as np
from distgrad.distributed.channels import SocketChannels
ch = SocketChannels(1, "n", 60.0, bytes(range(32)), shared_memory=sys.argv[1] == "1")
print(json.dumps(ch.address()), flush=True)
table = json.loads(sys.stdin.readline())
ch.connect(table)
print(json.dumps({"rings": sorted(ch.rings), "token": ch.token}), flush=True)
for line in sys.stdin:
    what, key, n, seed = json.loads(line)
    if what == "echo":  # receive a tensor, send it back doubled
        arr = ch.recv(0, key, [n], "float32")
        ch.send(0, key, arr * 2)
    else:  # send a tensor of n float32s
        ch.send(0, key, np.random.default_rng(seed).standard_normal(n).astype(np.float32))
    print(json.dumps(ch.sent_bytes), flush=True)
"""


class _Child:
    """Worker 1 in a child process, connected to worker 0 (`self.chans`) in this one."""

    def __init__(self, shared_memory: bool):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, "1" if shared_memory else "0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        self.chans = SocketChannels(0, "n", 60.0, SECRET, shared_memory=shared_memory)
        table = [self.chans.address(), json.loads(self.proc.stdout.readline())]
        self.proc.stdin.write(json.dumps(table) + "\n")
        self.proc.stdin.flush()
        self.chans.connect(table)
        self.info = json.loads(self.proc.stdout.readline())

    def ask(self, *what) -> None:
        self.proc.stdin.write(json.dumps(list(what)) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # (by its pid)
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.chans.close()


@pytest.mark.parametrize("shared_memory", [True, False], ids=["shm", "socket"])
def test_between_two_processes_both_paths_deliver_bitwise(shared_memory):
    child = _Child(shared_memory)
    try:
        assert child.info["rings"] == ([0] if shared_memory else [])
        for key, n in enumerate([1000, SEGMENT // 4 + 3, 3 * SEGMENT // 4 + 1]):
            arr = _big(4 * n, key)
            child.chans.send(1, key, arr)
            child.ask("echo", key, n, 0)
            got = child.chans.recv(1, key, [n], "float32")
            assert got.tobytes() == (arr * 2).tobytes()
            sent = json.loads(child.proc.stdout.readline())
        through_shm = sum(4 * n for n in [SEGMENT // 4 + 3, 3 * SEGMENT // 4 + 1])
        assert sent["shared_memory"] == (through_shm if shared_memory else 0)
    finally:
        child.close()


def test_a_sender_killed_during_a_transfer_fails_the_recv_and_its_segment_goes(monkeypatch):
    stall = _StallFirstChunk(monkeypatch)
    before = _shm_files()
    child = _Child(True)
    try:
        token = child.info["token"]
        assert _mapped(token) and _mapped(child.chans.token)
        n = 4 * SEGMENT // 4  # four segments' worth: the child cannot finish while stalled
        child.ask("send", 7, n, 0)
        assert stall.entered.wait(60)  # the transfer is under way, its first chunk here
        os.kill(child.proc.pid, signal.SIGKILL)
        child.proc.wait()
        stall.go.set()
        with pytest.raises(PeerLostError, match="worker:1 is gone") as e:
            child.chans.recv(1, 7, [n], "float32")
        assert e.value.peer == 1
        # Its segment is unmapped here (the kernel frees it: no process has it now), and
        # so is this worker's segment for sending to it.
        assert not _mapped(token) and not _mapped(child.chans.token)
        assert _shm_files() == before
    finally:
        stall.go.set()
        child.close()


# ---- the setting ------------------------------------------------------------------------------

def test_the_setting_comes_from_init_else_the_environment_else_the_default(monkeypatch):
    from distgrad.distributed import runtime

    monkeypatch.delenv("DISTGRAD_SHARED_MEMORY", raising=False)
    assert runtime._shared_memory(None) is runtime.SHARED_MEMORY_DEFAULT
    for setting, want in (("1", True), ("0", False), (" 1 ", True),
                          ("", runtime.SHARED_MEMORY_DEFAULT)):
        monkeypatch.setenv("DISTGRAD_SHARED_MEMORY", setting)
        assert runtime._shared_memory(None) is want
    monkeypatch.setenv("DISTGRAD_SHARED_MEMORY", "0")
    assert runtime._shared_memory(True) is True  # init's argument wins
    monkeypatch.setenv("DISTGRAD_SHARED_MEMORY", "yes")
    with pytest.raises(ValueError, match="DISTGRAD_SHARED_MEMORY must be 1 or 0, got 'yes'"):
        runtime._shared_memory(None)
    with pytest.raises(ValueError, match="shared_memory must be True, False or None, got 1"):
        runtime._shared_memory(1)


def test_a_sender_whose_descriptors_number_over_1024_still_waits_for_slots(pairs):
    # Ray workers hold many sockets: the wait for a slot must not use select() (its
    # descriptors stop at 1023). The sender's wake-up descriptor is moved above 1024 on
    # purpose (numbers from dup() depend on what else the process has closed meanwhile).
    import fcntl

    a, b = pairs()
    ring = a.rings[1]
    high = fcntl.fcntl(ring.freed, fcntl.F_DUPFD_CLOEXEC, 1100)
    os.close(ring.freed)
    ring.freed = high
    assert ring.freed > 1024
    big = _big(3 * SEGMENT + 4)  # three times round the ring: the sender waits
    sender = threading.Thread(target=a.send, args=(1, 1, big), daemon=True)
    sender.start()
    assert b.recv(0, 1, list(big.shape), "float32").tobytes() == big.tobytes()
    sender.join(60)
    assert not sender.is_alive()
