"""A tensor's memory, against torch (torch_twin.same): resize_ and resize_as_, view(dtype)
(the same bytes read as another dtype), share_memory_ and is_shared, torch.is_storage, and
the memory formats (contiguous(memory_format=torch.channels_last), ...)."""
from __future__ import annotations

import pickle

import numpy as np

import distgrad
from test_added_surface import local_workers  # noqa: F401  (two in-process workers)
from torch_twin import attempt, same


# ---- resize_ --------------------------------------------------------------------------------

def test_resize_keeps_the_leading_elements_in_memory_order():
    def scenario(T):
        x = T.arange(6.0).reshape(2, 3)
        shrunk = x.clone().resize_(2, 2)
        same_shape = x.clone()
        kept = same_shape.resize_(2, 3)
        grown = x.clone().resize_((3, 3))
        flat = x.clone().resize_(T.Size([4]))
        transposed = x.clone().t().resize_(2, 2)
        ints = T.arange(5).resize_([2, 2])
        template = x.clone().resize_as_(T.ones(3, 1))
        return [shrunk, shrunk.is_contiguous(), kept is same_shape, same_shape._version,
                grown.shape, grown.reshape(-1)[:6], flat, transposed, ints, template]

    same(scenario)


def test_resize_counts_a_write_only_when_the_shape_changes():
    def scenario(T):
        x = T.ones(3)
        alias = x.view(3)
        versions = [x.resize_(3)._version]
        x.resize_(2)
        versions += [x._version, alias._version, x.resize_((2,))._version]
        return versions + [x.shape, alias.shape]

    same(scenario)


def test_resize_refuses_a_tensor_that_requires_grad_and_bad_sizes():
    def scenario(T):
        leaf = T.ones(3, requires_grad=True)
        with T.no_grad():
            under_no_grad = attempt(lambda: leaf.resize_(2))
        return [attempt(lambda: leaf.resize_(2)), attempt(lambda: (leaf * 2).resize_(3)),
                under_no_grad, attempt(lambda: leaf.resize_as_(T.ones(1))),
                attempt(lambda: T.ones(2).resize_(-1)), attempt(lambda: T.ones(2).resize_(2.0)),
                attempt(lambda: T.ones(2).resize_(2, 2.0)),
                attempt(lambda: T.ones(2).resize_as_(3))]

    same(scenario)


def test_resize_of_a_view_is_a_tensor_of_its_own_shape():
    def scenario(T):
        base = T.arange(6.0).reshape(2, 3)
        row = base[1]
        row.resize_(2)
        return [row, row + 1, row.shape, base]

    same(scenario)


def test_resize_of_a_view_within_its_memory_writes_there():
    """torch keeps the memory and the offset: a resized view (or out= given a view of
    another shape) is a row-major run of its base's memory, so writes reach the base."""
    def scenario(T):
        base = T.arange(12.0)
        window = base[1:3]
        window.resize_(2, 3)
        window.mul_(10)
        column = T.zeros(4, 4)
        col = column.t()[1]
        col.resize_(3)
        col.fill_(7)
        target = T.zeros(20)
        out = target[2:4]
        T.mul(T.ones(3), 2, out=out)
        whole = T.zeros(10)
        T.add(T.ones(4), 1, out=whole)
        return [base, window, window.stride(), window.storage_offset(), window._version,
                column, col.stride(), target, out, out.stride(), out.storage_offset(),
                target._version, whole, whole.untyped_storage().nbytes()]

    same(scenario)


def test_a_view_resized_within_its_memory_takes_a_write_that_requires_grad():
    """Its view ops no longer make it: torch writes through it (and regenerates its
    history) by its place in the base's memory."""
    def scenario(T):
        x = T.tensor([[1.9, 1.8, 1.7], [-0.3, 1.1, 0.2]])
        row = x[1:]
        row.resize_(2)
        w = T.tensor([1.0, 2.0], requires_grad=True)
        row.mul_(w)
        inner = x.t()[1:][:, 1:]
        inner.resize_(2, 1)
        inner.add_(w.unsqueeze(1) * 3)
        (row.sum() + inner.sum() * 2 + (x * x).sum()).backward()
        return [row, inner, inner.stride(), x, row.grad_fn.name(), inner.grad_fn.name(),
                x.grad_fn.name(), w.grad]

    same(scenario)


