"""distgrad.compile's cut of a worker's program (distributed/program.py `_early_first`): the
ops that make the loss move up to just after what they need, and never past a write into
the memory they read (through a view too) or anything else that touches their tensors."""
from __future__ import annotations

import distgrad.distributed.placement  # noqa: F401  (the op table, to_device included)
from distgrad.distributed.program import _early_first


def _op(name, inputs, out):
    return ["op", name, [[0, t] for t in inputs], {}, [out], ["float32"]]


def test_the_loss_moves_up_past_work_it_does_not_need():
    instrs = [
        _op("relu", [1], 10),  # the forward's output
        _op("mse_loss", [10, 2], 11),
        ["send", 10, 0, 7],
        _op("mm", [3, 4], 12),  # a weight gradient
        ["assign", 5, 12],  # the update, into other memory
        ["free", [12]],
        ["free_node", [41, 42]],  # the backward's graph nodes let go
        _op("alias", [11], 13),  # the loss the step returns (detached: a view)
        _op("mean", [13], 14),
    ]
    out, cut = _early_first(instrs, {14})
    assert [ins[1] if ins[0] == "op" else ins[0] for ins in out] == [
        "relu", "mse_loss", "alias", "mean", "send", "mm", "assign", "free", "free_node"]
    assert cut == 4
    assert sorted(map(str, out)) == sorted(map(str, instrs))  # the same instructions


def test_the_loss_stays_after_a_write_into_memory_it_reads_through_a_view():
    instrs = [
        _op("relu", [1], 10),
        _op("t", [10], 11),  # a view of 10
        _op("mm", [3, 4], 12),
        ["assign", 10, 12],  # writes 10's memory, which 11 shows
        _op("sum", [11], 13),
    ]
    out, cut = _early_first(instrs, {13})
    assert out == instrs and cut == 5


def test_the_loss_stays_after_what_touches_its_tensors():
    instrs = [
        _op("relu", [1], 10),
        ["node", 99, [10]],  # a graph node saves 10
        ["send", 10, 0, 7],
        _op("sum", [10], 11),
    ]
    out, cut = _early_first(instrs, {11})
    assert [ins[0] for ins in out] == ["op", "node", "send", "op"] and cut == 4


def test_an_output_made_by_no_op_is_not_cut():
    instrs = [["recv", 10, 0, 7, [2], "float32"], _op("relu", [1], 11)]
    assert _early_first(instrs, {10})[1] is None


def test_with_sends_the_cut_comes_after_the_last_send_moved_up_too():
    # A pipeline's last stage: the loss, then the input gradient it sends back, then the
    # weight gradient; the send moves up past the weight gradient and into the first part
    # (the previous stage waits for it), the weight gradient stays after the cut.
    instrs = [
        _op("relu", [1], 10),
        _op("mse_loss", [10, 2], 11),
        _op("mm", [3, 4], 12),  # a weight gradient
        _op("mm", [10, 5], 13),  # the input gradient
        ["send", 13, 0, 7],
        ["assign", 6, 12],  # the update
        _op("mean", [11], 14),  # the loss the step returns
    ]
    out, cut = _early_first(instrs, {14}, sends=True)
    assert [ins[1] if ins[0] == "op" else ins[0] for ins in out] == [
        "relu", "mse_loss", "mean", "mm", "send", "mm", "assign"]
    assert out[3][4] == [13] and cut == 5
    assert _early_first(instrs, {14})[1] == 3  # (without: the send after the cut)
