"""Index keys as torch 2.13 reads them: several ellipses in one key, and True, False and
None next to ellipses, slices and index tensors, read and written, with gradients."""
from __future__ import annotations

import pytest

from torch_twin import attempt, graph, same

E = Ellipsis


def _keys(torch):
    """Keys with two or more ellipses: each moves the key's place by the dims it leaves
    unspecified, so items after a second one index past the last dim unless none are left."""
    return [(E, E), (E, 0, E), (0, E, E), (E, E, 0), (E, None, E), (E, E, E), (E, 0, E, 1),
            (E, torch.tensor([0, 1]), E), (E, True, E), (E, False, E), (E, slice(1, None), E),
            (0, 1, 2, E, E), (E,) * 5, (0, E, 1, E), (torch.tensor([1]), E, E),
            (E, E, slice(1, None)), (E, E, slice(None)), (E, E, torch.tensor([0])),
            (E, E, None), (E, E, True), (E, 0, E, slice(None)), (0, E, 0, E), (0, E, E, 0),
            (E, torch.ones(3, 4, dtype=torch.bool), E), (E, torch.ones(4, dtype=torch.bool), E),
            (E, E, -1), (0, 0, E, E, 0), (E, 2, 3, E), (E, 5, E), (None, E, None, E)]


@pytest.mark.parametrize("k", range(30))
def test_several_ellipses_read_write_and_differentiate_as_torch(k):
    def f(torch):
        key = _keys(torch)[k]
        x = torch.arange(24.0).reshape(2, 3, 4).requires_grad_()
        got = attempt(x.__getitem__, key)
        if isinstance(got, torch.Tensor):
            got.pow(2).sum().backward()
        y = torch.zeros(2, 3, 4)
        written = attempt(y.__setitem__, key, 1.0)
        z = torch.zeros(2, 3, 4)
        z4 = torch.zeros(2, 3, 4, 5)
        return [got, x.grad, written, y, attempt(z.__setitem__, key, torch.arange(4.0)), z,
                attempt(z4.__getitem__, key)]

    same(f)


def test_several_ellipses_in_a_write_through_a_view_keep_torchs_graph():
    def f(torch):
        x = torch.ones(2, 3, 4, requires_grad=True)
        b = x.clone()
        b[E, 0, E] = torch.arange(3.0, requires_grad=True)
        b.sum().backward()
        return b, graph(b), x.grad

    same(f)


def _bool_keys(torch):
    return [True, False, (True,), (False,), (E, True), (True, E), (E, False), (0, True),
            (True, 0), (slice(1, None), True), (True, slice(1, None)),
            (True, torch.tensor([1, 0])), (torch.tensor([1, 0]), True),
            (torch.tensor([1, 0]), E, True), (None, True, E, False), (torch.tensor(True), E),
            (E, torch.tensor(True)), (True, True), (E, None, True), (E, None), (None, E),
            (slice(None), None), (0, None), (E, None, 0), (E, torch.tensor(False)),
            (True, torch.tensor([[True, False, True], [False, True, True]]))]


_VALUE_SHAPES = [(), (3,), (3, 1), (2, 3, 1), (1, 2, 3), (2, 1), (1, 1, 3), (2, 1, 3), (5,)]


@pytest.mark.parametrize("k", range(26))
def test_a_bool_or_none_key_writes_values_broadcast_to_torchs_indexing_result(k):
    """torch indexes by True (False) as by the index tensor [0] ([]) on a new dim of size 1:
    the value broadcasts to the result with that dim (a (3, 1) value into x[..., True] of a
    (2, 3) x); None is a view's new dim, written by copy_. Values, errors, the graph and the
    gradients of both sides match torch's."""
    def f(torch):
        out = []
        for shape in _VALUE_SHAPES:
            x = torch.zeros(2, 3, requires_grad=True)
            b = x * 1
            n = 1
            for s in shape:
                n *= s
            v = torch.arange(1.0, 1.0 + n).reshape(shape).requires_grad_()
            written = attempt(b.__setitem__, _bool_keys(torch)[k], v)
            if written is None:
                b.pow(2).sum().backward()
            out.append([written, b, graph(b, 2), x.grad, v.grad, b._version])
        return out

    same(f)


@pytest.mark.parametrize("k", range(26))
def test_a_bool_or_none_key_reads_and_writes_leaves_and_views_as_torch(k):
    def f(torch):
        key = _bool_keys(torch)[k]
        x = torch.arange(6.0).reshape(2, 3).requires_grad_()
        got = attempt(x.__getitem__, key)
        if isinstance(got, torch.Tensor):
            got.pow(2).sum().backward()
        leaf = torch.zeros(2, 3, requires_grad=True)
        refused = attempt(leaf.__setitem__, key, 1.0)
        base = torch.zeros(4, 3, requires_grad=True)
        b = base.clone()
        y = b[1:3]
        w = torch.ones(3, requires_grad=True)
        written = attempt(y.__setitem__, key, w)
        b.sum().backward()
        return [got, x.grad, refused, written, b, y, base.grad, w.grad,
                attempt(torch.zeros(2, 3, dtype=torch.float64).__setitem__, key,
                        torch.ones(3))]

    same(f)


def test_a_true_parting_the_index_tensors_writes_in_torchs_order():
    """x[:, t, :, True]: the index tensors [0] and t are apart, so torch's result puts their
    dims first; the write takes a value in that order, with torch's graph and gradients."""
    def f(torch):
        x = torch.zeros(2, 5, 4, requires_grad=True)
        t = torch.tensor([0, 1, 2])
        out = []
        for key in ((slice(None), t, slice(None), True), (True, slice(None), t)):
            b = x * 1
            v = torch.arange(24.0).reshape(3, 2, 4).requires_grad_()
            b[key] = v
            (b * b).sum().backward()
            out += [b, graph(b, 2), v.grad, x.grad.clone(), b[key]]
        return out

    same(f)