def test_a_view_resized_by_out_takes_a_write_through_its_place_in_the_base():
    """An out= of another shape resizes a view as resize_ does: an in-place op on it then
    writes through its place in the base's memory, not through the view ops that made it
    (a reshape to a shape it no longer has)."""
    def scenario(T):
        x = T.tensor([[0.4, -1.2, 0.5], [-1.3, 1.9, 0.7]], requires_grad=True)
        v = T.stack([x * 1, x * 2, x * 3]).view(3, 2, 3)[1:].view(2, 2, 3)
        with T.no_grad():
            T.clamp(T.arange(6.0).view(2, 3), 1.0, 4.0, out=v)
        v.div_(1.5)
        v.sum().backward()
        return [v, v.grad_fn.name(), v._base.shape, x.grad]

    same(scenario)


def test_a_storage_grown_by_out_or_resize_is_seen_by_every_tensor_on_it():
    """torch grows the storage itself: its old bytes first, at the same offsets, so every
    view, detached handle and `.data` of it sees the memory it is now."""
    def scenario(T):
        x = T.zeros(4)
        head, detached, data = x[:2], x.detach(), x.data
        T.add(T.arange(6.0).view(2, 3), 1, out=x)
        b = T.zeros(2, 2)
        row = b[1]
        T.add(T.ones(3, 3), 1, out=row)
        offset = row.storage_offset()
        row.fill_(7)
        c = T.zeros(2, 3)
        rows_t = c.t()
        T.mul(T.ones(3, 3), 2, out=c)
        rows_t.fill_(5)
        d = T.zeros(4)
        wide, middle = d.expand(2, 4), d[1:3]
        d.resize_(8)
        d.fill_(3)
        d.resize_(16)
        d[:2] = 6
        e = T.zeros(4, dtype=T.float64)
        tail = e[2:]
        T.add(T.ones(3, dtype=T.float64), 1, out=e)
        f = T.zeros(4)
        as_ints, start = f.view(T.int32), f[:2]
        as_ints.resize_(6)
        as_ints.fill_(0x3F800000)  # 1.0's bits
        empty = T.empty(0)
        none_of_it = empty[:0]
        T.cat([T.ones(2), T.ones(1)], out=empty)
        return [x, head, detached, data, head._version, detached._version, data._version,
                x.untyped_storage().nbytes(), data.untyped_storage().nbytes(),
                offset, b, row.stride(), b.untyped_storage().nbytes(),
                c, rows_t.stride(), wide, middle, d.untyped_storage().nbytes(), tail, e,
                start, f.untyped_storage().nbytes(), empty, none_of_it.untyped_storage().nbytes()]

    same(scenario)


def test_a_grown_storage_is_the_same_storage_object_at_its_new_address():
    def scenario(T):
        x = T.zeros(4)
        head = x[1:3]
        storage = x.untyped_storage()
        T.add(T.ones(10), 1, out=x)
        return [storage is x.untyped_storage(), storage is head.untyped_storage(),
                storage.nbytes(), len(storage.tolist()), storage.data_ptr() == x.data_ptr(),
                head.data_ptr() - x.data_ptr(), head]

    same(scenario)


def test_autograd_after_a_storage_grows_as_torch():
    """A tensor saved for backward whose storage grew was written (version check); a view
    of a tensor grown under no_grad regenerates its history by its place (AsStrided)."""
    def scenario(T):
        w = T.ones(3, requires_grad=True)
        x = T.ones(3)
        y = (w * x).sum()
        T.add(T.ones(5), 1, out=x)
        u = T.zeros(4)
        part = u[1:3]
        z = (w[:2] * part).sum()
        T.add(T.ones(8), 1, out=u)
        a = T.ones(4, requires_grad=True)
        h = a * 1
        first = h[:2]
        with T.no_grad():
            T.add(T.ones(6), 1, out=h)
        return [attempt(y.backward), attempt(z.backward), h.grad_fn.name(),
                first.grad_fn.name(), first._version, first,
                attempt(lambda: (first * 2).sum().backward())]

    same(scenario, prefix=150)


