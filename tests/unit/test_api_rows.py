"""The public names each op row declares (ops/api.py) against torch: every function and
method exists in torch as in distgrad, and every in-place method a row names computes torch's
values, grad_fn and gradients, including through a view of its base."""
from __future__ import annotations

import pytest
import torch

import distgrad as dg
from distgrad.ops.table import OPS
from torch_twin import attempt, grad_of, same

ROWS = [op for op in OPS.values() if op.api]
IN_PLACE = sorted(op.inplace for op in ROWS if op.inplace)

# Arguments after `self` where an in-place method takes more than a tensor like self.
EXTRA = {"clamp_": lambda T: (0.3, 0.6), "pow_": lambda T: (2,),
         "masked_fill_": lambda T: (T.tensor([[True, False, True], [False, True, False]]), 0.5),
         "scatter_": lambda T: (0, T.tensor([[1, 0, 1]]), _operand(T, 1, 3)),
         "scatter_add_": lambda T: (1, T.tensor([[0, 0], [2, 1]]), _operand(T, 2, 2)),
         "index_add_": lambda T: (1, T.tensor([2, 2]), _operand(T, 2, 2)),
         "index_copy_": lambda T: (0, T.tensor([1]), _operand(T, 1, 3)),
         "index_reduce_": lambda T: (1, T.tensor([2, 2]), _operand(T, 2, 2), "amax"),
         "index_fill_": lambda T: (1, T.tensor([0, 2]), T.tensor(0.5, requires_grad=True)),
         "lerp_": lambda T: (_operand(T, 2, 3), 0.3),
         "addcmul_": lambda T: (_operand(T, 2, 3), _operand(T, 3)),
         "addcdiv_": lambda T: (_operand(T, 3), _operand(T, 2, 3)),
         "masked_scatter_": lambda T: (T.tensor([[True, False, True], [False, True, False]]),
                                       _operand(T, 6)),
         "renorm_": lambda T: (2, 0, 0.5)}
# torch's gradient here is a ZeroTensor (no storage: its values cannot be read); distgrad's, zeros.
ZERO_TENSOR_GRADIENT = {"sgn_"}


def _operand(T, *shape):
    n = 1
    for d in shape:
        n *= d
    return T.linspace(0.35, 0.8, n).reshape(shape).requires_grad_()


def test_rows_declare_public_names():
    assert len(ROWS) > 40 and len(IN_PLACE) > 30


@pytest.mark.parametrize("name", sorted(n for op in ROWS for n in op.api))
def test_every_public_name_is_torchs(name):
    assert callable(getattr(torch, name)) and callable(getattr(torch.Tensor, name))
    assert callable(getattr(dg, name)) and callable(getattr(dg.Tensor, name))


def _args(T, name, like):
    if name in EXTRA:
        return EXTRA[name](T)
    op = next(op for op in ROWS if op.inplace == name)
    if len(op.params) == 1:
        return ()
    return (T.linspace(0.35, 0.8, 6).reshape(2, 3).requires_grad_(),)


@pytest.mark.parametrize("name", IN_PLACE)
def test_every_in_place_method_matches_torch(name):
    def program(T):
        x = T.linspace(0.2, 0.7, 6).reshape(2, 3).requires_grad_()
        args = _args(T, name, x)
        a = x * 1.5
        v = a[0]  # a view taken before the write: its history is replayed from the base
        out = attempt(getattr(a, name), *args)
        result = [out, a, a.grad_fn.name() if a.grad_fn else None, v]
        if a.requires_grad and name not in ZERO_TENSOR_GRADIENT:
            try:
                (a.sum() + v.sum()).backward()
            except RuntimeError as e:  # torch names the in-place op (floor_divide_), we the op
                return result + [type(e).__name__, str(e).replace(name, name[:-1])]
            result += [x.grad] + [grad_of(t) for t in args if isinstance(t, T.Tensor)]
        return result

    same(program, rtol=1e-5, atol=1e-6)
