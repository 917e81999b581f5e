"""The driver's connection to a worker (distributed/control.py), without Ray: a server in
this process standing in for the worker's end."""
from __future__ import annotations

import pickle
import socket
import threading
import time

import numpy as np
import pytest

from distgrad.distributed import control
from distgrad.distributed.channels import PeerLostError, open_with_hello

SECRET = b"s" * 32


def _server(serve, **kw):
    server = control.ControlServer(serve, SECRET, **kw)
    return server, control.ControlLink(0, server.address(), SECRET, same_node=True)


def test_messages_are_served_in_order_with_their_arrays():
    seen = []

    def serve(payload, *arrays):
        seen.append(payload)
        return (payload + b"!",) + tuple(a * 2 for a in arrays)

    _, link = _server(serve)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([True, False])
    others = [np.array([3, -4], dt) for dt in (np.int32, np.int16, np.int8, np.float16)]
    others.append(np.array([200, 1], np.uint8))
    handles = [link.call((b"m%d" % k, a, b, *others), returns=3 + len(others))
               for k in range(50)]
    for k, (reply, x, y, *rest) in enumerate(handles):
        assert reply.result(10) == b"m%d!" % k
        np.testing.assert_array_equal(x.result(10), a * 2)
        assert x.result(10).dtype == np.float32 and x.result(10).shape == (2, 3)
        np.testing.assert_array_equal(y.result(10), b * 2)
        for got, sent in zip(rest, others):  # every dtype's code (uint8's 200 * 2 wraps)
            assert got.result(10).dtype == sent.dtype
            np.testing.assert_array_equal(got.result(10), sent * 2)
    assert seen == [b"m%d" % k for k in range(50)]
    # one return: the whole answer, as Ray's single return was
    assert link.call((b"x",))[0].result(10) == (b"x!",)
    link.close()


def test_an_exception_the_worker_raises_is_raised_anew_at_each_read():
    def serve(payload):
        raise PeerLostError(3, "gone", incarnation=2)

    _, link = _server(serve)
    part = link.call((b"run",))[0]
    errors = []
    for _ in range(2):
        with pytest.raises(control.Raised) as info:
            part.result(10)
        errors.append(info.value.cause)
    assert isinstance(errors[0], PeerLostError)
    assert (errors[0].peer, errors[0].incarnation) == (3, 2)
    assert errors[0] is not errors[1]  # a raised one holds its traceback: never kept
    link.close()


def test_a_value_the_link_does_not_carry_reaches_the_worker_as_such():
    got = []

    def serve(payload, *args):
        got.extend(args)
        return (b"ok",)

    _, link = _server(serve)
    link.call((b"m", "text", np.zeros(2, np.complex64), np.arange(2)))[0].result(10)
    assert [type(g).__name__ for g in got] == ["NotCarried", "NotCarried", "ndarray"]
    assert "str" in repr(got[0]) and "complex64" in repr(got[1])
    link.close()


def test_a_wrong_secret_is_not_served():
    served = []
    server = control.ControlServer(lambda p: served.append(p) or (b"",), SECRET)
    with pytest.raises(ConnectionRefusedError, match="worker:0 refused the driver's connection"):
        control.ControlLink(0, server.address(), b"x" * 32, same_node=True)
    assert served == []


def test_answers_not_in_fail_when_the_connection_closes():
    release = threading.Event()
    started = threading.Event()

    def serve(payload):
        started.set()
        release.wait(10)
        return (b"late",)

    _, link = _server(serve)
    first = link.call((b"a",))[0]
    second = link.call((b"b",))[0]
    assert started.wait(10)
    link.close("restart_worker", retired=True)
    for part in (first, second):
        with pytest.raises(control.LinkLost) as info:
            part.result(10)
        assert info.value.retired and info.value.index == 0
    # a message after the close fails at once, without a write
    with pytest.raises(control.LinkLost):
        link.call((b"c",))[0].result(0)
    release.set()


def test_the_driver_never_waits_to_write_to_a_worker_that_does_not_read():
    # A stopped worker reads nothing: a message bigger than the socket's buffers is left
    # to the writer thread, and the wait for its answer times out instead.
    release = threading.Event()

    def serve(payload, *arrays):
        release.wait(30)
        return (b"done", arrays[0][:1]) if arrays else (b"done",)

    _, link = _server(serve)
    blocked = link.call((b"first",))[0]
    big = np.ones(4 << 20, np.float32)  # 16 MB: more than a Unix socket holds
    calls = []
    writer = threading.Thread(target=lambda: calls.append(link.call((b"big", big), 2)))
    writer.start()
    writer.join(10)
    assert not writer.is_alive(), "call() waited for the worker to read"
    with pytest.raises(TimeoutError):
        blocked.result(0.2)
    release.set()
    assert blocked.result(10) == (b"done",)
    reply, head = calls[0]
    assert reply.result(10) == b"done" and head.result(10).tolist() == [1.0]
    link.close()


def test_a_frame_that_breaks_the_format_closes_the_connection():
    served = []
    server = control.ControlServer(lambda *p: served.append(p) or (b"",), SECRET)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(server.address()["unix"])
    s.sendall(control._OPENING + SECRET)
    s.settimeout(10)
    assert s.recv(1) == b"\1"  # opened
    # one part of an unknown kind
    s.sendall(control._FRAME.pack(1, 0, 1) + control._PART.pack(9, 0))
    s.settimeout(10)
    assert s.recv(1) == b""  # closed, nothing served
    assert served == []
    s.close()


def test_a_silent_connection_is_closed_and_a_driver_slow_to_open_connects_again():
    """A connection that does not open with the secret in time is closed: a silent one
    holds the worker's thread for that short time only, and a driver held between its
    connect and its opening past it connects again."""
    server = control.ControlServer(lambda p: (p + b"!",), SECRET, hello_timeout_s=0.2)
    made = []

    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(server.address()["unix"])
        made.append(s)
        if len(made) == 1:  # held past the worker's deadline: closed on it
            s.settimeout(30)
            assert s.recv(1) == b""
        return s

    s = open_with_hello(connect, control._OPENING + SECRET, time.monotonic() + 60, "refused")
    assert len(made) == 2 and s is made[1]
    s.close()
    link = control.ControlLink(0, server.address(), SECRET, same_node=True, timeout_s=60)
    assert link.call((b"m",))[0].result(10) == (b"m!",)
    link.close()


def test_the_pickled_fallback_for_an_exception_that_does_not_pickle():
    class Local(Exception):  # defined in a function: pickle cannot find it
        pass

    back = pickle.loads(control._pickled(Local("why")))
    assert isinstance(back, RuntimeError) and "Local: why" in str(back)


def test_a_driver_on_another_node_connects_by_tcp():
    server = control.ControlServer(lambda p, *a: (p,) + a, SECRET, tcp_host="127.0.0.1")
    address = server.address()
    assert address["tcp"][0] == "127.0.0.1"
    link = control.ControlLink(1, address, SECRET, same_node=False)
    assert link.sock.family == socket.AF_INET
    reply, arr = link.call((b"over tcp", np.arange(4.0)), returns=2)
    assert reply.result(10) == b"over tcp" and arr.result(10).tolist() == [0.0, 1.0, 2.0, 3.0]
    link.close()


def test_an_exception_the_driver_cannot_rebuild_still_arrives_as_an_error():
    reply = control.Reply()
    reply.raised = b"not a pickle"
    reply.event.set()
    with pytest.raises(control.Raised) as info:
        control.Part(reply, None).result(0)
    assert isinstance(info.value.cause, RuntimeError)
    assert "cannot rebuild" in str(info.value.cause)