def test_untyped_storage_resize_as_torch():
    """`storage.resize_(n)`: the same storage object, n bytes, its first bytes kept; every
    tensor on it views it (no version counted). Memory numpy shares is not resizable."""
    def scenario(T):
        x = T.arange(4.0)
        middle = x[1:3]
        storage = x.untyped_storage()
        w = T.ones(4, requires_grad=True)
        y = (w * x).sum()
        kept = storage.resize_(8) is storage
        sizes = [storage.nbytes(), x.untyped_storage().nbytes(), x[:2]]
        storage.resize_(0)
        sizes += [storage.nbytes(), middle.untyped_storage().nbytes(), x.shape,
                  x.data_ptr() == 0, middle.data_ptr() == 4, storage.data_ptr() == 0]
        storage.resize_(16)
        sizes += [x.data_ptr() == storage.data_ptr(), middle.data_ptr() - x.data_ptr()]
        x.fill_(2)
        odd = T.zeros(3).untyped_storage()
        odd.resize_(13)
        return [kept, sizes, storage.nbytes(), middle, x.untyped_storage() is storage,
                x._version, attempt(y.backward), w.grad, odd.nbytes(), len(odd.tolist()),
                attempt(lambda: odd.resize_(-1)), attempt(lambda: odd.resize_(2.5)),
                attempt(lambda: T.from_numpy(np.zeros(2)).untyped_storage().resize_(100)),
                attempt(lambda: T.from_numpy(np.zeros(2)).resize_(3))]

    same(scenario)


def test_a_tensor_handed_to_numpy_is_not_resizable_past_its_memory():
    def scenario(T):
        x = T.zeros(4)
        x.numpy()
        shrunk = x.resize_(2).shape  # (within its memory: allowed)
        return [shrunk, attempt(lambda: x.resize_(8)),
                attempt(lambda: T.add(T.ones(6), 1, out=x))]

    same(scenario)


# ---- view(dtype) ----------------------------------------------------------------------------

def test_view_as_a_dtype_of_the_same_size_shares_memory_and_version():
    def scenario(T):
        x = T.tensor([1.0, -2.5, 3.0], dtype=T.float64)
        bits = x.view(T.int64)
        back = T.tensor([4607182418800017408, 0]).view(dtype=T.float64)
        bits[1] = 4611686018427387904  # 2.0's bits, written through the other dtype
        leaf = T.ones(2, 3, dtype=T.float64, requires_grad=True)
        alias = leaf.view(T.float64)
        hist = leaf * 2
        hist_bits = hist.view(T.int64)
        hist_bits.zero_()
        return [bits, x, x._version, bits._version, back, bits._base is None,
                alias.requires_grad, alias._base is None, alias.grad_fn,
                hist.grad_fn.name(), hist, T.ones(2, 3, dtype=T.float64).t().view(T.int64).stride(),
                T.tensor(1.0, dtype=T.float64).view(T.int64)]

    same(scenario)


def test_view_as_a_dtype_of_another_size_rescales_the_last_dim():
    def scenario(T):
        x = T.arange(12.0).reshape(3, 4)
        views = [x.view(T.float64), x[1:].view(T.bool), x[::2].view(T.float64),
                 x[1:, 2:].view(T.int64), T.ones(2, 8, dtype=T.bool).view(T.float64),
                 T.tensor([1, 2]).view(T.float32)]
        return [(v, v.shape, v.stride(), v.storage_offset()) for v in views]

    same(scenario)


def test_view_as_a_dtype_of_another_size_refuses_what_torch_refuses():
    def scenario(T):
        x = T.arange(12.0).reshape(3, 4)
        return [attempt(lambda: T.tensor(1.0).view(T.float64)),
                attempt(lambda: T.tensor(1.0).view(T.bool)),
                attempt(lambda: x.t().view(T.float64)), attempt(lambda: x[:, ::2].view(T.float64)),
                attempt(lambda: x[:, 1:3].view(T.float64)), attempt(lambda: x.t().view(T.bool)),
                attempt(lambda: T.arange(15.0).reshape(3, 5)[:, :4].view(T.float64)),
                attempt(lambda: T.ones(3, 0).view(T.float64))]

    same(scenario)


# ---- share_memory_, is_shared, is_storage ------------------------------------------------

