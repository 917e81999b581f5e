"""The wire decoder and a worker under fuzzing: at least 10,000 generated and mutated
messages each, and the only exception is WireFormatError (never another exception, a
crash or a hang). tests/cluster/test_worker_fuzz.py does the same to live workers on both
backends."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from distgrad.distributed import wire
from distgrad.distributed.channels import LocalHub
from distgrad.distributed.wire import WireFormatError
from distgrad.distributed.worker import Worker
import wire_corpus

PER_EXAMPLE = 25  # messages per hypothesis example: 1 generated, the rest mutated
EXAMPLES = 420  # 420 * 25 = 10,500 messages per test
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))


def _batch(generated, seed, payloads):
    """A generated message and PER_EXAMPLE - 1 mutants of the corpus (and of each other)."""
    rng = random.Random(seed)
    out = [wire_corpus.pack_generated(generated)]
    for _ in range(PER_EXAMPLE - 1):
        base = rng.choice(payloads if rng.random() < 0.8 else out)
        out.append(wire_corpus.mutate(rng, base, payloads))
    return rng, out


def _fuzz(feed):
    """Run hypothesis over `feed(rng, payload)`; returns how many messages were fed and how
    many were refused."""
    payloads = [p for _, p in wire_corpus.corpus()]
    count = {"fed": 0, "refused": 0}

    @_SETTINGS
    @given(wire_corpus.messages, st.integers(0, 2 ** 32 - 1))
    def run(generated, seed):
        rng, batch = _batch(generated, seed, payloads)
        for payload in batch:
            count["fed"] += 1
            try:
                feed(rng, payload)
            except WireFormatError:
                count["refused"] += 1
            except Exception as e:  # noqa: BLE001 -- what this test is looking for
                raise AssertionError(f"{type(e).__name__}: {e}\nmessage: {payload!r}") from e

    run()
    return count


def test_decoder_only_raises_wire_format_error():
    count = _fuzz(lambda rng, payload: wire.decode_request(payload))
    assert count["fed"] >= 10_000
    assert 0.5 * count["fed"] < count["refused"] < count["fed"]  # most, not all, are refused


def test_worker_only_raises_wire_format_error():
    workers = [Worker(0, node="fuzz"), Worker(1, node="fuzz")]
    hub = LocalHub(2)
    for w in workers:
        w.channels = hub.channels(w.index)
    worker = workers[0]
    worker.MAX_ELEMENTS = 2 ** 16  # mutants may ask for huge tensors; refuse them cheaply
    for index, payload in wire_corpus.corpus():  # the real traffic builds up some state
        workers[index].handle(payload)
    count = _fuzz(lambda rng, payload: worker.handle(payload, *wire_corpus.extra_args(rng)))
    assert count["fed"] >= 10_000
    # the worker still serves real work
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = worker.handle(wire.run_message([["import", 10 ** 9, 0],
                                          ["op", "sum", [[0, 10 ** 9]], {}, [10 ** 9 + 1],
                                           ["float32"]],
                                          ["export", 10 ** 9 + 1]], inline_arrays=[a]))
    assert wire.decode_reply(out[0])["exports"] == 1 and float(out[1]) == 15.0


def test_corpus_is_real_traffic():
    sent = wire_corpus.corpus()
    assert len(sent) >= 8 and {i for i, _ in sent} == {0, 1}
    ops = {ins[1] for _, p in sent for ins in wire.decode_request(p).get("instrs", [])
           if ins[0] == "op"}
    assert {"mm", "tanh", "add", "mul"} <= ops, ops


_A = [np.ones((2, 3), np.float32)]
REFUSED = {
    "unknown attr": (wire.run_message([["op", "neg", [[1, 2.0]], {"bogus": 1}, [5], ["float32"]]]),
                     "instrs[0]"),
    "dim out of range": (wire.run_message([["import", 1, 0], ["op", "sum", [[0, 1]], {"dim": 7},
                                                              [5], ["float32"]]], _A), "instrs[1]"),
    "huge reshape": (wire.run_message([["import", 1, 0], ["op", "reshape", [[0, 1]],
                                                          {"shape": [2 ** 40]}, [5], ["float32"]]],
                                      _A), "instrs[1]"),
    "attr of the wrong type": (wire.run_message([["import", 1, 0], ["op", "add", [[0, 1], [1, 1.0]],
                                                                    {"alpha": "x"}, [5],
                                                                    ["float32"]]], _A), "instrs[1]"),
    "too big a tensor": (wire.run_message([["op", "full", [], {"shape": [2 ** 20, 2 ** 20],
                                                               "value": 0, "dtype": "float32"},
                                            [5], ["float32"]]]), "instrs[0]"),
    "missing array argument": (wire.run_message([["import", 5, 0]]), "instrs[0][2]"),
    "wrong number of outputs": (wire.run_message([["import", 1, 0], ["op", "neg", [[0, 1]], {},
                                                                     [5, 6], ["float32", "float32"]]],
                                                 _A), "instrs[1][4]"),
    "a move is not a worker op": (wire.run_message([["op", "to_device", [[1, 2.0]],
                                                     {"device": "cpu"}, [5], ["float32"]]]),
                                  "instrs[0][1]"),
    "assign across dtypes": (wire.run_message([["import", 1, 0], ["import", 2, 1],
                                               ["assign", 1, 2]],
                                              _A + [np.ones((2, 3), np.int64)]), "instrs[2]"),
    "use after free": (wire.run_message([["import", 1, 0], ["free", [1]], ["export", 1]], _A),
                       "instrs[2][1]"),
    "read of no region": (wire.run_message([["read", 1, "/x", "k", [3], [1], "float32", 0, 8]]),
                          "instrs[0]"),
    "read of an unknown dtype": (wire.run_message([["read", 1, "/x", "k", [0], [1], "complex64", 0,
                                                    8]]), "instrs[0][6]"),
    "save of an unknown tensor": (wire.body_message("save", {"path": "/x", "items": [["k", 4]],
                                                             "copy": False}), "body.items"),
    "save with a malformed body": (wire.body_message("save", {"path": "/x", "items": [["k"]],
                                                              "copy": False}), "body.items"),
    "save without a body": (wire.simple_message("save"), "body"),
    "poll of no write": (wire.body_message("save_poll", {"ticket": 3}), "body.ticket"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_messages_the_worker_refuses(case):
    """Well-formed maps whose run does not fit the worker: refused (before any of it runs,
    unless only the op's forward can tell)."""
    payload, field = REFUSED[case]
    w = Worker(0, node="t")
    with pytest.raises(WireFormatError, match=field.replace("[", r"\[").replace("]", r"\]")):
        w.handle(payload)
    if case != "attr of the wrong type":  # found by the forward, after the import ran
        assert w.tensors == {} and w.nodes == {}


def test_a_failed_run_still_frees():
    w = Worker(0, node="t")
    w.handle(wire.run_message([["import", 1, 0], ["node", 7, [1]]],
                              inline_arrays=[np.ones(3, np.float32)]))
    assert (len(w.tensors), len(w.nodes)) == (1, 1)
    with pytest.raises(WireFormatError):
        w.handle(wire.run_message([["op", "neg", [[0, 99]], {}, [2], ["float32"]],
                                   ["free", [1]], ["free_node", [7]]]))
    assert (len(w.tensors), len(w.nodes)) == (0, 0)


def test_op_errors_on_values_keep_their_type():
    """An index out of range is in the data, not the message: torch's IndexError, recorded
    for the op's result (read back as the error), while the rest of the run goes on."""
    from distgrad.distributed.errors import error_of

    w = Worker(0, node="t")
    msg = wire.run_message([["import", 1, 0], ["import", 2, 1],
                            ["op", "index_select", [[0, 1], [0, 2]], {"dim": 0}, [3], ["float32"]],
                            ["op", "neg", [[0, 1]], {}, [4], ["float32"]],
                            ["export", 3], ["export", 4]],
                           inline_arrays=[np.ones(3, np.float32), np.array([5], np.int64)])
    reply, failed_value, fine_value = w.handle(msg)
    [[index, record]] = wire.decode_reply(reply)["failed"]
    assert index == 2 and record["op"] == "index_select" and record["worker"] == 0
    err = error_of(wire.decode_reply(failed_value)["error"])
    assert isinstance(err, IndexError) and "index out of range in self" in str(err)
    assert "op 'index_select' on worker:0" in str(err)
    assert fine_value.tolist() == [-1.0, -1.0, -1.0]


def test_no_pickled_data_in_distgrad_messages():
    """Messages are msgpack maps of plain values and arrays; nothing is pickled or eval'ed."""
    import inspect
    import pickle
    import re

    from distgrad.distributed import coordinator, runtime, worker as worker_mod

    for mod in (wire, worker_mod, coordinator, runtime):
        src = inspect.getsource(mod)
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|cloudpickle|marshal|dill)\b", src,
                             re.M), mod.__name__
        assert not re.search(r"\b(eval|exec)\(", src), mod.__name__

    class Anything:
        pass

    with pytest.raises(TypeError, match="cannot encode"):
        wire.run_message([["op", "neg", [[1, Anything()]], {}, [1], ["float32"]]])
    with pytest.raises(WireFormatError):
        wire.decode_request(pickle.dumps({"v": 1, "type": "ping"}))
    w = Worker(0, node="t")
    with pytest.raises(WireFormatError, match="not an array of a distgrad dtype"):
        w.handle(wire.run_message([["import", 1, 0]]), np.array([Anything()], dtype=object))


def test_checkpoint_shard_written_and_read_by_the_worker(tmp_path):
    """A save message writes the worker's tensors; a read instruction gets a region back,
    and refuses a file whose bytes changed (naming it); the worker keeps serving."""
    w = Worker(0, node="t")
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    w.handle(wire.run_message([["import", 1, 0]], inline_arrays=[a]))
    path = str(tmp_path / "shard.safetensors")
    reply = wire.decode_reply(w.handle(wire.body_message(
        "save", {"path": path, "items": [["a", 1]], "copy": False}))[0])
    crc, size = reply["crc32"]["a"], reply["file_bytes"]
    read = ["read", 2, path, "a", [1, 1], [3, 3], "float64", crc, size]
    out = w.handle(wire.run_message([read, ["export", 2]]))
    np.testing.assert_array_equal(out[1], a[1:3, 1:3])
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 1
    open(path, "wb").write(bytes(data))
    with pytest.raises(RuntimeError, match="shard.safetensors is corrupted"):
        w.handle(wire.run_message([read, ["export", 2]]))
    assert wire.decode_reply(w.handle(wire.simple_message("ping"))[0])["pid"]
