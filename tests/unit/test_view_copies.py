"""torch's *_copy functions and unsafe splits against torch (torch_twin.same): values, the
copy's row-major strides (the unsafe splits keep the input's, with no _base), grad_fn names
(PermuteBackward0_copy, UnsafeSplitBackward0), gradients and errors. op_cases' shape cases
check the same ops' finite differences and second-order gradients."""
from __future__ import annotations

import numpy as np
import pytest

from torch_twin import attempt, same

A = np.random.default_rng(3).standard_normal((2, 3, 4)).astype(np.float32)

CASES = dict(
    view_copy=lambda T, x: T.view_copy(x, [6, 4]),
    view_copy_of_a_transpose=lambda T, x: T.view_copy(x.transpose(1, 2), [-1]),
    permute_copy=lambda T, x: T.permute_copy(x, [2, 0, 1]),
    transpose_copy=lambda T, x: T.transpose_copy(x, 0, 2),
    t_copy=lambda T, x: T.t_copy(x[0]),
    expand_copy=lambda T, x: T.expand_copy(x[:, :1], [2, 5, 4]),
    squeeze_copy=lambda T, x: T.squeeze_copy(x[:1]),
    squeeze_copy_dim=lambda T, x: T.squeeze_copy(x[:1], 0),
    unsqueeze_copy=lambda T, x: T.unsqueeze_copy(x, 1),
    select_copy=lambda T, x: T.select_copy(x, 1, -1),
    slice_copy=lambda T, x: T.slice_copy(x, 2, 1, 4, 2),
    diagonal_copy=lambda T, x: T.diagonal_copy(x, 1, 1, 2),
    split_copy=lambda T, x: T.split_copy(x, 3, 2),
    split_with_sizes_copy=lambda T, x: T.split_with_sizes_copy(x, [1, 3], 2),
    unbind_copy=lambda T, x: T.unbind_copy(x, 1),
    alias_copy=lambda T, x: T.alias_copy(x),
    as_strided_copy=lambda T, x: T.as_strided_copy(x, [2, 2], [1, 2], 1),
    unfold_copy=lambda T, x: T.unfold_copy(x, 2, 2, 1),
    unsafe_chunk=lambda T, x: T.unsafe_chunk(x, 2, 1),
    unsafe_chunk_method=lambda T, x: x.unsafe_chunk(3),
    unsafe_split=lambda T, x: x.unsafe_split(2, -1),
    unsafe_split_with_sizes=lambda T, x: x.unsafe_split_with_sizes([1, 3], 2),
)


@pytest.mark.parametrize("name", CASES)
def test_a_copy_is_the_views_values_in_new_memory_with_torchs_node(name):
    def scenario(T):
        x = T.tensor(A, requires_grad=True)
        y = CASES[name](T, x)
        pieces = list(y) if isinstance(y, (tuple, list)) else [y]
        seen = [type(y).__name__] + [(t, t.is_contiguous(), t.stride(), t._base is None)
                                     for t in pieces]
        weights = [T.arange(t.numel(), dtype=T.float32).reshape(t.shape) for t in pieces]
        sum((t * w).sum() for t, w in zip(pieces, weights)).backward()
        return seen + [x.grad]

    same(scenario)


def test_an_unsafe_split_piece_is_written_without_a_view_error():
    def scenario(T):
        x = T.tensor(A, requires_grad=True) * 1
        a, b = x.unsafe_chunk(2)
        a.mul_(2)  # (split's pieces refuse this: they are views of a multi-output op)
        a.sum().backward()
        return [a, x._version, a._version]

    same(scenario)


def test_detach_copy_requires_grad_and_has_no_derivative():
    def scenario(T):
        d = T.detach_copy(T.tensor(A, requires_grad=True))
        return [d, attempt(lambda: d.sum().backward())]

    same(scenario)


def test_copy_functions_check_their_arguments_as_torch():
    same(lambda T: [attempt(T.select_copy, T.ones(2, 3), 1, 5),
                    attempt(T.permute_copy, T.ones(2, 3), [0]),
                    attempt(T.split_copy, T.ones(4), [1, 3]),
                    attempt(T.unsafe_split_with_sizes, T.ones(4), [1, 2]),
                    attempt(T.unsafe_chunk, T.ones(4), 0)])


def test_copy_functions_and_the_deprecated_norms_take_out():
    def scenario(T):
        x, res = T.tensor(A[0]), []
        for name, args in dict(view_copy=([12],), permute_copy=([1, 0],), t_copy=(),
                               select_copy=(0, 1), slice_copy=(1, 0, 2), unsqueeze_copy=(0,),
                               as_strided_copy=([2], [1]), unfold_copy=(1, 2, 1),
                               detach_copy=(), alias_copy=(), nuclear_norm=(),
                               frobenius_norm=([0],)).items():
            out = T.empty(0)
            res += [name, getattr(T, name)(x, *args, out=out) is out, out,
                    attempt(getattr(T, name), x, *args, out=T.empty(1, dtype=T.int64))]
        return res

    same(scenario, warnings_too=False)  # (nuclear_norm's once-a-process warning)


def test_a_copy_into_an_out_of_another_shape_resizes_it_with_a_warning():
    same(lambda T: [T.t_copy(T.tensor(A[0]), out=T.empty(7))])