def test_share_memory_marks_the_memory_every_view_of_it_shares():
    def scenario(T):
        x = T.ones(2, 3)
        early_view = x[0]
        storage = x.untyped_storage()
        before = [x.is_shared(), early_view.is_shared(), storage.is_shared()]
        out = x.share_memory_()
        leaf = T.ones(2, requires_grad=True)
        model = T.nn.Linear(2, 2)
        return before + [out is x, storage.is_shared(), x[1].untyped_storage().is_shared(),
                         x.is_shared(), early_view.is_shared(), x[1].is_shared(),
                         x.detach().is_shared(), x.data.is_shared(), x.clone().is_shared(),
                         x._version, leaf.share_memory_().is_shared(),
                         (leaf * 2).share_memory_().is_shared(),
                         T.ones(0).share_memory_().is_shared(),
                         model.share_memory() is model, model.weight.is_shared(),
                         model.bias.is_shared(), T.is_storage(x), T.is_storage(1),
                         T.is_storage([1.0])]

    same(scenario)


# ---- memory formats ---------------------------------------------------------------------------

def test_memory_formats_print_and_pickle_as_torch():
    same(lambda T: [repr(T.channels_last), str(T.contiguous_format), repr(T.channels_last_3d),
                    type(T.preserve_format).__name__, T.memory_format.__name__,
                    pickle.loads(pickle.dumps(T.channels_last)) is T.channels_last])


def test_contiguous_and_clone_in_channels_last():
    def scenario(T):
        x = T.arange(120.0).reshape(2, 3, 4, 5).requires_grad_()
        y = x.contiguous(memory_format=T.channels_last)
        y.retain_grad()
        (y * T.arange(120.0).reshape(2, 3, 4, 5)).sum().backward()
        five = T.ones(2, 3, 4, 5, 6).contiguous(memory_format=T.channels_last_3d)
        return [y, y.stride(), y.is_contiguous(), y.is_contiguous(memory_format=T.channels_last),
                x.is_contiguous(memory_format=T.channels_last),
                y.contiguous(memory_format=T.channels_last) is y, y.contiguous().stride(),
                (y * 2).stride(), y.clone().stride(), y.grad.stride(), x.grad,
                y.clone(memory_format=T.contiguous_format).stride(),
                T.clone(x, memory_format=T.channels_last).stride(), five.stride(),
                five.is_contiguous(memory_format=T.channels_last_3d),
                T.ones(1, 3, 1, 1).is_contiguous(memory_format=T.channels_last),
                T.ones(3, 2).contiguous(memory_format=T.preserve_format).stride(),
                T.ones(3, 2).t().is_contiguous(memory_format=T.preserve_format)]

    same(scenario)


def test_memory_format_misuse():
    def scenario(T):
        x = T.ones(2, 3)
        return [attempt(lambda: x.contiguous(memory_format=T.channels_last)),
                attempt(lambda: x.clone(memory_format=T.channels_last_3d)),
                attempt(lambda: x.t().contiguous(memory_format=T.preserve_format)),
                attempt(lambda: x.contiguous(memory_format="channels_last")),
                attempt(lambda: x.is_contiguous(memory_format=1))]

    same(scenario)


# ---- on a worker ----------------------------------------------------------------------------

def test_resize_view_dtype_and_memory_formats_on_a_worker(local_workers):
    def program(device):
        x = distgrad.arange(6.0, device=device).reshape(2, 3).double()
        bits = x.view(distgrad.int64)
        bits[0, 0] = 4611686018427387904  # 2.0
        halves = x.float().view(distgrad.bool)
        images = distgrad.arange(120.0, device=device).reshape(2, 3, 4, 5)
        return [x.clone().resize_(4), x.t().clone().resize_(2, 2), bits, x, halves,
                x.clone().resize_(3, 3)[:2], images.contiguous(memory_format=distgrad.channels_last)]

    for a, b in zip(program("cpu"), program("worker:1")):
        assert b.device_str == "worker:1" and b.shape == a.shape and b.dtype is a.dtype
        assert b.stride() == a.stride()
        np.testing.assert_array_equal(b.cpu().numpy(), a.numpy())


# ---- set_ ---------------------------------------------------------------------------------

