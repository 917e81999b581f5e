"""The tensors an op's backward node saves, as torch's saves them: an in-place write to one
between the forward and the backward raises torch's "modified by an inplace operation",
whichever branch of the gradient formula runs (torch unpacks every saved tensor first)."""
from __future__ import annotations

import pytest
import torch

import distgrad

X = [[0.34, -1.2], [0.52, 1.8]]
S = [0.57, 1.2, 1.88]

# name: (forward(T, x, s) -> out, what is written afterwards: "x", "s" or "out")
CASES = {
    # (found by the program fuzzer: seeds 20002609, 20003753, 20004741)
    "take writes self": (lambda T, x, s: T.take(x, T.tensor([3, 0, 3])), "x"),
    "put accumulate writes source": (
        lambda T, x, s: x.put(T.tensor([3, 1, 3]), s, accumulate=True), "s"),
    "put writes source": (lambda T, x, s: x.put(T.tensor([3, 1, 0]), s), "s"),
    "cumprod with a zero writes its result": (lambda T, x, s: T.cumprod(x.relu(), 0), "out"),
    "cumprod without zeros writes its result": (lambda T, x, s: T.cumprod(x, 1), "out"),
    "cumprod over a dim of one writes self": (lambda T, x, s: x[:1].cumprod(0), "x"),
    "cumprod over a dim of one writes its result": (lambda T, x, s: x[:1].cumprod(0), "out"),
}


def _run(T, forward, written):
    x0 = T.tensor(X, requires_grad=True)
    s0 = T.tensor(S, requires_grad=True)
    x, s = x0 * 1, s0 * 1
    out = forward(T, x, s)
    with T.no_grad():
        {"x": x, "s": s, "out": out}[written].mul_(2)
    try:
        (out * out).sum().backward()
    except RuntimeError as e:
        return str(e).split(":")[0]
    return [x0.grad.tolist(), s0.grad and s0.grad.tolist()]


@pytest.mark.parametrize("name", list(CASES))
def test_a_write_to_a_saved_tensor_raises_as_torch(name):
    forward, written = CASES[name]
    theirs = _run(torch, forward, written)
    assert theirs == "one of the variables needed for gradient computation has been " \
                     "modified by an inplace operation"
    assert _run(distgrad, forward, written) == theirs
