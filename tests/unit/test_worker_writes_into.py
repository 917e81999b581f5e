"""An in-place op on a worker (an op, then the write of its result, then the result freed:
the driver's temporary) computes straight into the written memory when it can, with the
values of computing and copying; a result that lives on keeps memory of its own."""
from __future__ import annotations

import numpy as np

from distgrad.distributed import wire
from distgrad.distributed.worker import Worker


def _run(w, instrs, *arrays):
    return w.handle(wire.run_message(instrs, inline_arrays=list(arrays)))


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _counting_folds(w) -> list:
    """The worker's ops computed into the memory written next, one entry each."""
    folds, into = [], w._kernel_into

    def counted(*args):
        done = into(*args)
        if done:
            folds.append(args[0])
        return done
    w._kernel_into = counted
    return folds


def test_an_update_is_computed_in_the_parameter_memory():
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal((64, 32)).astype(np.float32), rng.standard_normal((64, 32)).astype(np.float32)
    w = Worker(0, node="t")
    _run(w, [["import", 1, 0], ["import", 2, 1]], p.copy(), g)
    before = _address(w.tensors[1])
    folds = _counting_folds(w)
    _run(w, [["op", "add", [[0, 1], [0, 2]], {"alpha": -0.1}, [3], ["float32"]],
             ["assign", 1, 3], ["free", [3]]])
    assert _address(w.tensors[1]) == before
    assert len(folds) == 1  # no result of its own was made
    np.testing.assert_array_equal(w.tensors[1], p + g * np.float32(-0.1))


def test_a_result_that_lives_on_keeps_its_own_memory():
    """copy_'s source: made by the op before the write, not freed by the run."""
    w = Worker(0, node="t")
    _run(w, [["import", 1, 0]], np.arange(4.0))
    folds = _counting_folds(w)
    _run(w, [["op", "sub", [[0, 1], [0, 1]], {}, [2], ["float64"]], ["assign", 1, 2]])
    _run(w, [["op", "add", [[0, 1], [1, 1.0]], {}, [3], ["float64"]], ["assign", 1, 3],
             ["free", [3]]])
    assert len(folds) == 1  # the add's temporary only
    np.testing.assert_array_equal(w.tensors[2], np.zeros(4))
    np.testing.assert_array_equal(w.tensors[1], np.ones(4))


def test_a_big_update_is_computed_in_chunks_with_the_same_values():
    """Beyond a chunk (ops/math.py _scaled_into), p.add_(g, alpha) and p.sub_(g, alpha)
    write chunk by chunk: bit for bit numpy's p + g * alpha, in p's memory."""
    from distgrad.ops.math import _CHUNK

    rng = np.random.default_rng(2)
    n = 3 * _CHUNK + 5
    p, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    w = Worker(0, node="t")
    _run(w, [["import", 1, 0], ["import", 2, 1]], p.copy(), g)
    before = _address(w.tensors[1])
    _run(w, [["op", "add", [[0, 1], [0, 2]], {"alpha": -0.1}, [3], ["float32"]],
             ["assign", 1, 3],
             ["op", "sub", [[0, 1], [0, 2]], {"alpha": 0.3}, [4], ["float32"]],
             ["assign", 1, 4], ["free", [3, 4]]])
    assert _address(w.tensors[1]) == before
    want = (p + g * np.float32(-0.1)) - g * np.float32(0.3)
    assert w.tensors[1].tobytes() == want.tobytes()


def test_momentum_chain_and_a_strided_destination():
    """mul_ then add_ on a buffer, and sub_ into a transposed view of a base: the base
    holds what numpy's out-of-place results copied in would."""
    rng = np.random.default_rng(1)
    buf, g = rng.standard_normal(50), rng.standard_normal(50)
    base, other = rng.standard_normal((6, 4)), rng.standard_normal((4, 6))
    w = Worker(0, node="t")
    _run(w, [["import", 1, 0], ["import", 2, 1], ["import", 3, 2], ["import", 4, 3],
             ["op", "mul", [[0, 1], [1, 0.9]], {}, [5], ["float64"]], ["assign", 1, 5],
             ["op", "add", [[0, 1], [0, 2]], {"alpha": 0.5}, [6], ["float64"]], ["assign", 1, 6],
             ["op", "t", [[0, 3]], {}, [7], ["float64"]],
             ["op", "sub", [[0, 7], [0, 4]], {}, [8], ["float64"]], ["assign", 7, 8],
             ["free", [5, 6, 8]]],
         buf.copy(), g, base.copy(), other)
    np.testing.assert_array_equal(w.tensors[1], buf * 0.9 + g * 0.5)
    expected = base.copy()
    expected.T[...] = base.T - other
    np.testing.assert_array_equal(w.tensors[3], expected)


def test_a_broadcast_write_or_a_read_only_memory_is_computed_then_copied():
    """A result smaller than the memory (broadcast by the write), or memory numpy may not
    write (a buffer the message handed over): computed on its own, then copied as before."""
    w = Worker(0, node="t")
    _run(w, [["import", 1, 0], ["import", 2, 1], ["import", 3, 2]],
         np.zeros((2, 3), np.float32), np.ones(3, np.float32), np.zeros(3, np.float32))
    frozen = w.tensors[3]
    frozen.flags.writeable = False  # as an array Ray hands over is
    folds = _counting_folds(w)
    _run(w, [["op", "mul", [[0, 2], [1, 2.0]], {}, [4], ["float32"]], ["assign", 1, 4],
             ["op", "add", [[0, 3], [0, 2]], {}, [5], ["float32"]], ["assign", 3, 5],
             ["free", [4, 5]]])
    assert folds == []
    np.testing.assert_array_equal(w.tensors[1], np.full((2, 3), 2.0, np.float32))
    np.testing.assert_array_equal(w.tensors[3], np.ones(3, np.float32))
    assert not frozen.any()