def test_a_worker_tensor_resized_within_its_memory_is_seen_by_its_views(local_workers):
    """As the driver's and torch's: resize_, and out= of another shape, keep a worker's
    tensor in the memory its views share, so they see what is written to it (and the
    memory keeps its size after a resize to fewer elements)."""
    import torch

    def program(T, device):
        def show(t):
            return np.asarray(t.detach().cpu().numpy()).tolist()

        x = T.zeros(6, device=device)
        head, rows = x[:3], x.view(2, 3)
        T.add(T.ones(2, 3, device=device), 1, out=x)
        head.fill_(5)
        base = T.zeros(8, device=device)
        window = base[1:3]
        T.exp(T.ones(3, 2, device=device).t(), out=window)
        window.add_(1)
        shrunk = T.arange(6.0, device=device)
        tail = shrunk[2:]
        shrunk.resize_(2)
        shrunk.fill_(-1)
        shrunk.resize_(2, 3)
        return [show(x), show(head), show(rows), x.stride(), x._version, head._version,
                show(base), window.storage_offset(), window.stride(), base._version,
                show(shrunk), show(tail), shrunk.untyped_storage().nbytes(),
                shrunk.data_ptr() - tail.data_ptr()]

    assert program(distgrad, "worker:1") == program(torch, "cpu")


def test_a_worker_memory_too_small_for_a_resize_grows_under_its_views(local_workers):
    """As torch's storage and the driver's: resize_ and out= that need more memory grow
    the worker's memory in place; every view of it, its detached handles and later
    views see the same elements, and its size and address are the new memory's."""
    import torch

    def program(T, device):
        def show(t):
            return np.asarray(t.detach().cpu().numpy()).tolist()

        x = T.arange(4.0, device=device)
        middle, alias = x[1:3], x.detach()
        x.resize_(10)
        x[:4].fill_(7.0)
        middle.mul_(2)
        later = x[6:]
        later.fill_(3.0)
        grows_twice = T.zeros(2, device=device)
        first = grows_twice.view(2)
        T.add(T.ones(3, device=device), 1, out=grows_twice)
        grows_twice.resize_(2, 4)
        grows_twice[0].add_(1)
        return [show(x[:4]), show(middle), show(alias), show(x[6:]), x.untyped_storage().nbytes(),
                show(first), show(grows_twice[0, :3]), grows_twice.untyped_storage().nbytes(),
                middle.data_ptr() - x.data_ptr(), middle._version]

    assert program(distgrad, "worker:1") == program(torch, "cpu")


def test_set_to_a_tensor_shares_its_memory_and_layout():
    def scenario(T):
        a = T.arange(6.0).reshape(2, 3)
        b = T.zeros(4)
        same_object = b.set_(a) is b
        a[0, 0] = 100  # (each sees the other's writes; each keeps its own version counter)
        b[1, 2] = -1
        c = T.zeros(1).set_(a.view(-1)[2:].view(2, 2).t())
        d = T.arange(3.0)
        d.set_(source=a)
        return [same_object, b, b.stride(), b.storage_offset(), b._version, a._version, a,
                b.data_ptr() == a.data_ptr(), c, c.stride(), c.storage_offset(),
                c.is_contiguous(), d]

    same(scenario)


def test_is_set_to_asks_for_the_same_places_of_the_same_memory():
    def scenario(T):
        a = T.arange(12.0).reshape(3, 4)
        b = T.empty(0)
        b.set_(a)
        empty = T.empty(0)
        return [a.is_set_to(a), a.is_set_to(a.view(3, 4)), a.is_set_to(a.view(12)),
                a.is_set_to(a.clone()), a.is_set_to(a[:]), a.is_set_to(a[1:]),
                a.is_set_to(a.t().t()), a.is_set_to(a.t()), b.is_set_to(a),
                a.is_set_to(a.view(T.int32)), empty.is_set_to(T.empty(0)),
                empty.is_set_to(empty), attempt(a.is_set_to, 3)]

    same(scenario)


def test_set_to_a_storage_views_it_from_the_offset_given():
    def scenario(T):
        a = T.arange(6.0)
        b, whole, typed = T.zeros(1), T.zeros(1), T.zeros(1)
        b.set_(a.untyped_storage(), 1, (2, 2), (1, 2))
        whole.set_(a.untyped_storage())
        typed.set_(a.storage(), 2, T.Size([3]))
        keywords = T.zeros(2).set_(a.untyped_storage(), storage_offset=4, size=(2,),
                                   stride=(1,))
        a[1] = 50
        empty = T.arange(4.0)
        return [b, b.stride(), b.storage_offset(), b._version, whole, typed, typed.stride(),
                keywords, empty.set_(), empty.stride(), empty._version]

    same(scenario, warnings_too=False)  # (storage()'s warning: once a process, both)


