"""The shape, indexing, creation, random, dtype and top-level functional names added to
distgrad, each scenario run under torch and distgrad (torch_twin.same): values, dtypes,
grad_fn names, versions and view relations, gradients and errors. Random draws are not
torch's numbers: their shapes, dtypes, ranges, determinism and a loose statistic are."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
from torch_twin import attempt, grad_of, same


def _arange(T, *shape, requires_grad=False):
    n = int(np.prod(shape))
    return (T.arange(n, dtype=T.float64) / 3 - 1).reshape(*shape).requires_grad_(requires_grad)


# ---- in-place shape ops: metadata changes, versions, views, gradients ----------------------------

def test_inplace_shape_ops_keep_memory_and_count_versions():
    def fn(T):
        x = _arange(T, 2, 3, requires_grad=True)
        y = x * 2
        v = y.view(6)  # a view taken before: still sees y's memory
        out = [y._version]
        y.t_()
        out += [y.shape, y.stride(), y.is_contiguous(), y._is_view(), y._version, y.grad_fn.name()]
        y.unsqueeze_(1)
        y.squeeze_(1)
        y.transpose_(0, 1)
        y.swapaxes_(1, 0)
        out += [y.shape, y.stride(), y._version, y.grad_fn.name()]
        y.mul_(3)  # writes the shared memory: v sees it
        out += [v, v._version]
        (y * T.arange(6.0, dtype=T.float64).reshape(3, 2)).sum().backward()
        out.append(x.grad)
        return out

    same(fn)


def test_reshape_of_a_strided_input_is_recorded_as_an_alias():
    def fn(T):
        x = _arange(T, 3, 4, 5, requires_grad=True)
        p = (x * 1).permute(2, 0, 1)
        views = [p.reshape(5, 12), p.flatten(1), p.view(5, 12), p.reshape(5, 3, 4),
                 (x * 1).reshape(12, 5), p.unflatten(1, (3, 1))]
        out = [(v.grad_fn.name(), v._is_view(), v.stride()) for v in views]
        sum((v * v).sum() for v in views).backward()
        return out + [x.grad]

    same(fn)


def test_as_strided_of_a_view_torch_forbids_writing_is_forbidden_too():
    def fn(T):
        x = _arange(T, 6, 6, requires_grad=True)
        y = x * 1
        out = []
        for view in (y.unbind(0)[1], y.split(2)[1]):
            window = view.as_strided((3, 3), (6, 1), 2)
            out += [attempt(window.mul_, 2), y._version]
        with T.no_grad():
            made = y[1:]
        out.append(attempt(made.as_strided((2, 2), (6, 1)).add_, 1))
        out += [y._version, T.empty(6, 6)[..., None].permute(2, 1, 0)[1:].is_contiguous()]
        return out

    same(fn)


def test_inplace_shape_op_on_a_view_and_under_no_grad():
    def fn(T):
        x = _arange(T, 3, 4, requires_grad=True)
        z = x * 1
        w = z[1]
        w.unsqueeze_(0)
        out = [w.shape, w._is_view(), w._base is z, w.grad_fn.name()]
        w.mul_(10)
        out.append(z)
        z.sum().backward()
        out.append(x.grad)
        leaf = _arange(T, 2, 3, requires_grad=True)
        with T.no_grad():
            leaf.t_()
        out += [leaf.shape, leaf.requires_grad, leaf.is_leaf, leaf.grad_fn is None]
        out.append(attempt(leaf.unsqueeze_, 0))
        return out

    same(fn)


def test_inplace_shape_op_checks_a_view_as_any_in_place_op():
    """On a view, t_/unsqueeze_/... are refused where mul_ would be: a view of a leaf that
    requires grad, one of several outputs (unbind), one made without grad mode written with
    it; without grad mode, the view's history is made anew from its base's when read."""
    def fn(T):
        out = []
        for op in (lambda v: v.t_(), lambda v: v.unsqueeze_(0), lambda v: v.transpose_(0, 1)):
            x = _arange(T, 2, 2).clone().requires_grad_()  # (a leaf that is no view)
            y = x * 1
            out += [attempt(op, x.t()), attempt(op, x[0:1]), attempt(op, y.unbind(0)[0])]
            with T.no_grad():
                v, u = x.t(), y.t()
            out.append(attempt(op, v))
            w = y.t()
            with T.no_grad():
                op(w)
                op(u)
            out += [w.shape, w.requires_grad, w.grad_fn.name(), attempt(lambda: u.grad_fn)]
            x.sum().backward()
            out.append(x.grad)
        return out

    same(fn)


def test_as_strided_():
    def fn(T):
        y = _arange(T, 2, 3, requires_grad=True) * 1
        y.as_strided_((3, 2), (1, 3), 0)
        leaf = _arange(T, 6, requires_grad=True)
        v = (_arange(T, 4, 3, requires_grad=True) * 1)[1:]
        v.as_strided_((2, 2), (1, 3), 1)
        return [y, y.stride(), y.grad_fn.name(), y._version, v, v._is_view(), v.storage_offset(),
                attempt(leaf.as_strided_, (2,), (1,))]

    same(fn)


def test_inplace_shape_op_under_no_grad_keeps_a_non_view_s_history():
    # torch's t_/unsqueeze_/as_strided_ under no_grad leave a result's grad_fn as it was
    # (its version counts the write); distgrad took it for a leaf
    def fn(T):
        x = _arange(T, 3, requires_grad=True)
        y, z = x * 2, x * 3
        with T.no_grad():
            y.unsqueeze_(0)
            z.as_strided_((2,), (1,))
        y.sum().backward()
        return [y.grad_fn.name(), y.is_leaf, y._version, z.grad_fn.name(), x.grad,
                attempt(lambda: z.sum().backward())]

    same(fn)


def test_write_through_a_view_of_an_overlapping_tensor_refuses_its_backward():
    # (found by the program fuzzer, seed 22767971: torch writes a view of a tensor whose
    # elements overlap (as_strided_ with a stride 0) and raises in backward, at CopySlices)
    def fn(T):
        out = []
        for detached in (False, True):
            x = _arange(T, 3, requires_grad=True)
            y = x * 1
            y = y.detach() if detached else y
            y.as_strided_((2,), (0,))
            w = T.tensor([5.0], requires_grad=True)
            y.narrow(0, 0, 1).mul_(w)
            out += [y, y.grad_fn.name(), y._version, attempt(lambda: y.sum().backward()),
                    x.grad, w.grad]
        return out

    same(fn)


def test_as_strided_of_a_detached_view_reaches_the_whole_memory():
    # (found by the program fuzzer, seed 1018: a detached view's layout is bounded by the
    # memory it views, as out of place, not by its own elements)
    def fn(T):
        x = _arange(T, 2, 3, requires_grad=True)
        z = x * 2
        d = z[0].detach()
        e = z.chunk(2, 1)[0].detach()[1:]
        d.as_strided_((5,), (1,), 1)
        past_end = attempt(e.as_strided_, (2, 2), (3, 1))  # (from its offset, 3: 8 places)
        e.as_strided_((1, 3), (3, 1))
        return [d, d.storage_offset(), d._version, past_end, e, e.storage_offset(),
                attempt(z[:1].detach().as_strided_, (7,), (1,))]

    same(fn)


def test_as_strided_of_a_detached_view_at_its_memorys_start_reaches_past_its_end():
    """A detached view at offset 0 without gaps still views all of its base's memory
    (torch's storage): as_strided_ may lay it out over the places after its last element."""
    def fn(T):
        z = _arange(T, 2, 3, requires_grad=True) * 2
        row = z[::2].detach()
        row.as_strided_((1, 5), (5, 1))
        row.view(-1)[0] = 0.75
        first = (_arange(T, 1, 3, requires_grad=True) * 1).unbind(1)[0].detach()
        first.as_strided_((1, 3), (3, 1), 0)
        first.mul_(2)
        return [row, z, first, row.storage_offset(),
                attempt(lambda: z[:1].detach().as_strided((7,), (1,))),
                attempt(lambda: z.unbind(1)[0].detach().as_strided((2, 3), (3, 1)))]

    same(fn)


# ---- shape helpers -------------------------------------------------------------------------------

def test_split_with_sizes_sum_to_size_argwhere():
    def fn(T):
        x = _arange(T, 3, 4, requires_grad=True)
        parts = x.split_with_sizes([1, 3], dim=1)
        s = x.sum_to_size(1, 4)
        s2 = x.sum_to_size(4)
        (parts[1].sum() + (s * 2).sum() + s2.sum()).backward()
        return [parts, T.split_with_sizes(x, (2, 1)), s, s2, x.sum_to_size(3, 4) is x, x.grad,
                attempt(x.split_with_sizes, [1, 1]), attempt(x.sum_to_size, 2, 4),
                T.argwhere(x > 0), x.argwhere()]

    same(fn)


def test_atleast_and_cartesian_prod_and_block_diag():
    def fn(T):
        x = _arange(T, 3, requires_grad=True)
        s = x[0]
        m = _arange(T, 2, 2)
        out = [T.atleast_1d(s), T.atleast_2d(s), T.atleast_3d(s), T.atleast_2d(x), T.atleast_3d(x),
               T.atleast_3d(m), T.atleast_1d(x) is x, T.atleast_1d(s, x), T.atleast_2d([s, m])]
        c = T.cartesian_prod(x, x[:2], x[1:])
        c.sum().backward()
        out += [c, grad_of(x), T.cartesian_prod(x) is x, attempt(T.cartesian_prod, m)]
        out += [T.block_diag(m, x, s.detach()), T.block_diag(T.tensor([[1, 2]]), T.tensor(3))]
        return out

    same(fn)


def test_broadcast_shapes_and_index_grids():
    def fn(T):
        return [T.broadcast_shapes((2, 1), (3, 1, 4), 4), T.broadcast_shapes(),
                T.broadcast_shapes(5), attempt(T.broadcast_shapes, (2,), (3,)),
                attempt(T.broadcast_shapes, (2, 3), (4, 1, 2)),
                attempt(T.broadcast_shapes, (2, 3), (3,), (5, 3)),
                T.tril_indices(3, 4), T.tril_indices(4, 3, -1), T.triu_indices(3, 4, 1),
                attempt(T.triu_indices, 3, 3, dtype=T.float32), T.tril_indices(0, 3)]

    same(fn)


def test_factories():
    def fn(T):
        e = T.empty_strided((2, 3), (1, 2))
        f = T.empty_strided((2, 3), (3, 1), dtype=T.float64)
        x = T.zeros(2, 3, dtype=T.float64)
        r = T.randint_like(x, 5)
        r2 = T.randint_like(x, 3, 5, dtype=T.int64)
        return [T.logspace(0, 2, 3), T.logspace(0, 3, 4, base=2), T.logspace(-1, 1, 5,
                                                                             dtype=T.float64),
                T.logspace(0, 1, 3, requires_grad=True), e.shape, e.stride(), e.dtype,
                e.is_contiguous(), f.stride(), f.dtype, r.dtype, r.shape,
                bool(((r >= 0) & (r < 5)).all()), r2.dtype, bool(((r2 >= 3) & (r2 < 5)).all())]

    same(fn)


def test_detach_function():
    same(lambda T: (lambda x: [T.detach(x * 2), T.detach(x * 2).requires_grad])(
        _arange(T, 3, requires_grad=True)))



def test_joins_promote_over_empty_inputs_too():
    """A legacy empty 1-D tensor is skipped for the shape, not for the result's dtype."""
    def fn(T):
        e, i = T.tensor([], requires_grad=True), T.tensor([1, 2])
        f = T.tensor([0.5], dtype=T.float64, requires_grad=True)
        joined = T.cat([e, i, f])
        joined.sum().backward()
        return [T.cat([e, i]), T.cat([i, e]), T.concat([T.tensor([], dtype=T.float64), i]),
                T.concatenate([e, i]), T.hstack([e, i]),
                T.cat([e, T.ones(2, 3, dtype=T.int64)], 1), T.cat([T.tensor([], dtype=T.bool), i]),
                T.vstack([T.zeros(0, 2), T.tensor([[1, 2]])]),
                T.stack([T.tensor([]), T.tensor([], dtype=T.int64)]), joined, e.grad, f.grad]

    same(fn)

# ---- random --------------------------------------------------------------------------------------

def _draws(T, gen=None):
    p = T.tensor([[0.1, 0.0, 0.9], [1.0, 1.0, 0.0]])
    return [T.multinomial(p, 2, generator=gen), T.multinomial(p[0], 5, True, generator=gen),
            T.bernoulli(T.full((4,), 0.5), generator=gen), T.normal(T.zeros(3), 2.0, generator=gen),
            T.normal(0.0, T.ones(3), generator=gen), T.normal(1.0, 2.0, (2, 2), generator=gen),
            T.poisson(T.full((3,), 4.0), generator=gen),
            T.empty(3).exponential_(2.0, generator=gen), T.empty(3).geometric_(0.3, generator=gen),
            T.empty(3).log_normal_(generator=gen), T.empty(3).cauchy_(generator=gen),
            T.empty(3).bernoulli_(0.2, generator=gen),
            T.empty(2, 3).bernoulli_(T.tensor([0.0, 1.0, 0.5]), generator=gen)]


def _meta(ts):
    return [(t.shape, t.dtype) for t in ts]


def test_random_shapes_dtypes_and_determinism():
    import torch

    assert _meta(_draws(distgrad)) == [(tuple(t.shape), getattr(distgrad, str(t.dtype)[6:]))
                                       for t in _draws(torch)]
    distgrad.manual_seed(7)
    a = _draws(distgrad)
    distgrad.manual_seed(7)
    b = _draws(distgrad)
    g = distgrad.Generator().manual_seed(3)
    c = _draws(distgrad, g)
    g.manual_seed(3)
    d = _draws(distgrad, g)
    for x, y, u, v in zip(a, b, c, d):
        assert np.array_equal(x.numpy(), y.numpy()) and np.array_equal(u.numpy(), v.numpy())
    state = distgrad.get_rng_state()
    e = distgrad.default_generator.get_state()
    first = distgrad.randn(4)
    distgrad.set_rng_state(state)
    assert np.array_equal(distgrad.randn(4).numpy(), first.numpy())
    distgrad.default_generator.set_state(e)
    assert np.array_equal(distgrad.randn(4).numpy(), first.numpy())
    assert distgrad.default_generator.manual_seed(11).initial_seed() == 11
    assert distgrad.initial_seed() == 11


def test_random_ranges_and_statistics():
    distgrad.manual_seed(0)
    p = distgrad.tensor([[0.1, 0.0, 0.9], [1.0, 1.0, 0.0]])
    m = distgrad.multinomial(p, 2).numpy()
    assert sorted(m[1].tolist()) == [0, 1] and 1 not in m[0]  # no zero-weight category
    counts = np.bincount(distgrad.multinomial(p[0], 20000, True).numpy(), minlength=3) / 20000
    assert abs(counts[0] - 0.1) < 0.02 and counts[1] == 0
    assert abs(distgrad.bernoulli(distgrad.full((20000,), 0.3)).mean().item() - 0.3) < 0.02
    assert abs(distgrad.normal(1.0, 2.0, (20000,)).std().item() - 2.0) < 0.1
    assert abs(distgrad.poisson(distgrad.full((20000,), 4.0)).mean().item() - 4.0) < 0.1
    assert abs(distgrad.empty(20000).exponential_(2.0).mean().item() - 0.5) < 0.03
    g = distgrad.empty(20000).geometric_(0.25).numpy()
    assert g.min() >= 1 and np.all(g == np.round(g)) and abs(g.mean() - 4) < 0.2
    assert (distgrad.empty(1000).log_normal_().numpy() > 0).all()
    assert abs(np.median(distgrad.empty(20000).cauchy_(1.0, 2.0).numpy()) - 1.0) < 0.1
    b = distgrad.empty(2, 3).bernoulli_(distgrad.tensor([0.0, 1.0, 0.5])).numpy()
    assert (b[:, 0] == 0).all() and (b[:, 1] == 1).all()


def test_random_grad_fns_and_errors():
    def fn(T):
        x = _arange(T, 3, requires_grad=True)
        out = []
        for name, args in (("exponential_", ()), ("geometric_", (0.5,)), ("log_normal_", ()),
                           ("cauchy_", ()), ("bernoulli_", (0.5,)),
                           ("bernoulli_", (T.tensor(0.5),))):
            y = x * 1
            getattr(y, name)(*args)
            out.append(y.grad_fn.name())
        p = x.sigmoid()
        out += [T.bernoulli(p).grad_fn.name(), T.normal(x, 1.0).grad_fn.name(),
                T.normal(x, p).grad_fn.name(), T.normal(0.0, p).grad_fn.name(),
                T.poisson(p).grad_fn.name(),
                T.normal(2.0, 3.0, size=(2,)).dtype,
                T.normal(0.0, 1.0, (2,), dtype=T.float64).dtype,
                T.multinomial(T.tensor([0.2, 0.8]), 3, replacement=True).dtype,
                attempt(T.multinomial, T.tensor([0.2, 0.8]), 3),
                attempt(T.multinomial, T.tensor([0.0, 0.0]), 1),
                attempt(T.multinomial, T.tensor([1, 2]), 1),
                attempt(x.detach().exponential_, -1.0), attempt(x.detach().geometric_, 1.5),
                attempt(T.zeros(3, requires_grad=True).exponential_)]
        return out

    same(fn)


# ---- dtype utilities -----------------------------------------------------------------------------

def test_finfo_iinfo_can_cast():
    def fn(T):
        out = []
        for d in (T.float32, T.float64, None):
            f = T.finfo(d) if d is not None else T.finfo()
            out += [f.bits, f.eps, f.max, f.min, f.tiny, f.smallest_normal, f.resolution, f.dtype,
                    repr(f)]
        i = T.iinfo(T.int64)
        out += [i.bits, i.max, i.min, i.dtype, repr(i), attempt(T.iinfo, T.bool),
                attempt(T.iinfo, T.float32), attempt(T.finfo, T.int64)]
        ds = (T.bool, T.int64, T.float32, T.float64)
        out.append([[T.can_cast(a, b) for b in ds] for a in ds])
        return out

    same(fn)


def test_predicates():
    def fn(T):
        x = T.tensor([1.0, 2.0])
        return [T.is_floating_point(x), T.is_floating_point(T.tensor([1])), T.is_complex(x),
                x.is_complex(), T.is_nonzero(T.tensor([0.0])), T.is_nonzero(T.tensor(2)),
                T.tensor([True]).is_nonzero(), T.isreal(x), x.isreal(),
                attempt(T.is_nonzero, T.tensor([1, 2])), attempt(T.is_nonzero, T.tensor([])),
                attempt(T.is_floating_point, 3)]

    same(fn)


def test_list_keys_index_as_torch_2_13_reads_them():
    """A short list holding a sequence, slice, None, ... is a tuple of indices (with torch's
    deprecation warning); a list of numbers is one index, floats truncated to longs."""
    import warnings

    import numpy as np

    def fn(T):
        y = T.arange(12.0).reshape(3, 4)
        keys = [[[0, 1]], [[0, 1], [1, 2]], [0, [1, 2]], [slice(0, 2)], [None], [Ellipsis, 1],
                [[True, False, True]], [1.5], [0, [0.5, 2.7]], [[1.5, 2]], [0, 1],
                [True, False, True], [(0, 1)], [range(2)], [[0, 1]] * 40, [[]],
                np.array([1.5]), np.array([[0, 1], [1, 2]]), [np.array([0, 1])]]
        out = []
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            for k in keys:
                z = y.clone()
                z[k] = -1.0
                out += [y[k], z]
        return out + [len(ws), sorted({str(w.message)[:120] for w in ws})]

    same(fn)


def test_nonzero_of_a_zero_dim_tensor():
    def fn(T):
        out = []
        for v in (5, 0, 2.5, True, False):
            t = T.tensor(v)
            out += [t.nonzero(), t.nonzero(as_tuple=True), T.argwhere(t), T.where(t)]
        return out

    same(fn)


@pytest.fixture
def restore_default_dtype():
    import torch

    yield
    torch.set_default_dtype(torch.float32)
    distgrad.set_default_dtype(distgrad.float32)


def test_set_default_dtype(restore_default_dtype):
    def fn(T):
        out = [attempt(T.set_default_dtype, T.int64)]
        T.set_default_dtype(T.float64)
        out += [T.get_default_dtype(), T.tensor(1.5).dtype, T.ones(2).dtype, T.zeros(2).dtype,
                (T.tensor([1, 2]) * 0.5).dtype, T.arange(3.0).dtype, T.tensor([1.0, 2]).dtype,
                T.randn(2).dtype, T.rand(2).dtype, T.full((2,), 1.0).dtype,
                T.linspace(0, 1, 3).dtype,
                T.finfo().bits, T.tensor([1.0], dtype=T.float32).dtype, T.tensor(1).dtype]
        T.set_default_dtype(T.float32)
        out += [T.get_default_dtype(), T.tensor(1.5).dtype, T.ones(2).dtype]
        return out

    same(fn)


# ---- top-level functional aliases and pixel shuffle ----------------------------------------------

def test_top_level_functional_aliases():
    def fn(T):
        x = _arange(T, 2, 4, 6, requires_grad=True).float()
        w = (T.arange(24.0).reshape(3, 4, 2) / 10).requires_grad_()
        w2 = (T.arange(18.0).reshape(3, 2, 3, 1) / 10)
        emb = (T.arange(15.0).reshape(5, 3) / 7).requires_grad_()
        idx = T.tensor([[1, 4], [0, 1]])
        outs = [T.dropout(x, 0.0, True), T.dropout(x, 0.5, False) is x,
                T.layer_norm(x, (6,)), T.layer_norm(x, [4, 6], eps=1e-3),
                T.embedding(emb, idx), T.embedding(emb, idx, padding_idx=1),
                T.conv1d(x, w, None, 2, 1), T.conv2d(x[None], w2, padding=(1, 0)),
                T.max_pool2d(x[None], 2), T.max_pool2d(x[None], (2, 3), (1, 2)),
                T.avg_pool1d(x, 2), T.avg_pool1d(x, 3, 2, 1, False, False),
                T.cosine_similarity(x, x * 2 + 1), T.cosine_similarity(x, x + 1, dim=2),
                T.pairwise_distance(x[0], x[1] * 2, keepdim=True)]
        total = sum(o.sum() for o in outs if not isinstance(o, bool))
        total.backward()
        F = T.nn.functional
        return [o.detach() if hasattr(o, "detach") else o for o in outs] + [
            x.grad, w.grad, emb.grad, outs[4].grad_fn.name(), outs[6].grad_fn.name(),
            outs[8].grad_fn.name(), outs[10].grad_fn.name(), F.avg_pool1d(x, 2).grad_fn.name()]

    same(fn, rtol=1e-4, atol=1e-5)


def test_pixel_shuffle_modules():
    def fn(T):
        x = _arange(T, 2, 8, 2, 3, requires_grad=True)
        up = T.nn.PixelShuffle(2)
        down = T.nn.PixelUnshuffle(2)
        y = up(x)
        z = down(y)
        (y * y).sum().backward()
        return [y, z, repr(up), repr(down), x.grad,
                T.nn.functional.pixel_unshuffle(y, 2).grad_fn.name(),
                attempt(up, T.zeros(1, 5, 2, 2)), attempt(down, T.zeros(1, 4, 3))]

    same(fn)


@pytest.mark.parametrize("join", ["cat", "stack", "hstack", "vstack", "dstack", "column_stack"])
@pytest.mark.parametrize("arg", ["a_tensor", "a_number_inside", "a_generator"])
def test_joins_take_a_sequence_of_tensors_as_torch(join, arg):
    def outcome(T):
        parts = {"a_tensor": lambda: T.zeros(2, 3),
                 "a_number_inside": lambda: (T.zeros(3), 3),
                 "a_generator": lambda: (t for t in (T.zeros(3), T.ones(3)))}[arg]()
        try:
            return "ok", getattr(T, join)(parts).tolist()
        except (TypeError, RuntimeError, ValueError) as e:
            return type(e).__name__, str(e)
    assert outcome(distgrad) == outcome(torch)


def test_a_zero_dim_empty_strided_owns_its_memory():
    # a write into it is a plain copy (CopyBackwards), not a write through a view; so is
    # the .grad of a 0-dim leaf built with create_graph, which AccumulateGrad makes so
    def fn(T):
        s = T.tensor(1.5, requires_grad=True)
        e = T.empty_strided((), ())
        written = e.copy_(s * 3)
        (s * s).backward(create_graph=True)
        return [e._is_view(), written.grad_fn.name(), s.grad, s.grad.grad_fn.name()]

    same(fn)


@pytest.mark.parametrize("key", [(slice(3, 1),), (slice(5, None),), (slice(None), slice(7, 9)),
                                 (slice(2, 2),), (slice(-100, 2),), (slice(None), slice(-2, None))])
def test_an_empty_or_clamped_slice_starts_where_torchs_does(key):
    """torch clamps a slice's start into its dim, and an empty slice still starts there:
    its storage offset shows it (and an as_strided of it, read from that offset)."""
    def view(T):
        x = T.arange(24.0).reshape(4, 6)
        v = x[key]
        return v.shape, v.stride(), v.storage_offset()

    assert view(distgrad) == view(torch)


def test_as_strided_of_a_view_made_to_require_grad_leads_to_it():
    """A view of a tensor that needs no grad, made to require grad, is a leaf: torch's
    as_strided of it records a node leading there (its base has no history to take)."""
    def f(T):
        base = T.arange(12.0)
        x = base.reshape(3, 4)[1:].requires_grad_()
        y = x.as_strided((2, 2), (1, 2), 5)
        (y * T.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
        with T.no_grad():
            base.add_(1)
        return [y.grad_fn.name(), y._base is base, y.storage_offset(), y.stride(), x.grad,
                y.detach(), y._version]

    same(f)


def test_as_strided_of_a_view_leads_to_the_view():
    """torch's AsStridedBackward0 of a view has the view's node as its edge: the view's
    hooks see the gradient (distgrad's led to the base's history past them)."""
    def f(T):
        x = T.arange(12.0).requires_grad_()
        v = (x * 1)[1:]
        seen = []
        v.register_hook(lambda g: seen.append(g.clone()))
        y = v.as_strided((2,), (1,), 3)
        y.sum().backward()
        return [[n.name() for n, _ in y.grad_fn.next_functions], seen, x.grad]

    same(f)


@pytest.mark.parametrize("shape, repeats", [
    ((3,), (2,)), ((2, 3), (2, 1)), ((3,), (2, 2)), ((2, 3), (1, 1)), ((), (3,)),
    ((2,), (0, 1))])
def test_repeats_gradient_with_a_graph_is_torchs_sums(shape, repeats):
    """torch's repeat_backward: the added leading dims summed away one at a time, then one
    view and sum over the dims that repeat (none repeating: the gradient itself), so a
    gradient taken with create_graph is SumBackward1 of a ViewBackward0 (distgrad's was a
    view of a sum), as instance norm's affine weight's is."""
    from torch_twin import graph

    def f(T):
        x = _arange(T, *shape, requires_grad=True) if shape else \
            T.tensor(0.5, dtype=T.float64, requires_grad=True)
        y = x.repeat(*repeats)
        g_out = T.linspace(-1.0, 1.0, y.numel(), dtype=T.float64).reshape(y.shape)
        g, = T.autograd.grad(y, x, g_out.requires_grad_(), create_graph=True)
        return [graph(g, 3), g]

    same(f)


def test_as_strided_of_no_elements_gives_its_base_a_gradient_of_no_graph():
    """torch's as_strided_backward returns zeros before it reads an empty view's gradient:
    a graph of the gradient built through it has no node there, and the history a view
    takes anew after its base was written (AsStridedBackward0) does too."""
    def fn(T):
        x = _arange(T, 4, 1, requires_grad=True)
        y = x * 1
        out = []
        for v in [y.as_strided((2, 0), (1, 1), 1), y.as_strided((0,), (1,))]:
            g = T.ones(v.shape, dtype=T.float64, requires_grad=True)
            out += T.autograd.grad(v, x, g, create_graph=True)
        stale = y[::2].diagonal(1)
        y.detach().zero_()
        seen = []
        total = stale.sum()
        total.register_hook(lambda g: seen.append(g.clone()))
        grad, = T.autograd.grad(total * total, x, create_graph=True)
        return out + [stale.grad_fn.name(), grad, seen]

    same(fn)
