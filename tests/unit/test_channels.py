"""Worker-to-worker tensor delivery (distgrad/distributed/channels.py), without Ray: two
workers' channels in this process, over a Unix socket (same node) or TCP on 127.0.0.1."""
from __future__ import annotations

import errno
import socket
import struct
import threading
import types
import time

import numpy as np
import pytest

from distgrad.distributed import channels
from distgrad.distributed.channels import (LocalHub, PeerLostError, PeerRunFailedError,
                                           SocketChannels)
from distgrad.distributed.wire import WireFormatError


SECRET = bytes(range(32))


def _pair(nodes=("n", "n"), idle_timeout_s=5.0):
    chans = [SocketChannels(i, nodes[i], idle_timeout_s, SECRET) for i in range(2)]
    spans = nodes[0] != nodes[1]
    table = [c.address("127.0.0.1" if spans else None) for c in chans]
    threads = [threading.Thread(target=c.connect, args=(table,)) for c in chans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert all(c.knows(1 - c.index) for c in chans)
    return chans


ARRAYS = [np.arange(12, dtype=np.float32).reshape(3, 4), np.float64(2.5) * np.ones(()),
          np.array([3, -1], np.int64), np.array([[True], [False]]), np.zeros((0, 5), np.float32),
          np.arange(20, dtype=np.float64).reshape(4, 5)[:, ::2],  # not contiguous
          np.array([-7, 2 ** 31 - 1], np.int32), np.array([[0, 255]], np.uint8),
          np.array([-300, 7], np.int16), np.array([-128], np.int8),
          np.array([1.5, -65504.0, np.inf], np.float16)]


@pytest.mark.parametrize("nodes", [("n", "n"), ("a", "b")], ids=["unix", "tcp"])
def test_tensors_arrive_whole_in_either_order(nodes):
    a, b = _pair(nodes)
    for k, arr in enumerate(ARRAYS):
        a.send(1, 100 + k, arr)
    for k in reversed(range(len(ARRAYS))):  # taken in another order than sent
        got = b.recv(0, 100 + k, list(ARRAYS[k].shape), ARRAYS[k].dtype.name)
        np.testing.assert_array_equal(got, ARRAYS[k])
        assert got.dtype == ARRAYS[k].dtype and got.shape == ARRAYS[k].shape
        assert got.flags.writeable
    b.send(0, 7, ARRAYS[0] * 2)  # and back on the same connection
    np.testing.assert_array_equal(a.recv(1, 7, [3, 4], "float32"), ARRAYS[0] * 2)


def test_a_recv_waits_for_a_tensor_sent_later():
    a, b = _pair()
    big = np.random.default_rng(0).standard_normal((512, 1024)).astype(np.float32)
    a.running(True)  # the sender is computing
    threading.Timer(0.3, lambda: a.send(1, 1, big)).start()
    t = time.monotonic()
    got = b.recv(0, 1, [512, 1024], "float32")
    assert time.monotonic() - t >= 0.25
    np.testing.assert_array_equal(got, big)


def test_a_failed_sender_run_fails_the_recv_with_its_reason():
    a, b = _pair()
    a.send_failure(1, 5, "IndexError: index 9 is out of bounds")
    with pytest.raises(PeerRunFailedError, match="worker:0's run failed.*index 9") as e:
        b.recv(0, 5, [2], "float32")
    assert e.value.peer == 0


def test_a_closed_connection_fails_the_waiting_recv():
    a, b = _pair()
    # (what the kernel does to a dead process's sockets)
    threading.Timer(0.2, lambda: a.socks[1].shutdown(socket.SHUT_RDWR)).start()
    a.running(True)
    with pytest.raises(PeerLostError, match="worker:0 is gone") as e:
        b.recv(0, 1, [2], "float32")
    assert e.value.peer == 0


def test_a_recv_no_run_sends_fails_once_the_sender_is_idle():
    a, b = _pair(idle_timeout_s=0.3)
    a.running(True)
    threading.Timer(0.2, lambda: a.running(False)).start()
    t = time.monotonic()
    with pytest.raises(WireFormatError, match="worker:0 sends no tensor 3"):
        b.recv(0, 3, [2], "float32")
    assert time.monotonic() - t >= 0.45  # busy for 0.2 s, then idle for 0.3 s


def test_idleness_before_the_recv_does_not_count(monkeypatch):
    from distgrad.distributed import channels

    # The mailbox's clock says the sender has been idle for 10 s (the timeout is 0.3 s) when
    # the recv starts, and then stands still: counting that idleness would fail the recv at
    # once; counting from the recv's start, it waits for the tensor, however late it comes.
    clock = [0.0]
    monkeypatch.setattr(channels, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    box = channels.Mailbox(idle_timeout_s=0.3)
    box.running(0, False)
    clock[0] = 10.0
    threading.Timer(0.05, lambda: box.put(0, 9, "the tensor")).start()
    assert box.take(0, 9) == "the tensor"


def test_a_tensor_other_than_announced_is_refused():
    a, b = _pair()
    a.send(1, 4, np.ones(3, np.float32))
    with pytest.raises(WireFormatError, match=r"float32 \[3\], the run expected a float64 \[3\]"):
        b.recv(0, 4, [3], "float64")


@pytest.mark.parametrize("nodes", [("n", "n"), ("a", "b")], ids=["unix", "tcp"])
def test_a_connection_without_the_runtime_secret_is_closed(nodes):
    a, b = _pair(nodes)
    where = b.address("127.0.0.1" if nodes[0] != nodes[1] else None)
    for hello in (struct.pack("<qq", 5, 1) + bytes(32), struct.pack("<qq", 5, 1) + b"short"):
        if nodes[0] == nodes[1]:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(where["unix"])
        else:
            s = socket.create_connection(tuple(where["tcp"]))
        s.sendall(hello)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        assert s.recv(1) == b""  # closed on us
        s.close()
    assert sorted(b.socks) == [0]  # still only the real peer


def test_in_process_channels_copy_and_never_wait():
    hub = LocalHub(2)
    a, b = hub.channels(0), hub.channels(1)
    arr = np.ones(3, np.float32)
    a.send(1, 1, arr)
    arr += 1  # a later in-place write by the sender does not reach the receiver
    np.testing.assert_array_equal(b.recv(0, 1, [3], "float32"), np.ones(3))
    with pytest.raises(WireFormatError, match="sends no tensor 2"):
        b.recv(0, 2, [3], "float32")
    assert a.knows(1) and not a.knows(0) and not a.knows(2)


# ---- the listener: raw sockets on 127.0.0.1 against a worker's TCP listener --------------------

def _listener(index=2, max_elements=2 ** 28, hello_timeout_s=2.0):
    """A worker's channels listening on 127.0.0.1, with no peer connected yet."""
    chans = SocketChannels(index, "n", 5.0, SECRET, max_elements,
                           hello_timeout_s=hello_timeout_s)
    return chans, tuple(chans.address("127.0.0.1")["tcp"])


def _closed_on_us(s, limit_s=30.0) -> bool:
    s.settimeout(limit_s)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def _as_peer(where, peer: int, incarnation: int = 1):
    """A connection that says it is `peer`'s process `incarnation`, its answer read."""
    s = socket.create_connection(where)
    s.sendall(struct.pack("<qq", peer, incarnation) + SECRET)
    s.settimeout(30)
    assert s.recv(1) in (b"\1", b"\0", b"")  # taken, refused, or closed
    return s


def test_a_handshake_sent_a_byte_at_a_time_is_cut_off_at_the_deadline():
    chans, where = _listener(hello_timeout_s=0.5)
    s = socket.create_connection(where)
    hello = struct.pack("<qq", 0, 1) + SECRET  # a real peer's handshake, sent too slowly
    sent = 0
    try:
        for b in hello:
            s.sendall(bytes([b]))
            sent += 1
            time.sleep(0.1)
    except OSError:
        pass  # closed on us
    assert sent < len(hello), "the whole handshake got through"
    assert _closed_on_us(s)
    assert not chans.socks


def test_more_silent_connections_than_handshake_threads_leave_room_for_the_peers():
    """Connections that never say hello, more than a worker serves handshakes at once,
    hold its handshake threads for the hello's short deadline only: its peers, closed
    while every thread is taken, connect again and join within the runtime's start-up
    time (before, a silent connection held a thread for all of that time)."""
    chans = [SocketChannels(i, ("a", "b", "c")[i], 5.0, SECRET, handshake_timeout_s=120.0,
                            hello_timeout_s=0.5) for i in range(3)]
    table = [c.address("127.0.0.1") for c in chans]
    silent = [socket.create_connection(tuple(table[2]["tcp"]))
              for _ in range(channels._MAX_HANDSHAKES + 16)]
    threads = [threading.Thread(target=c.connect, args=(table,), kwargs={"timeout_s": 60},
                                daemon=True) for c in chans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(chans[2].socks) == [0, 1]
    assert all(_closed_on_us(s) for s in silent)
    for c in chans:
        c.close()


def test_a_peer_slow_to_say_hello_connects_again_and_joins(monkeypatch):
    """A peer held between its connect and its hello past the listener's deadline for the
    hello is closed there, then connects again and joins."""
    from distgrad.distributed.testhooks import WorkerHooks

    listener, where = _listener(index=1, hello_timeout_s=0.2)
    handshakes_done = threading.Semaphore(0)
    handshake = listener._handshake

    def counted(s):
        handshake(s)
        handshakes_done.release()

    monkeypatch.setattr(listener, "_handshake", counted)
    gate = socket.create_server(("127.0.0.1", 0))
    peer = SocketChannels(0, "m", 5.0, SECRET, hooks=WorkerHooks())
    peer.hooks.configure(pause={"phase": "hello", "name": None, "skip": 0,
                                "report_to": list(gate.getsockname()[:2])})
    table = [peer.address("127.0.0.1"), listener.address("127.0.0.1")]
    joining = threading.Thread(target=peer.connect, args=(table,), kwargs={"timeout_s": 60},
                               daemon=True)
    joining.start()
    held, _ = gate.accept()  # connected, its hello held
    assert handshakes_done.acquire(timeout=60)  # the listener gave up on that connection
    held.close()  # the hello goes on
    joining.join(60)
    with listener.registered:
        assert listener.registered.wait_for(lambda: listener.knows(0), timeout=60)
    assert peer.knows(1)
    for c in (peer, listener):
        c.close()
    gate.close()


class _ListenerOutOfDescriptors:
    """A listener whose first accept fails as accept(2) does with no file descriptor
    free; its second gives `conn`, its third waits until it is closed."""

    def __init__(self, conn):
        self.conn, self.calls, self.closed = conn, 0, threading.Event()

    def accept(self):
        self.calls += 1
        if self.calls == 1:
            raise OSError(errno.EMFILE, "Too many open files")
        if self.calls == 2:
            return self.conn, ("127.0.0.1", 0)
        self.closed.wait()
        raise OSError(errno.EBADF, "Bad file descriptor")

    def fileno(self):
        return -1 if self.closed.is_set() else 3


def test_a_listener_that_could_not_accept_a_connection_takes_the_next():
    """A failure to accept (no descriptor free for a moment) is not the listener's end:
    the peer that connects next is taken in (before, its accept thread ended)."""
    chans, _ = _listener(index=1)
    server = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(server.getsockname()[:2])
    conn, _ = server.accept()
    listener = _ListenerOutOfDescriptors(conn)
    chans._serve(listener)
    peer.sendall(struct.pack("<qq", 0, 1) + SECRET)
    with chans.registered:
        assert chans.registered.wait_for(lambda: chans.knows(0), timeout=60)
    listener.closed.set()
    for s in (peer, server):
        s.close()
    chans.close()


@pytest.mark.parametrize("stalled", ["listening", "connecting"])
def test_connect_gives_up_at_its_deadline_naming_the_peers_not_reached(stalled):
    """A worker's set-up has the time the driver gives it (init's, what is left of it), and
    says which peers it did not reach: one that never connects here (`connecting`), or
    one that took the connection and never answers (`listening`)."""
    me = SocketChannels(1, "n", 5.0, SECRET)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # a peer that never answers
    silent.bind(f"\0distgrad-test-silent-{id(silent)}")
    silent.listen(4)
    table = [{"index": 0, "node": "n", "unix": None, "tcp": None},  # never connects here
             me.address()]
    if stalled == "listening":
        table.append({"index": 2, "node": "n", "unix": silent.getsockname(), "tcp": None})
        words = r"worker:1 could not reach worker:2 within 0\.3 s \(TimeoutError"
    else:
        words = r"worker:1: no connection from worker:0 within 0\.3 s"
    t = time.monotonic()
    with pytest.raises(ConnectionError, match=words):
        me.connect(table, timeout_s=0.3)
    assert time.monotonic() - t < 30  # (the deadline, not a wait of its own)
    silent.close()
    me.close()


@pytest.mark.parametrize("peer", [2, 3, 7, -1, 2 ** 62])
def test_a_connection_naming_no_lower_worker_is_closed(peer):
    chans, where = _listener(index=2)
    s = _as_peer(where, peer)
    assert _closed_on_us(s)
    assert not chans.socks
    # worker 0 may connect; connecting again is a restarted worker 0: it replaces the first
    first = _as_peer(where, 0)
    with chans.registered:
        assert chans.registered.wait_for(lambda: chans.knows(0), timeout=60)
    old = chans.socks[0]
    second = _as_peer(where, 0)
    with chans.registered:
        assert chans.registered.wait_for(lambda: chans.socks[0] is not old, timeout=60)
    assert _closed_on_us(first)
    assert sorted(chans.socks) == [0]
    second.close()


def test_a_process_older_than_the_one_taken_in_is_refused():
    """A restart that failed may leave its process running a while (on another node, out
    of the driver's reach) and connecting late: the peer's newer process, taken in since,
    keeps its place."""
    chans, where = _listener(index=2)
    newer = _as_peer(where, 0, incarnation=3)
    with chans.registered:
        assert chans.registered.wait_for(lambda: chans.knows(0), timeout=60)
    taken = chans.socks[0]
    late = _as_peer(where, 0, incarnation=2)
    assert _closed_on_us(late)
    assert chans.socks[0] is taken and chans.box.incarnation[0] == 3
    newer.close()


BAD_FRAMES = {
    "status": struct.pack("<qBBB", 1, 9, 0, 0),
    "dtype": struct.pack("<qBBB", 1, 0, 99, 1) + struct.pack("<q", 2),
    "ndim": struct.pack("<qBBB", 1, 0, 0, 200),
    "negative dim": struct.pack("<qBBB", 1, 0, 0, 1) + struct.pack("<q", -4),
    "over the cap": struct.pack("<qBBB", 1, 0, 1, 2) + struct.pack("<qq", 2 ** 20, 2 ** 20),
    "run state": struct.pack("<qBBB", -1, 2, 0, 0),
    "long failure": struct.pack("<qBBB", 1, 1, 0, 0) + struct.pack("<I", 2 ** 31),
}


@pytest.mark.parametrize("frame", list(BAD_FRAMES), ids=list(BAD_FRAMES))
def test_a_connection_sending_a_bad_frame_is_closed(frame):
    chans, where = _listener(index=1)
    s = _as_peer(where, 0)
    ok = np.arange(3, dtype=np.float32)
    s.sendall(struct.pack("<qBBB", 4, 0, 0, 1) + struct.pack("<q", 3) + ok.tobytes())
    np.testing.assert_array_equal(chans.recv(0, 4, [3], "float32"), ok)  # a good frame first
    s.sendall(BAD_FRAMES[frame])
    assert _closed_on_us(s)
    with pytest.raises(PeerLostError, match="bad frame"):
        chans.recv(0, 5, [3], "float32")


def test_a_tensor_the_receiver_cannot_allocate_fails_its_recv_and_nothing_else():
    from distgrad.distributed.testhooks import WorkerHooks

    a, b = _pair()
    b.hooks = WorkerHooks()
    b.hooks.configure(alloc_limit_bytes=1 << 20, set_limit=True)
    big = np.ones((1024, 1024), np.float64)  # 8 MB: more than a socket buffers
    sender = threading.Thread(target=a.send, args=(1, 1, big), daemon=True)
    sender.start()
    sender.join(60)
    assert not sender.is_alive()  # the receiver read it all (and dropped it)
    with pytest.raises(MemoryError, match=r"worker:1 is out of memory.* 8388608 bytes.*"
                                          r"\[1024, 1024\].*worker:0"):
        b.recv(0, 1, [1024, 1024], "float64")
    a.send(1, 2, np.arange(4.0))  # the connection still works
    np.testing.assert_array_equal(b.recv(0, 2, [4], "float64"), np.arange(4.0))


def _restarted(survivor, old, incarnation):
    """A new process in `old`'s place (restart_worker): it connects to the survivor."""
    new = SocketChannels(old.index, "n", 5.0, SECRET, incarnation=incarnation)
    old.close()
    new.connect([new.address(), survivor.address()], to_all=True)
    return new


def test_a_recv_sent_for_a_process_that_was_restarted_fails_at_once():
    """A run sent for worker 1's first process starts its recv after the second one
    connected, and that one is busy (waiting for this worker, say): the tensor will never
    come, so the recv fails at once instead of waiting for the new process."""
    a, b = _pair()
    b2 = _restarted(a, b, incarnation=2)
    b2.running(True)
    t = time.monotonic()
    with pytest.raises(PeerLostError) as info:
        a.recv(1, 5, [3], "float32", incarnation=1)
    assert time.monotonic() - t < 2.0 and info.value.incarnation == 1
    b2.send(0, 6, np.ones(3, np.float32))  # a run sent for the new process gets its tensor
    np.testing.assert_array_equal(a.recv(1, 6, [3], "float32", incarnation=2), np.ones(3))


def test_a_recv_sent_for_a_process_not_connected_yet_waits_for_it():
    """The driver sent a run for worker 1's second process before this worker took its
    connection (the old one's has closed): the recv waits for the new process's tensor."""
    a, b = _pair(idle_timeout_s=60.0)  # (a busy machine may take seconds to connect it)
    got = {}

    def recv():
        got["value"] = a.recv(1, 9, [2], "float32", incarnation=2)

    waiter = threading.Thread(target=recv)
    b.close()
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive()  # neither the old process's end nor the wait failed it
    b2 = _restarted(a, b, incarnation=2)
    b2.send(0, 9, np.full(2, 4.0, np.float32))
    waiter.join(60)  # (a limit for a hang only: the tensor is sent just above)
    assert not waiter.is_alive()
    np.testing.assert_array_equal(got["value"], [4.0, 4.0])


def test_closing_while_a_restarted_peer_connects_waits_for_its_reader():
    """close() at the moment a restarted peer's connection is taken (its reader made, the
    mailbox told of the new process) joins that reader once it runs, instead of failing on
    a thread not started yet."""
    a, b = _pair()
    errors, closers, hooked = [], [], threading.Event()
    reopen = a.box.reopen

    def close(*args):
        try:
            a.close()
        except Exception as e:  # (what a close racing the connection raised)
            errors.append(e)

    def reopen_then_close(peer, incarnation=None):
        reopen(peer, incarnation)
        closer = threading.Thread(target=close)
        closer.start()
        closers.append(closer)
        closer.join(2.0)  # (it waits for the connection to be taken; a limit, not a pace)
        hooked.set()

    a.box.reopen = reopen_then_close
    b2 = _restarted(a, b, incarnation=2)
    assert hooked.wait(30)  # (this side takes the connection in its own thread)
    closers[0].join(30)  # (limits for a hang only)
    b2.close()
    assert not closers[0].is_alive() and errors == []


class _HoldAt:
    """Test hooks that hold the thread entering `phase` until released (worker_hooks's
    pause, without a socket): `.entered` is set once one is there."""

    def __init__(self, phase):
        self.phase, self.entered, self.go = phase, threading.Event(), threading.Event()

    def enter(self, index, phase, name=None):
        if phase == self.phase and not self.entered.is_set():
            self.entered.set()
            self.go.wait(30)  # (a limit for a hang only: the test releases it)

    def allocate(self, nbytes):
        pass


def test_the_old_connections_end_filed_late_does_not_fail_the_new_process():
    """worker 1 is restarted; worker 0's reader of its old connection sees the end, and
    files it only after the new process's connection was taken in (a busy machine can
    order them so). The new process is not taken for gone: a recv from it waits for its
    tensor, told only that it has not come yet. (Before, the old end closed the new
    process's mailbox: its recv failed at once, as if the new process had died.)"""
    a, b = _pair()
    a.hooks = _HoldAt("lost")
    old_reader = a.readers[1]
    b.close()
    assert a.hooks.entered.wait(30)  # the old connection ended; its reader holds there
    b2 = _restarted(a, b, incarnation=2)
    a._connection(1, 2)  # (returns once the new process's connection is taken in)
    a.hooks.go.set()
    old_reader.join(30)
    with pytest.raises(WireFormatError):  # not there yet (and not PeerLostError: not gone)
        a.box.take(1, 3, wait=False, incarnation=2)
    b2.send(0, 3, np.full(2, 5.0, np.float32))
    np.testing.assert_array_equal(a.recv(1, 3, [2], "float32", incarnation=2), [5.0, 5.0])
    b2.close()
    a.close()


def test_a_send_of_a_run_sent_before_the_peers_restart_goes_to_no_one():
    """A run sent for worker 1's first process sends after its second one connected: the
    receiving run went with the first, so the tensor is dropped, not left in the new
    process's mailbox (where no run would ever take it)."""
    a, b = _pair()
    b2 = _restarted(a, b, incarnation=2)
    a._connection(1, 2)
    with pytest.raises(PeerLostError):
        a.send(1, 4, np.ones(3, np.float32), incarnation=1)
    a.send_failure(1, 5, "why", incarnation=1)  # (ignored: nobody is left to wait for it)
    a.send(1, 6, np.ones(3, np.float32), incarnation=2)
    np.testing.assert_array_equal(b2.recv(0, 6, [3], "float32", incarnation=1), np.ones(3))
    assert list(b2.box.items) == []  # nothing else arrived
    b2.close()
    a.close()


def test_a_restarted_peer_hears_that_this_worker_is_in_a_run():
    """Worker 0 is in a run (it told worker 1 so) when worker 1 is restarted: the new
    process hears it too, as worker 0 takes its connection in, so its recv from worker 0
    waits for the run's tensor instead of counting worker 0 as idle. (Before, the run's
    start was told to the old process only, and the new one gave up on a run that took
    longer than the idle timeout.)"""
    a, b = _pair()
    a.running(True)
    b2 = _restarted(a, b, incarnation=2)
    with b2.box.cond:
        assert b2.box.cond.wait_for(lambda: b2.box.busy.get(0), 30)  # (a limit for a hang)
    a.running(False)
    with b2.box.cond:
        assert b2.box.cond.wait_for(lambda: b2.box.busy.get(0) is False, 30)
    b2.close()
    a.close()


def test_a_restarted_peer_hears_how_many_runs_this_worker_started():
    """The runs worker 0 started before worker 1's restart count for the new process too:
    a run the driver sends it after them waits for worker 0's next run only, and gives up
    on worker 0 once that one has started and ended without sending."""
    a, b = _pair(idle_timeout_s=0.1)
    for _ in range(2):
        a.running(True)
        a.running(False)
    b2 = _restarted(a, b, incarnation=2)
    with b2.box.cond:
        assert b2.box.cond.wait_for(lambda: b2.box.started.get(0) == 2, 30)
    with pytest.raises(WireFormatError, match="sends no tensor 7"):
        b2.recv(0, 7, [2], "float32", incarnation=1, runs=2)
    b2.close()
    a.close()


def test_a_recv_waits_for_a_sender_whose_run_has_not_started_yet():
    """The driver sent worker 1 the run that sends the tensor (its first) before worker
    0's run that receives it; worker 1 starts it late (a loaded machine): worker 0's recv
    does not take worker 1 for idle meanwhile, however many idle timeouts that takes.
    (Before, it failed once worker 1 had been idle for the timeout: "sends no tensor".)"""
    a, b = _pair(idle_timeout_s=0.1)
    got = {}

    def recv():
        try:
            got["value"] = a.recv(1, 8, [2], "float32", incarnation=1, runs=1)
        except Exception as e:  # (the test's thread reports it)
            got["error"] = e

    waiter = threading.Thread(target=recv)
    waiter.start()
    time.sleep(0.5)  # (a late start: five idle timeouts)
    b.running(True)
    b.send(0, 8, np.full(2, 3.0, np.float32))
    b.running(False)
    waiter.join(30)  # (a limit for a hang only: the tensor was sent)
    assert "error" not in got, got
    np.testing.assert_array_equal(got["value"], [3.0, 3.0])
    # a run sent after that one, which no run of worker 1 sends to, still fails when idle
    with pytest.raises(WireFormatError, match="sends no tensor 9"):
        a.recv(1, 9, [2], "float32", incarnation=1, runs=1)
    a.close()
    b.close()