def test_set_refuses_as_torch():
    def scenario(T):
        storage = T.arange(6.0).untyped_storage()
        leaf = T.zeros(2, requires_grad=True)
        with T.no_grad():
            leaf.set_(T.ones(2))  # (allowed there: it stays a leaf)
        return [attempt(lambda: T.zeros(2).set_(T.zeros(2, dtype=T.float64))),
                attempt(lambda: T.zeros(2, dtype=T.int64).set_(T.zeros(2))),
                attempt(lambda: T.zeros(1, dtype=T.float64).set_(T.arange(6.0).storage())),
                attempt(lambda: T.zeros(1).set_(storage, -1, (2,), (1,))),
                attempt(lambda: T.zeros(1).set_(storage, 0, (2,), (1, 1))),
                attempt(lambda: T.zeros(2).set_(T.ones(2), 0)),
                attempt(lambda: T.zeros(2).set_(3)),
                attempt(lambda: T.zeros(2).set_(T.ones(2, device="meta"))),
                attempt(lambda: T.zeros(2, requires_grad=True).set_(T.ones(2))),
                leaf, leaf.is_leaf]

    same(scenario, prefix=80)


def test_set_has_no_derivative_as_torch():
    # torch's set_ is recorded with no derivative: self requires grad through a node whose
    # backward raises, with edges to its old history and to the source's
    def scenario(T):
        source = T.ones(2, requires_grad=True)
        b = T.zeros(2)
        b.set_(source)
        x = T.ones(2, requires_grad=True)
        y = x * 2
        y.set_(T.zeros(3))
        edges = [[None if f is None else type(f).__name__ for f, _ in t.grad_fn.next_functions]
                 for t in (b, y)]
        z = x * 1
        saved = z * z
        with T.no_grad():
            z.set_(T.zeros(2))
        return [b.requires_grad, b.is_leaf, edges, attempt(lambda: b.sum().backward()),
                attempt(lambda: y.sum().backward()), attempt(lambda: saved.sum().backward())]

    same(scenario, prefix=60)


def test_set_of_a_view_keeps_it_a_view_written_in_place_as_torch():
    # torch's set_ is an in-place op on a view: it stays a view of its base (version counter
    # shared), its history made anew from the base's when next read, refused for a no_grad
    # view of a base that requires grad; in grad mode the base takes set_'s node (fuzzer
    # seed 22783813)
    def scenario(T):
        x = T.tensor([1.5, 0.25, -2.0, 1.0], dtype=T.float64, requires_grad=True)
        with T.no_grad():
            quiet = x.unsqueeze(0)
            quiet.set_(T.ones(1, 3, dtype=T.float64) * 2)
        y = x * 1
        grad_view = y[1:3]
        with T.no_grad():
            grad_view.set_(T.zeros(2, dtype=T.float64))
        out = (grad_view * 3).sum()
        out.backward()
        plain = T.zeros(4)
        sliced = plain[:2]
        source = T.ones(3, requires_grad=True)
        sliced.set_(source * 1)
        plain.add_(1)
        return [quiet._is_view(), quiet._base is x, quiet.requires_grad, quiet._version,
                x._version, attempt(lambda: quiet.is_leaf), attempt(lambda: quiet * 2),
                attempt(lambda: quiet.add_(1)), quiet.detach(),
                grad_view._base is y, grad_view.grad_fn.name(), x.grad,
                sliced._is_view(), sliced._base is plain, plain.requires_grad,
                sliced.grad_fn.name(), sliced, sliced._version,
                attempt(lambda: sliced.sum().backward())]

    same(scenario, prefix=80)


