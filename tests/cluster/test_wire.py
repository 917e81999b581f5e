"""Malformed messages get WireFormatError, and the worker goes on serving."""
from __future__ import annotations

import msgpack
import pytest

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import wire
from distgrad.distributed.wire import WireFormatError

GOOD_OP = ["op", "add", [[1, 1.0], [1, 2.0]], {}, [999999], ["float32"]]

BAD = {
    "not msgpack": b"\xc1\xc1\xc1",
    "truncated": wire.run_message([GOOD_OP])[:-3],
    "not a map": msgpack.packb([1, 2, 3]),
    "no version": msgpack.packb({"type": "run", "instrs": []}),
    "wrong version": msgpack.packb({"v": 99, "type": "run", "instrs": []}),
    "unknown type": msgpack.packb({"v": 1, "type": "launch_missiles"}),
    "extra field": msgpack.packb({"v": 1, "type": "ping", "pickle": b"x"}),
    "instrs not a list": msgpack.packb({"v": 1, "type": "run", "instrs": 5}),
    "unknown instruction": msgpack.packb({"v": 1, "type": "run", "instrs": [["exec", "rm"]]}),
    "unknown op": msgpack.packb({"v": 1, "type": "run",
                                 "instrs": [["op", "os.system", [], {}, [1], ["float32"]]]}),
    "wrong field type": msgpack.packb({"v": 1, "type": "run",
                                       "instrs": [["op", "add", "x", {}, [1], ["float32"]]]}),
    "missing field": msgpack.packb({"v": 1, "type": "run", "instrs": [["op", "add", [], {}]]}),
    "unknown tensor id": msgpack.packb({"v": 1, "type": "run",
                                        "instrs": [["op", "neg", [[0, 123456789]], {}, [7],
                                                    ["float32"]]]}),
    "bad dtype": msgpack.packb({"v": 1, "type": "run",
                                "instrs": [["op", "neg", [[1, 1.0]], {}, [7], ["complex64"]]]}),
    "bad ext": msgpack.packb({"v": 1, "type": "run", "instrs": [],
                              "arrays": [msgpack.ExtType(1, b"\x00\x01")]}),
    "short array bytes": msgpack.packb({"v": 1, "type": "run", "instrs": [],
                                        "arrays": [msgpack.ExtType(1, msgpack.packb(
                                            ["float32", [4], b"\x00" * 3]))]}),
    "not bytes": 12345,
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_message(backend, case):
    rt = dist.current()
    with pytest.raises(WireFormatError):
        rt.endpoint.raw(0, BAD[case])
    # the worker still answers
    assert dg.ones(3, device="worker:0").sum().item() == 3.0
    reply = wire.decode_reply(rt.endpoint.raw(0, wire.simple_message("ping"))[0])
    assert reply["pid"] == dist.stats()["worker:0"]["pid"]


def test_error_names_the_field(backend):
    with pytest.raises(WireFormatError, match=r"instrs\[0\]\[2\]"):
        dist.current().endpoint.raw(0, BAD["wrong field type"])