def test_a_view_set_to_memory_of_its_own_gives_its_base_the_places_they_share():
    """A view of a tensor that starts inside its memory (a detached column), set_ to memory
    of its own: torch's regenerated history reads that layout in the base's memory, from
    its first place, so elements before the base's first place give the base nothing."""
    def scenario(T):
        whole = T.tensor([[1.0, 0.9, 0.8], [0.4, -1.1, -0.4], [1.3, -1.8, 1.6]],
                         dtype=T.float64)
        column = whole[:, 2:].detach().requires_grad_()
        below = column[1:]
        with T.no_grad():
            below.set_(T.tensor([0.7, 1.9, -1.6, 2.5], dtype=T.float64))
        g, = T.autograd.grad((below * below).sum(), column, create_graph=True)
        return [below.grad_fn.name(), g, g.grad_fn.name()]

    same(scenario)


def test_a_view_set_to_its_base_memory_in_another_layout_is_written_through_by_place():
    # after set_, its view ops no longer make it: a write with grad through it (or a view
    # of it) reaches the base at its new place, as torch's AsStrided (fuzzer seed 95)
    def scenario(T):
        x = T.tensor([[0.04], [-1.37], [0.94], [0.73]], requires_grad=True)
        s = T.tensor(0.75, requires_grad=True)
        base = (x * 2).tanh().detach()
        v = base.t()
        v.set_(base.untyped_storage(), 0, (2,), (2,))
        flat = v.view(-1)
        flat.div_(s)
        # (torch then takes v for a leaf that requires grad)
        refused = attempt(v.mul_, s)
        (base * base).sum().backward()
        return [v._base is base, flat._base is base, flat.grad_fn.name(), base.grad_fn.name(),
                base, v, flat, s.grad, v._version, refused]

    same(scenario)


def test_a_custom_function_marks_dirty_a_view_set_to_other_memory():
    # (found by the program fuzzer: the base takes the Function's history through the view,
    # whose memory set_ made apart from the base's)
    def scenario(T):
        class Double_(T.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                a.mul_(2)
                ctx.mark_dirty(a)
                return a

            @staticmethod
            def backward(ctx, g):
                return g * 2

        base = T.tensor([1.5, -0.25])
        view = base[0]
        source = T.tensor([1.0, 2.0], requires_grad=True)
        view.set_(source * 2)
        out = Double_.apply(view)
        return [out, out.grad_fn.name(), base, base.grad_fn.name(),
                attempt(lambda: out.sum().backward())]

    same(scenario, prefix=60)


def test_set_gives_a_leaf_a_new_gradient_accumulator_as_torch():
    # torch resets a tensor's grad accumulator at set_: what was made of the leaf before
    # reaches the old one (backward still sums into .grad), autograd.grad by the leaf only
    # what is made after (fuzzer seed 22752912)
    def scenario(T):
        x = T.tensor([[-0.12, 1.49, 0.29], [1.43, 0.82, 0.27]], requires_grad=True)
        before = x * 2
        with T.no_grad():
            x.set_(T.ones(2, 3))
        after = x * 3
        total = before.sum() + after.sum()
        by_grad = T.autograd.grad(total, x, retain_graph=True)
        alone = T.autograd.grad(before.sum(), x, allow_unused=True, retain_graph=True)
        total.backward()
        same_node = before.grad_fn.next_functions[0][0] is after.grad_fn.next_functions[0][0]
        return by_grad, alone, x.grad, same_node

    same(scenario)


def test_set_keeps_whether_the_tensor_is_an_inference_tensor():
    # an inference tensor's memory given to a normal tensor leaves it normal (its writes
    # allowed and counted), a normal one's to an inference tensor leaves that one an
    # inference tensor (fuzzer seed 22754784)
    def scenario(T):
        with T.inference_mode():
            inf, other = T.ones(3) * 2, T.ones(3)
        normal = T.zeros(3)
        normal.set_(inf.untyped_storage(), 0, (3,), (1,))
        normal.mul_(2)
        return normal, normal.is_inference(), normal._version, inf, attempt(
            lambda: other.set_(T.zeros(3))), other.is_inference()

    same(scenario)


def test_set_of_a_sharded_tensor_names_the_op_and_the_device(local_workers):
    import distgrad.distributed as dist

    x = dist.shard(distgrad.ones(4, 2), 0)
    for call in (lambda: x.set_(distgrad.zeros(2, device="worker:0")), lambda: x.set_()):
        try:
            call()
        except NotImplementedError as e:
            assert "set_" in str(e) and "sharded" in str(e)
        else:
            raise AssertionError("set_ of a sharded tensor ran")
    try:
        distgrad.zeros(2).set_(distgrad.ones(2, device="worker:0"))
    except RuntimeError as e:  # (torch's: another device's storage)
        assert 'different device "worker:0"' in str(e)
    else:
        raise AssertionError("set_ to a worker's tensor ran")


# ---- torch.utils.swap_tensors ----------------------------------------------------------------

def test_swap_tensors_trades_everything_but_identity_as_torch():
    def scenario(T):
        a = T.tensor([1.0, 2.0], requires_grad=True)
        (a * 2).sum().backward()
        b = T.tensor([[3, 4, 5]])
        b.add_(1)
        b.note = "b's"
        T.utils.swap_tensors(a, b)
        y = T.ones(2, requires_grad=True) * 3
        z = T.zeros(2)
        T.utils.swap_tensors(y, z)
        p = T.nn.Parameter(T.ones(2))
        q = T.zeros(2)
        T.utils.swap_tensors(p, q)
        base = T.ones(4)
        view = base[:2]
        fresh = T.zeros(2)
        T.utils.swap_tensors(view, fresh)
        leaf = T.ones(2, requires_grad=True)
        saved_output = leaf.exp()  # (what its node saved of it is no reference to torch)
        T.utils.swap_tensors(saved_output, T.zeros(2))
        return [a, a.dtype, a.requires_grad, a.grad, a._version, a.note, b, b.grad,
                b.requires_grad, b._version, hasattr(b, "note"), y, y.grad_fn is None,
                z.grad_fn.name(), type(p).__name__, type(q).__name__, q, view, view._base,
                fresh._base is base, fresh._is_view(), saved_output,
                attempt(lambda: saved_output.sum().backward())]

    same(scenario)


def test_swap_tensors_of_a_tensor_retaining_its_grad_refuses_after_swapping_attributes():
    def scenario(T):
        leaf = T.tensor([1.0, 2.0], requires_grad=True)
        kept = leaf * 2
        kept.retain_grad()
        kept.note = "kept's"
        other = T.zeros(3)
        other.note = "other's"
        refused = attempt(lambda: T.utils.swap_tensors(other, kept))
        kept.sum().backward()
        return [refused, kept, kept.grad, kept.grad_fn.name(), kept.note, other, other.note,
                other.requires_grad]

    same(scenario)


def test_swap_tensors_refuses_what_else_holds_the_tensor_as_torch():
    def scenario(T):
        import weakref

        base = T.ones(4)
        view = base[:2]
        leaf = T.ones(2, requires_grad=True)
        leaf_view = leaf[:1]
        made = leaf * 1
        made_view = made[:1]
        weight = T.ones(2)
        product = leaf * weight
        watched = T.ones(2)
        ref = weakref.ref(watched)
        used = T.ones(2, requires_grad=True)
        loss = (used * 2).sum()
        swapped = attempt(T.utils.swap_tensors, used, T.zeros(2))
        return [attempt(T.utils.swap_tensors, base, T.zeros(2)),
                attempt(T.utils.swap_tensors, leaf, T.zeros(2)),
                attempt(T.utils.swap_tensors, T.zeros(2), made),
                attempt(T.utils.swap_tensors, weight, T.zeros(2)),
                attempt(T.utils.swap_tensors, watched, T.zeros(2)),
                attempt(T.utils.swap_tensors, T.zeros(2), watched),
                attempt(T.utils.swap_tensors, T.zeros(2), 1), swapped, used,
                attempt(loss.backward), view, leaf_view, made_view, product, ref() is watched]

    same(scenario)


def test_swap_tensors_back_after_a_swap_that_poisoned_an_accumulator_as_torch():
    """A leaf whose accumulator a graph holds is swapped (the node poisoned); swapping the
    two back counts that node against the object that now holds the leaf's content, which
    requires grad, not against the one the swap left with the other content."""
    def scenario(T):
        w = T.ones(2, requires_grad=True)
        shadow = T.zeros(2)
        loss = (w * 3).sum()
        T.utils.swap_tensors(w, shadow)
        seen = [w.requires_grad, shadow.requires_grad]
        T.utils.swap_tensors(w, shadow)
        return [seen, w, shadow, w.requires_grad, attempt(loss.backward), w.grad]

    same(scenario)
