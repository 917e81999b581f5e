"""Views against in-place writes, as programs run by torch and by distgrad on the same
inputs: values, gradients, grad_fn names, strides and errors must agree.

Each program mixes a view, a write and a backward the way user code does; the op-level
cases (op_cases.py) check each op alone. (A CopySlices node is built from ops here, so
its next_functions differ from torch's; its name, values and gradients agree.)
"""
from __future__ import annotations

import operator

import numpy as np
import pytest

from torch_twin import Raised, attempt, graph, grad_of, node_name, same


def _leaves(T):
    x = T.tensor([[1.0, -2.0], [3.0, 4.0], [-5.0, 6.0]], requires_grad=True)
    y = T.tensor([[2.0, 3.0], [-4.0, 5.0], [6.0, 7.0]], requires_grad=True)
    return x, y


def _grads(*ts):
    return [t.grad for t in ts]


# ---- a view taken before a write to its base (or to a sibling view) -------------------------

@pytest.mark.parametrize("write", ["mul_", "copy_", "fill_", "add_"])
def test_view_sees_a_later_write_to_its_base(write):
    def program(T):
        x, y = _leaves(T)
        a = x.clone()
        v = a[:2]
        arg = {"fill_": (1.5,)}.get(write, (y,))
        getattr(a, write)(*arg)
        v.sum().backward()
        return v, graph(v), _grads(x, y)

    same(program)


@pytest.mark.parametrize("write", ["add_", "mul_", "div_", "addcmul_", "clamp_"])
def test_write_of_a_wider_dtype_keeps_the_ops_node(write):
    # x += a double tensor: torch's node is the op's (AddBackward0), the write cast into x's
    # dtype; each input's gradient is cast to that input's dtype (recorded: second order)
    def program(T):
        x, _ = _leaves(T)
        d = T.tensor([[0.5, -1.5], [2.0, 1.0], [-0.5, 3.0]], dtype=T.float64,
                     requires_grad=True)
        a = x * 1
        args = {"addcmul_": (d, d), "clamp_": ()}.get(write, (d,))
        getattr(a, write)(*args, **({"min": d} if write == "clamp_" else {}))
        gx, gd = T.autograd.grad((a * a).sum(), (x, d), create_graph=True)
        second = T.autograd.grad(gx.sum() + gd.sum(), (x, d), allow_unused=True)
        return a, graph(a), gx, gd, node_name(gd.grad_fn), second

    same(program)


@pytest.mark.parametrize("view", ["view(-1)", "t()", "select(0, 1)"])
def test_a_copy_from_a_view_its_base_made_require_grad_records(view):
    """A view of a tensor that needed no grad requires grad once a write of one that does
    reaches its base; copying from it into a plain tensor records the copy (it went
    unrecorded: the view's own flag was read). (fuzzer seed 22646631)"""
    def program(T):
        x, _ = _leaves(T)
        base = T.tensor([[0.5, 1.5], [-1.0, 2.0], [0.25, -0.75]])
        v = eval(f"base.{view}")
        base.mul_(x)
        dst = T.zeros(tuple(v.shape))
        dst.copy_(v)
        dst.sum().backward()
        return dst, dst.requires_grad, dst.is_leaf, _grads(x)

    same(program)


def test_overlapping_sibling_view_sees_a_write():
    def program(T):
        x, _ = _leaves(T)
        y0 = T.tensor([3.0, 4.0], requires_grad=True)
        a = x.clone()
        column = a[:, 0]
        a[0].mul_(y0)
        (column * column).sum().backward()
        return column, a.grad_fn.name(), _grads(x, y0)

    same(program)


def test_view_of_view_after_base_write_keeps_going():
    def program(T):
        x, y = _leaves(T)
        a = x.clone()
        v = a.t()[1]
        a.mul_(y)
        w = v * 2
        v.add_(1)  # a write through the regenerated view
        (w.sum() + a.sum()).backward()
        return v, w, a, _grads(x, y)

    same(program)


# ---- writes that overwrite: the old history gets zeros ----------------------------------------

@pytest.mark.parametrize("write", ["fill_(2.0)", "zero_()", "copy_(T.ones(3, 2))",
                                   "fill_(T.tensor(2.0))", "t().zero_()", "copy_(y)",
                                   "fill_(y[0, 0])"])
def test_overwriting_write_cuts_the_old_history(write):
    def program(T):
        x, y = _leaves(T)
        a = eval("x.clone()." + write, {"x": x, "y": y, "T": T})
        b = x.clone()
        eval("b." + write, {"b": b, "y": y, "T": T})
        (a + x * y).sum().backward()
        return a, graph(a), _grads(x, y)

    same(program)


def test_overwritten_history_gets_zeros_not_none():
    def program(T):
        x, y = _leaves(T)
        a = x.clone()
        a.copy_(y)
        a.sum().backward()
        return _grads(x, y)

    same(program)


# ---- layout: strides, reshape, contiguous, view, expand --------------------------------------

def test_strides_and_offsets_of_views():
    def program(T):
        z = T.zeros(4, 3)
        views = [z.t(), z[::2, 1:], z[1], z.unsqueeze(1), z.expand(2, 4, 3), z.diagonal(1),
                 z.as_strided((2, 2), (1, 3), 1), z.reshape(2, 6), z.t().unsqueeze(0),
                 T.zeros(2, 1, 3).squeeze(1), T.zeros(2, 3, 4).permute(2, 0, 1),
                 z.split(2)[1], z.unbind(1)[2], z.narrow(1, 1, 2)]
        return [(v.stride(), v.storage_offset(), v.is_contiguous(), v._is_view()) for v in views]

    same(program)


def test_reshape_of_a_transpose_copies_and_view_raises():
    def program(T):
        x, _ = _leaves(T)
        a = x.detach().clone()
        r = a.t().reshape(-1)
        c = a.t().contiguous()
        r.add_(1)
        c.add_(1)
        grads = x.t().reshape(-1), x.t().contiguous(), x.reshape(-1), x.contiguous() is x
        return a, r._base is None, grads, graph(grads[0]), attempt(lambda: x.t().view(-1))

    same(program)


def test_reshape_that_can_view_shares_memory():
    def program(T):
        a = T.zeros(2, 3, 4)
        r = a.transpose(0, 1)[:, :, 1:3].reshape(3, 4)  # not viewable: a copy
        s = a.transpose(1, 2).reshape(2, 4, 3)  # not viewable either
        u = a.reshape(6, 4)[1:].reshape(5, 2, 2)  # viewable: writes reach a
        u.fill_(1.0)
        r.fill_(2.0)
        s.fill_(3.0)
        return a, u._base is a, r._base is None, s._base is None

    same(program)


def test_elementwise_results_keep_their_inputs_layout():
    def program(T):
        x = T.arange(12.0).reshape(4, 3)
        a = T.zeros(2, 3, 4).permute(2, 0, 1)
        results = [x.t().sigmoid(), x.t() + 1, x.t() + x.t().contiguous(), x + x.t().t(),
                   x.t().clone(), x.t().double(), a * 2, a + T.zeros(4, 1, 1),
                   T.zeros(3, 4)[:, ::2].exp(), T.zeros(3, 1).expand(3, 4).exp(),
                   T.where(x.t() > 3, x.t(), 0.0), x.t().contiguous()]
        return [(r.stride(), r.is_contiguous()) for r in results]

    same(program)


def test_contiguous_of_an_elementwise_result_copies_and_view_follows_layout():
    def program(T):
        x = T.arange(12.0).reshape(4, 3)
        z = x.t() * x.t()
        c = z.contiguous()
        c[0] = 5.0  # a copy: z keeps its values
        flat = x.t().sigmoid().transpose(0, 1).view(12)  # row-major again: a view
        return z, c, flat._base is not None

    same(program)


@pytest.mark.parametrize("write", ["add_(1)", "mul_(2)", "copy_(T.ones(2, 3))", "clamp_(0, 1)"])
def test_expanded_tensor_refuses_in_place_writes(write):
    def program(T):
        e = T.zeros(1, 3).expand(2, 3)
        return attempt(lambda: eval("e." + write, {"e": e, "T": T}))

    same(program)


def test_expanded_tensor_can_be_filled():
    def program(T):
        base = T.zeros(1, 3)
        base.expand(2, 3).fill_(2.0)
        base.expand(2, 3).zero_()
        return base

    same(program)


# ---- retain_grad, saved outputs, forbidden writes ---------------------------------------------

def test_retain_grad_follows_an_in_place_write_on_a_view():
    def program(T):
        x, _ = _leaves(T)
        a = x.clone()
        v = a[0]
        v.retain_grad()
        v.mul_(2)
        (v * 3).sum().backward()
        return grad_of(v), x.grad

    same(program)


def test_saved_output_of_in_place_op_is_version_checked():
    def program(T):
        x, _ = _leaves(T)
        z = x.clone()
        w = z.relu_().relu_()
        z.add_(1)
        return attempt(lambda: w.sum().backward())

    same(program, prefix=60)


def test_saved_output_of_in_place_op_on_a_view_is_version_checked():
    def program(T):
        x, _ = _leaves(T)
        a = x.clone()
        v = a[1:].sigmoid_()
        a.add_(1)
        return attempt(lambda: v.sum().backward())

    same(program, prefix=60)


def test_the_gradient_through_a_view_written_in_place_was_written_twice():
    # (CopySlices copies the gradient into a new tensor, then the view's part into it)
    def program(T):
        x, _ = _leaves(T)
        a = x.clone()
        a[1:].mul_(3)
        g = T.autograd.grad((a * a).sum(), x, retain_graph=True)[0]
        graph_kept = T.autograd.grad((a * a).sum(), x, create_graph=True)[0]

        def written(u):
            c = u.clone()
            c[0].mul_(3)
            return c.pow(2).sum()

        return g._version, graph_kept._version, T.func.grad(written)(x.detach())._version

    same(program)


def test_stale_saved_output_of_in_place_op_on_a_view_names_the_views_node():
    # While the view lives, torch names the node it had when the result was saved
    # (AsStrided); once it is gone, the op's own (Exp)
    def program(T):
        x, _ = _leaves(T)
        a, b = x.clone(), x.clone()
        v = a.view(-1)
        v.exp_()
        b.view(-1).exp_()
        a.t().add_(1)
        b.t().add_(1)
        return [attempt(lambda: a.sum().backward()), attempt(lambda: b.sum().backward())]

    same(program)


def test_outputs_of_multi_view_ops_refuse_in_place_writes():
    def program(T):
        x, y = _leaves(T)
        p, _, _ = x.clone().split(1)
        q, _, _ = T.zeros(3, 2).split(1)
        a = x.clone()
        with T.no_grad():
            v = a[:2]
        return (attempt(lambda: p.mul_(2)), attempt(lambda: q.mul_(y[:1])),
                attempt(lambda: v.mul_(2)))

    same(program)


def test_a_refused_view_written_after_its_base_is_refused_as_written_itself():
    # torch checks the write before it reads the view's stale history: the error says the
    # view is being modified, where reading its grad_fn says its base was
    def program(T):
        x, _ = _leaves(T)
        a = x * 1
        parts = a.unbind(0)
        with T.no_grad():
            v = a[:2]
        a.add_(1)
        return (attempt(lambda: parts[1].mul_(2)), attempt(lambda: parts[0].t_()),
                attempt(lambda: parts[2].grad_fn), attempt(lambda: v.copy_(x[:2])))

    same(program)


# ---- custom Functions ----------------------------------------------------------------------

def _doubling_in_place(T):
    """A custom Function that doubles its input in place and marks it dirty (its backward
    says 3, so a test sees whether this backward, and not mul's, ran)."""
    class Double(T.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            t.mul_(2)
            ctx.mark_dirty(t)
            return t

        @staticmethod
        def backward(ctx, g):
            return g * 3

    return Double


def test_custom_function_marking_a_view_dirty_rebases_its_base():
    def program(T):
        Double = _doubling_in_place(T)
        x, _ = _leaves(T)
        a = x.clone()
        v = a[1]
        out = Double.apply(v)
        a.sum().backward(retain_graph=True)
        return out is v, v, a.grad_fn.name(), a._version, x.grad

    same(program)


def test_a_view_marked_dirty_and_saved_is_saved_as_the_functions_output():
    # unpacked, it has the Function's node (not the view's regenerated one), so a gradient
    # of the gradient goes through that node again
    def program(T):
        seen = []

        class Scale(T.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                t.mul_(2)
                ctx.mark_dirty(t)
                ctx.save_for_backward(t)
                return t

            @staticmethod
            def backward(ctx, g):
                (out,) = ctx.saved_tensors
                seen.append((node_name(out.grad_fn), out._base is None, out._version))
                return g * out

        x, _ = _leaves(T)
        a = x * 1
        Scale.apply(a[1])
        (g,) = T.autograd.grad(a.pow(2).sum(), x, create_graph=True)
        g.sum().backward()
        return seen, g, x.grad

    same(program)


def test_custom_function_marking_dirty_a_view_of_a_base_detached_in_place():
    # The view keeps the history it had; its base, detached in place, is a leaf now: torch
    # refuses the in-place Function as any in-place op on the view (after it wrote; fuzzer
    # seed 9587532: distgrad let it through)
    def program(T):
        Double = _doubling_in_place(T)
        x, _ = _leaves(T)
        a = x[[2]]
        v = a.view(-1)
        a.detach_()
        return attempt(lambda: Double.apply(v)), a, v.requires_grad

    same(program)


def test_view_returned_by_custom_function_refuses_in_place_writes():
    def program(T):
        class Head(T.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return t[:2]

            @staticmethod
            def backward(ctx, g):
                return T.zeros(3, 2)

        x, _ = _leaves(T)
        out = Head.apply(x.clone())
        return out._is_view(), attempt(lambda: out.mul_(2))

    same(program)


def test_custom_function_view_prints_an_invalid_grad_fn_once_its_base_is_written():
    """Reading grad_fn raises (torch's view+inplace check), but repr prints grad_fn=<Invalid>."""
    def program(T):
        class Same(T.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return t.view_as(t)

            @staticmethod
            def backward(ctx, g):
                return g

        base = T.ones(3, requires_grad=True) * 1
        out = Same.apply(base)
        before = repr(out)
        base.mul_(2)
        return before, repr(out), str(out), attempt(lambda: out.grad_fn)

    same(program)


def test_input_passed_twice_to_an_in_place_op_is_version_checked():
    def program(T):
        x, _ = _leaves(T)
        v = x.clone().contiguous()
        v.mul_(v)
        return attempt(lambda: T.autograd.grad((x.clone() * 1).sum() + v.sum(), [x]))

    same(program, prefix=60)


def test_operand_partly_overlapping_the_written_tensor_is_refused():
    def program(T):
        x, _ = _leaves(T)
        v = x.clone().reshape(-1)
        same_view = v.detach()
        return (attempt(lambda: v.sub_(v[0])), attempt(lambda: v[:3].add_(v[1:4])),
                v.add_(same_view), v[:2].mul_(v[4:]))

    same(program)


def test_setitem_into_an_expanded_tensor_writes_the_selected_view():
    def program(T):
        x, _ = _leaves(T)
        row = x.mean(0, keepdim=True)
        e = row.expand(2, -1, -1)
        e[1] = -0.5
        return row, e, attempt(lambda: e.add_(1))

    same(program)


@pytest.mark.parametrize("key", [slice(None), Ellipsis, (slice(0, None), slice(None, 2)),
                                 (Ellipsis, slice(None))])
@pytest.mark.parametrize("value", ["float", "row", "0-dim", "bool"])
def test_setitem_of_all_of_a_tensor_writes_the_tensor_itself(key, value):
    # torch writes x itself (fill_/copy_), not a view of it: x's old value gets no
    # gradient at all, so a create_graph gradient through it does not require grad, and
    # a hook on what made it runs once per backward.
    def program(T):
        x, y = _leaves(T)
        seen = []
        x.register_hook(lambda g: seen.append(g.detach()))
        a = x * 2
        a[key] = {"float": -0.5, "row": y[0], "0-dim": y[1, 1], "bool": True}[value]
        loss = (a * a).sum()
        g = T.autograd.grad(loss, [x, y], create_graph=True, allow_unused=True)
        again = [T.autograd.grad((gi * gi).sum(), [x], allow_unused=True)
                 for gi in g if gi is not None and gi.requires_grad]
        loss.backward()
        return a, graph(a), g, again, _grads(x, y), len(seen)

    same(program)


@pytest.mark.parametrize("write", ["a view of it", "its base", "itself"])
def test_hooks_on_a_view_before_a_write_through_a_sibling_view(write):
    # A hook on v2 = v1[::2] registered before a write through v2.reshape(-1) (a view
    # taken through v2) sits on v2's old node, which the write's CopySlices passes by, as
    # after a write to the base: torch never calls it (differential fuzzer seed 7006742).
    def program(T):
        seen, x = [], T.tensor([[0.7, 0.3, 0.05], [0.07, 0.14, -0.55]], requires_grad=True)
        v1 = x[1] * x[1]
        v2 = v1[::2]
        v2.register_hook(lambda g: seen.append(g))
        w = v1[::2]
        w.retain_grad()
        {"a view of it": lambda: v2.reshape(-1).clamp_(-0.5, 0.01),
         "its base": lambda: v1.mul_(2), "itself": lambda: v2.mul_(2)}[write]()
        (v2 * v2 + w).sum().backward()
        return v2, node_name(v2.grad_fn), x.grad, grad_of(w), seen

    same(program)


def test_overlap_is_refused_only_between_dense_blocks():
    # torch tells partial overlap only for two tensors that each fill a block of memory
    # (too hard otherwise): interleaved slices, an expanded operand and setitem's broadcast
    # value are written (differential fuzzer seed 7007011); overlapping blocks are not.
    def program(T):
        def base():
            return T.arange(6.0)

        cases = [lambda b: b.narrow(0, 1, 2).__setitem__(slice(0, None), b[1:2]),
                 lambda b: b.narrow(0, 1, 2).copy_(b[1:2]),
                 lambda b: b[1:3].copy_(b[0:2]),
                 lambda b: b[::2].copy_(b[1::2]),
                 lambda b: b[:4].reshape(2, 2).copy_(b[:4].reshape(2, 2).t()),
                 lambda b: b.add_(b[0:1].expand(6)),
                 lambda b: b[1:3].add_(b[0:2]),
                 # setitem's value expanded as torch expands (seeds 7010430, 7014716)
                 lambda b: b[:3].view(1, 3).__setitem__(slice(0, None), b[:3]),
                 lambda b: b[:1].__setitem__(slice(0, None), b[:1].squeeze(0))]
        out = []
        for case in cases:
            b = base()
            out.append((attempt(case, b), b))
        return out

    same(program)


def test_a_copy_keeps_its_inputs_strides_even_of_size_1_dims():
    # clone, .to(dtype), flip and sort lay their result out as torch's empty_like: a dense
    # input's very strides, a size-1 dim's too. So a clone of x[1:2, 3:] steps (4, 1), and
    # its transpose partly overlaps it: torch refuses the copy_ (fuzzer seed 9949540).
    def program(T):
        x = T.tensor(np.arange(12.0).reshape(3, 4) / 5 - 1, dtype=T.float32)
        inputs = [x[1:2, 3:], x[:, 1:2], x[:1].t(), x.t().unsqueeze(1)]
        copies = [[c.stride() for c in (v.clone(), v.to(T.float64), v.double(), v.flip(0),
                                        v.sort(0)[0])] for v in inputs]
        v = x[1:2, 3:].clone()
        return copies, attempt(lambda: v.t().copy_(v)), v

    same(program)


def test_copy_of_a_tensor_onto_its_own_data_writes_nothing_but_is_recorded():
    # torch's copy_ kernel returns at once when src is dst's very data (the same view, even
    # of an expanded tensor: v[:] = v after v = a[1].expand(3); seed 7018006), while
    # autograd records the copy as usual; writing a scalar into the expanded view still
    # raises.
    def program(T):
        a = T.ones(3, requires_grad=True) * 2
        v = a[1].expand(3)
        done = [attempt(lambda: v.__setitem__(slice(0, 3), v)), attempt(lambda: v.copy_(v)),
                attempt(lambda: v.copy_(v[:])), attempt(lambda: v.__setitem__(slice(0, 3), 1.0)),
                attempt(lambda: a.copy_(a)), attempt(lambda: a.copy_(a[:]))]
        b = a[1:]
        b.copy_(b[:])
        # (the copies through the expanded view: torch's CopySlices refuses their gradient)
        backward = attempt(lambda: (a * a).sum().backward())
        return [d if isinstance(d, Raised) else None for d in done], a, a._version, \
            node_name(a.grad_fn), node_name(b.grad_fn), backward

    same(program)


def test_a_detached_expanded_leaf_whose_memory_was_written_gets_each_gradient_once():
    # v1 = x.expand(2, -1, -1).detach() shares two places among its four elements; after x
    # is written, v1's view is made anew as an as_strided of v1, whose backward must divide
    # each place's sum by how many of v1's elements share it, as torch's (seed 7047843).
    def program(T):
        x = T.tensor([[0.61], [1.6], [1.02], [-1.29]], requires_grad=True)
        v1 = x.expand(2, -1, -1).detach().requires_grad_()
        v2 = v1.select(2, 0)
        with T.no_grad():
            x.add_(x)
        loss = (v2 * v2).sum()
        g, = T.autograd.grad(loss, [v1], create_graph=True)
        g2, = T.autograd.grad((g * g).sum(), [v1])
        return v2.detach(), g.detach(), g2  # (g's node is named otherwise here)

    same(program)


@pytest.mark.parametrize("part", ["rows", "columns", "every other row"])
def test_a_view_of_a_detached_slice_written_with_grad_is_made_anew(part):
    # v3 = x[...].detach().t(); the detached slice then takes a history in place: v3's
    # history is made anew as an as_strided of the slice, whose memory starts at an offset
    # or has gaps (it raised setStorage's out-of-bounds error: seed 7045104).
    def program(T):
        w = T.tensor([2.0], requires_grad=True)
        x = T.arange(12.0).reshape(4, 3).requires_grad_()
        v2 = {"rows": lambda: x[1:], "columns": lambda: x[:, 1:],
              "every other row": lambda: x[::2]}[part]().detach()
        v3 = v2.t()
        v2.mul_(w)
        loss = (v3 * T.arange(float(v3.numel())).reshape(v3.shape)).sum()
        return v3, node_name(v3.grad_fn), v3.is_leaf, T.autograd.grad(loss, [w])

    same(program)


@pytest.mark.parametrize("view", ["unsqueeze", "permute", "flatten"])
def test_a_write_through_a_view_that_is_all_of_its_base_still_reaches_its_old_history(view):
    # torch's CopySlices keeps its edge to the base's old history even when the view is
    # all of the base: that history gets zeros (that require grad under create_graph), so
    # a hook there runs in each pass (differential fuzzer seeds 7034327, 7061186, 7070208).
    def program(T):
        seen = []
        x = T.tensor([[0.08, 0.76, 0.62], [-1.59, -0.82, -0.1]], requires_grad=True)
        a = x * x - 1
        a.register_hook(lambda g: seen.append(g))
        v = {"unsqueeze": lambda: a.unsqueeze(2), "permute": lambda: a.permute(1, 0),
             "flatten": lambda: a.flatten()}[view]()
        v.fill_(-0.72)
        loss = (a * a).sum()
        g, = T.autograd.grad(loss, [x], create_graph=True, allow_unused=True)
        again = T.autograd.grad((g * g).sum(), [x], allow_unused=True) \
            if g is not None and g.requires_grad else None
        loss.backward()
        return g, again, len(seen), seen

    same(program)


_RELAYOUTS = {
    "resized by out=": lambda T, x, a: T.mul(x.flatten(), 2.0, out=a),
    "t_": lambda T, x, a: a.t_(),
    "unsqueeze_": lambda T, x, a: a.unsqueeze_(0),
}


@pytest.mark.parametrize("relayout", sorted(_RELAYOUTS))
def test_a_view_written_after_its_base_took_another_layout_in_place(relayout):
    # The views keep their places in the base's memory: a write through one reaches the
    # elements there, not those the view op it was made by picks from the base's new layout
    # (it picked them, or raised numpy's broadcast error); a gradient of the base's new
    # shape then meets the node that made it, as torch's CopySlices' does.
    def program(T):
        x = T.arange(9.0).reshape(3, 3).requires_grad_()
        a = x * 1.5
        row, column = a[0:1], a[:, 1]
        with T.no_grad():
            _RELAYOUTS[relayout](T, x, a)
        row.reshape(-1).clamp_(1.0, 2.0)
        column.add_(x[0])
        weights = T.arange(float(a.numel())).reshape(a.shape)
        return (a, row, column, node_name(row.grad_fn), node_name(a.grad_fn),
                attempt(T.autograd.grad, (a * weights).sum(), x))

    same(program)


def test_expand_strides_are_torchs():
    # A new leading dim of size 1 steps over the dims after it; one that grows, and every
    # new dim of a 0-dim tensor, gets stride 0.
    def program(T):
        a = T.arange(3.0)
        made = [a.expand(1, 3), a.expand(2, 3), a.reshape(3, 1).expand(1, 3, 1),
                a.expand(1, 1, 3), T.tensor(1.0).expand(1), T.tensor(1.0).expand(2, 1),
                T.ones(2, 1).t().expand(1, 1, 2), T.ones(3, 1).expand(2, 1, 3, 5),
                T.ones(2, 3)[:, ::2].expand(1, 2, 2), T.ones(0, 3).expand(1, 0, 3)]
        return [m.stride() for m in made]

    same(program)


def test_a_hooked_view_between_a_base_and_the_written_view_is_passed_by():
    # v = a.view(-1) with a hook, then v.narrow(...).fill_(...): undoing the narrow step by
    # step read v, so v's hook saw the write's gradient; torch's CopySlices goes from the
    # base (differential fuzzer seed 7073923).
    def program(T):
        seen = []
        x = T.tensor([[-1.08, 1.94, -1.58], [0.04, 1.33, -0.19]], requires_grad=True)
        a = x * 2
        v = a.view(-1)
        v.register_hook(lambda g: seen.append(g))
        v.narrow(0, 2, 2).fill_(-0.41)
        (a * a).sum().backward()
        return a, x.grad, seen

    same(program)


def test_setitem_refuses_what_torch_cannot_assign():
    def program(T):
        a = T.zeros(2, 3)
        return [attempt(a.__setitem__, slice(None), v) for v in (
            [1.0, 2.0, 3.0], (1, 2, 3), np.zeros(3, np.float32), np.float32(2), "x", 2 + 1j)]

    same(program)


def test_custom_function_marking_a_view_of_a_leaf_dirty_is_refused():
    def program(T):
        Double = _doubling_in_place(T)
        x, _ = _leaves(T)
        return attempt(lambda: Double.apply(x.t()))

    same(program)


@pytest.mark.parametrize("case", ["a no_grad view", "a no_grad view of a written base",
                                  "a no_grad view, under no_grad", "a leaf, under no_grad"])
def test_custom_function_marking_dirty_a_leaf_or_a_no_grad_view(case):
    """torch refuses a written leaf that requires grad (a view made under no_grad is one)
    by the history it holds, after counting mark_dirty's write; not recording (no_grad) it
    returns such an input detached and leaves it as it is."""
    def program(T):
        Double = _doubling_in_place(T)
        x, _ = _leaves(T)
        base = x * 1
        with T.no_grad():
            target = x if "leaf" in case else base[1:]
        if "written" in case:
            base.add_(1)
        with T.no_grad() if "under no_grad" in case else T.enable_grad():
            got = attempt(lambda: Double.apply(target))
        # (its values only: a stale view made under no_grad refuses its grad_fn being read)
        return got, target._version, target.requires_grad, target.tolist()

    same(program)


def test_views_made_without_grad_and_stale_forbidden_views():
    def program(T):
        x, _ = _leaves(T)
        with T.no_grad():
            v = x[0]
        under = v[1:]  # a view of it, recorded
        a = x.clone()
        with T.no_grad():
            u = a[0]
        a.mul_(2)
        b = x.clone().reshape(-1).clone()
        part = b.split(2)[1]
        b.copy_(b)
        return (v.requires_grad, v.is_leaf, under.grad_fn.name(), attempt(lambda: u.grad_fn),
                attempt(lambda: part.is_leaf), part.requires_grad)

    same(program)


def test_view_made_without_grad_passes_no_gradient_of_its_own():
    def program(T):
        x, _ = _leaves(T)
        with T.no_grad():
            v = x[1]
        y = v * x
        y.sum().backward()
        made = T.arange(6.0).reshape(2, 3).requires_grad_()  # a view made a leaf: has one
        (made * 2).sum().backward()
        return y.requires_grad, x.grad, v.grad, made.grad

    same(program)


@pytest.mark.parametrize("flag", [False, True])
def test_requires_grad_set_on_a_view_made_without_grad(flag):
    """requires_grad_(False) leaves torch's view requiring grad through its base (no
    accumulator of its own, as it was made); requires_grad_(True) gives it one."""
    def program(T):
        x, _ = _leaves(T)
        with T.no_grad():
            v = x.t()
        v.requires_grad_(flag)
        y = v * 2
        y.sum().backward()
        return v.requires_grad, v.is_leaf, y.requires_grad, x.grad, v.grad

    same(program)


def test_grad_of_a_stale_forbidden_view_reads_without_raising():
    def program(T):
        x, _ = _leaves(T)
        base = x.clone().reshape(-1)
        part = base.unbind(0)[2]
        part.retain_grad()
        with T.no_grad():
            part.zero_()
        (base * base).sum().backward()
        with T.no_grad():
            made = x.reshape(-1)
        with T.no_grad():
            x.clamp_(-0.5, 0.5)
        return grad_of(part), made.grad, x.grad

    same(program)


def test_a_stale_forbidden_view_is_an_operand_under_no_grad():
    # Its history is refused once its base was written, but under no_grad no op reads it:
    # torch computes with its values (distgrad raised the view's error).
    def program(T):
        class Head(T.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return t[:1]

            @staticmethod
            def backward(ctx, g):
                return T.cat([g, T.zeros(2, 2)], 0)

        x, _ = _leaves(T)
        b = x * 1
        head = Head.apply(b)
        b.add_(1)
        with T.no_grad():
            values = (head + 1, head.clone(), head * head)
        return values, attempt(lambda: head + 1)

    same(program)


def test_a_comparison_does_not_make_a_stale_views_history_anew():
    # torch makes it anew only for an op that records a node reading it (fuzzer seeds
    # 10210824, 10218127): after `v > 0.1` the view still counts as a leaf that requires
    # grad when written (distgrad had made it a view of the base's CopySlices).
    def program(T):
        x, y = _leaves(T)
        base = x.detach()
        v = base.reshape(-1)[2:]
        base.add_(y)
        _ = v > 0.1, T.where(v > 0, 1.0, 0.0), v.argmax()
        first = attempt(lambda: v.copy_(v))
        _ = v.sign()  # (this one does)
        w = x * 1
        parts = w.unbind(0)
        w.mul_(2)
        return first, attempt(lambda: v.add_(v)), attempt(lambda: parts[0] > 0), \
            attempt(lambda: parts[0] * 1)

    same(program)


def test_second_order_gradient_through_a_regenerated_view():
    # The stale view's history is regenerated as as_strided of its base; the double backward
    # of that gathers from an expanded first-order gradient (was read past its storage).
    def program(T):
        x = T.tensor([[1.02, -1.4, 0.81], [-1.48, 0.41, -1.05], [-0.79, 1.06, -0.82]])
        y = T.tensor([-0.48, -0.25, -0.99], requires_grad=True)
        a = x.clone()
        v = a.transpose(0, 1)
        a.add_(y.sum(0))
        g, = T.autograd.grad((v * v).sum(), [y], create_graph=True)
        return v.grad_fn.name(), g, T.autograd.grad((g * g).sum(), [y])

    same(program, rtol=1e-4)


def test_copy_from_a_number_and_from_a_list():
    def program(T):
        x = T.ones(2, requires_grad=True)
        y = x * 2
        y.copy_(1.5)
        return y, y.grad_fn.name(), len(y.grad_fn.next_functions), attempt(T.zeros(2).copy_, [1.0, 2.0])

    same(program)


def test_hooks_on_a_view_before_it_is_written_see_only_other_uses():
    # torch's CopySlices sends the written op's gradient for the view's old value to the
    # base's old history, not through the view's own node: its hooks see only other uses
    def program(T):
        seen = []
        x = T.tensor([[1.27, -0.29, 0.12, 0.78], [1.17, -0.43, -0.41, 1.55]], requires_grad=True)
        a = x + x
        v = a.narrow(1, 0, 3)
        v.register_hook(lambda g: seen.append(("v", g)))
        v.mul_(3)
        w = a[0]
        w.register_hook(lambda g: seen.append(("w", g)))
        y = w * 2
        w.add_(x[1])
        (a * a).sum().backward(retain_graph=True)
        y.sum().backward()
        return seen, x.grad

    same(program)


def test_hooks_on_a_view_go_to_its_node_until_its_history_is_read_again():
    # torch hands a tensor's hooks, kept in one dict, to its grad_fn at the first
    # register_hook: one registered after its base is written, before the view's history is
    # read again, joins the old node and sees nothing of later uses (fuzzer seed 22749656)
    def program(T):
        seen = []
        x = T.tensor([[1.27, -0.29, 0.12], [1.17, -0.43, -0.41], [0.3, 0.9, -1.1]],
                     requires_grad=True)
        a = x * 2
        v = a.diagonal()
        v.register_hook(lambda g: T.zeros_like(g))
        early = v * 3
        a.add_(0.5)
        v.register_hook(lambda g: seen.append(("after the write", g)))
        late = v / 2
        v.register_hook(lambda g: seen.append(("after the read", g)))
        (early.sum() + (late * late).sum()).backward()
        return seen, x.grad

    same(program)


def test_a_view_requires_grad_when_its_base_comes_to():
    def program(T):
        x = T.tensor([1.73, -0.52, -0.05])
        y = T.tensor([-1.23, 1.66, -0.09], requires_grad=True)
        a = x.abs()
        with T.no_grad():
            v = a.expand(2, -1)
        w = a[1:]
        a[:3] = y
        leaf = T.zeros(3)
        part = leaf[:2]
        leaf.requires_grad_()
        return v.requires_grad, attempt(lambda: v.is_leaf), w.requires_grad, part.requires_grad

    same(program)


def test_a_sibling_view_read_after_a_custom_function_dirtied_a_view_sees_the_write():
    def program(T):
        x = T.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        a = x * 1
        sibling = a.t()
        part = sibling[::2]
        _doubling_in_place(T).apply(part)
        return (sibling.grad_fn.name(), a._version,
                T.autograd.grad(sibling.sum(), [x], retain_graph=True),
                T.autograd.grad((a * a).sum(), [x]))

    same(program)


def test_retain_grad_on_a_view_whose_base_came_to_require_grad():
    # (torch 2.13 crashes registering a hook on such a view, and its retain_grad before the
    # view's history is read keeps no .grad: only that it is accepted is compared)
    def program(T):
        x = T.tensor([[0.12, 0.71, 0.28]], requires_grad=True)
        y = T.tensor([1.96, 1.9, -0.29])
        v = y[::2]
        w = y[1:]
        y[0:] = x[:, 2:].sum()
        accepted = attempt(v.retain_grad)
        (v * w[0]).sum().backward()
        return accepted, v.requires_grad, x.grad

    same(program)


def test_a_write_through_one_element_of_an_expanded_view_reaches_its_base():
    def program(T):
        x = T.tensor([0.54, -0.65, 1.83, 1.6], dtype=T.float64)
        e = x.narrow(0, 0, 1).expand(3)
        e[1].mul_(e[1])
        laid = T.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).t() + 1  # a transposed base
        laid[:, :1].expand(3, 4)[1, 2].mul_(10)
        return x, e, laid, laid.stride()

    same(program)


def test_an_operand_overlapping_through_data_is_refused():
    # .data shares the memory under its own version counter: the overlap is still seen
    def program(T):
        x = T.tensor([[1.1, -1.11, 0.6]], requires_grad=True)
        a = x.clone()
        return attempt(a.data.mul_, a.view(-1)), attempt(a.data.mul_, a.detach()), a

    same(program)


# ---- a base whose memory is not in index order (a transposed clone) ----------------------

@pytest.mark.parametrize("loss_through", ["view", "base", "both"])
def test_a_write_through_a_view_of_a_transposed_clone(loss_through):
    """A clone keeps a transposed layout (its memory is in the source's order), so a view
    of it regenerated after a write reads its base's memory by the base's own strides:
    the gradient reaches the elements the view holds, at first and second order."""
    def program(T):
        x = T.tensor([[0.8, -1.9, -1.16], [-0.8, -1.56, 0.39], [-0.67, -0.94, 1.02]],
                     requires_grad=True)
        base = x.transpose(0, 1).clone()
        col = base.select(1, 0)
        col.mul_(2)
        loss = {"view": (col * col).sum(), "base": (base * base).sum(),
                "both": (col * base[:, 1]).sum() + base.sum()}[loss_through]
        (g,) = T.autograd.grad(loss, [x], create_graph=True)
        (gg,) = T.autograd.grad((g * g).sum(), [x])
        return base.stride(), col.stride(), col, g, gg

    same(program)


def test_as_strided_reads_a_transposed_clone_by_its_memory():
    def program(T):
        x = T.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        base = x.t().clone()  # memory: x's rows
        part = base.as_strided((2, 2), (1, 2), 1)
        (part * T.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
        return base.stride(), part, x.grad

    same(program)


# ---- writes through an expanded tensor ---------------------------------------------------------

@pytest.mark.parametrize("write", ["fill_", "zero_"])
def test_a_fill_through_an_expanded_view_sets_each_place_once(write):
    """Each place of the base is several elements of the view: it takes the value once
    (its change was added once per element; program fuzzer, seed 9418354); a backward
    through that write raises torch's error."""
    def program(T, backward):
        x, y = _leaves(T)
        a = x * y
        getattr(a.expand(4, -1, -1), write)(*((-0.67,) if write == "fill_" else ()))
        b = a * y
        if backward:  # torch refuses a gradient through the overlapping write
            b.sum().backward()
        return a, b

    same(lambda T: program(T, False))
    same(lambda T: program(T, True))


_EXPANDED_WRITES = {  # (T, the expanded view e, a value v that requires grad)
    "index [0]": lambda T, e, v: e.__setitem__([0], v),
    "index [1, 0], a value per index": lambda T, e, v: e.__setitem__(
        [1, 0], (v * T.tensor([[1.0], [3.0]])).unsqueeze(1)),
    "index a column": lambda T, e, v: e.__setitem__((slice(None), slice(None), [1]), v[:1]),
    "bool index": lambda T, e, v: e.__setitem__(T.tensor([True, False]), v),
    "index_put_ accumulate": lambda T, e, v: e.index_put_((T.tensor([0, 1]),), v,
                                                         accumulate=True),
    "masked_fill_ by a tensor": lambda T, e, v: e.masked_fill_(T.tensor([True, False, True]),
                                                               v[1]),
    "masked_fill_, a mask per copy": lambda T, e, v: e.masked_fill_(
        T.tensor([[[True, False, True]], [[False, True, False]]]), 5.0),
    "fill_ by a tensor": lambda T, e, v: e.fill_(v[0]),
    "index_fill_ of copies": lambda T, e, v: e.index_fill_(0, T.tensor([1]), -2.0),
    "index_fill_ of a column by a tensor": lambda T, e, v: e.index_fill_(-1, T.tensor([2, 0]),
                                                                          v[1]),
}


@pytest.mark.parametrize("base_needs_grad", [False, True])
@pytest.mark.parametrize("write", sorted(_EXPANDED_WRITES))
def test_index_and_mask_writes_into_an_expanded_view(write, base_needs_grad):
    """index_put_, masked_fill_ and index_fill_ write into an expanded view (with torch's
    deprecation warning); fill_ by a tensor is refused at once. The written value gets the whole
    gradient of each place it shows (torch's CopySlices reads the base's gradient through
    the view); the base's old value cannot get one: the backward raises then (program
    fuzzer, seed 9514254: distgrad raised when only the value needed a gradient; seed
    22689460: it refused index_fill_)."""
    def program(T):
        x = T.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        v = T.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = x * 1 if base_needs_grad else x.detach().clone()
        wrote = attempt(lambda: _EXPANDED_WRITES[write](T, y.expand(2, -1, -1), v))
        if isinstance(wrote, Raised):
            return wrote
        backward = attempt(lambda: (y * T.arange(6.0).reshape(2, 3)).sum().backward())
        return y.detach(), backward, _grads(x, v)

    same(program)


def test_a_write_through_the_detach_of_an_expanded_tensor_reaches_its_memory():
    """detach() of an expanded leaf shares its memory; a write into one of its rows
    lands there (it went to a private copy; program fuzzer, seed 9402748)."""
    def program(T):
        x, _ = _leaves(T)
        row = x.expand(2, -1, -1).detach()[0]
        row[1] = -0.2
        return x.detach().clone(), row

    same(program)


# ---- writes through a view whose elements overlap (no expanded dim) --------------------------

_OVERLAPPING_VIEWS = {  # a view of a 2x3 or a 6-element base, each place seen by several elements
    "unfold": lambda a: a.unfold(1, 2, 1),
    "as_strided, outer stride 1": lambda a: a.reshape(-1).as_strided((2, 3), (1, 1)),
    "as_strided, transposed": lambda a: a.reshape(-1).as_strided((3, 2), (1, 2)),
}

_OVERLAPPING_WRITES = {  # (T, the view w): each element reads what the last one wrote
    "mul_ by a number": lambda T, w: w.mul_(2),
    "mul_ by a tensor": lambda T, w: w.mul_(T.arange(1.0, 1.0 + w.numel()).reshape(w.shape)),
    "add_ itself": lambda T, w: w.add_(w),
    "sub_ with alpha": lambda T, w: w.sub_(T.ones(w.shape[-1]), alpha=2),
    "neg_": lambda T, w: w.neg_(),
    "exp_": lambda T, w: w.mul_(0.1).exp_(),
    "clamp_": lambda T, w: w.add_(1).clamp_(2, 3.5),
    "addcmul_": lambda T, w: w.addcmul_(T.full(w.shape, 2.0), T.full(w.shape, 3.0)),
    "copy_": lambda T, w: w.copy_(T.arange(10.0, 10.0 + w.numel()).reshape(w.shape)),
    "copy_ of a transpose": lambda T, w: w.copy_(
        T.arange(10.0, 10.0 + w.numel()).reshape(tuple(w.shape)[::-1]).t()),
    "fill_": lambda T, w: w.fill_(-1.5),
    "index_add_": lambda T, w: w.index_add_(0, T.tensor([0, 1]), T.ones((2,) + w.shape[1:])),
    "index_fill_": lambda T, w: w.index_fill_(-1, T.tensor([1]), -1.0),
    "index_put_ accumulate": lambda T, w: w.index_put_((T.tensor([0, 1]),), T.tensor(5.0),
                                                      accumulate=True),
}


@pytest.mark.parametrize("view", sorted(_OVERLAPPING_VIEWS))
@pytest.mark.parametrize("write", sorted(_OVERLAPPING_WRITES))
def test_a_write_through_a_view_whose_elements_overlap(write, view):
    """torch's kernel writes such a view element by element in its iteration order, each
    reading what the ones before wrote to its place (a.unfold(1, 2, 1).mul_(2) doubles the
    middle column twice); distgrad wrote each place once, from the values before the
    write. Also with grad: the base's CopySlices gradient copies, per place, what the
    op's node gives its last element."""
    def program(T, with_grad):
        leaf = T.arange(6.0).reshape(2, 3).requires_grad_(with_grad)
        a = leaf.clone()
        w = _OVERLAPPING_VIEWS[view](a)
        _OVERLAPPING_WRITES[write](T, w)
        if with_grad:
            (a * T.arange(1.0, 7.0).reshape(2, 3)).sum().backward()
        return a, w, leaf.grad

    same(lambda T: program(T, False))
    same(lambda T: program(T, True))


@pytest.mark.parametrize("offset, size", [(2, 3), (0, 2), (0, 4)])
@pytest.mark.parametrize("write", ["mul_", "copy_"])
def test_a_write_through_an_as_strided_view_reaching_outside_its_base(write, offset, size):
    """as_strided of a detached slice may reach its memory before or past the slice: torch's
    kernel writes all of it (distgrad wrote the base's part through a scatter that misplaced
    it), and the CopySlices backward then raises as_strided's error for the gradient laid
    out as the base (distgrad read memory it never wrote)."""
    def program(T):
        leaf = T.arange(1.0, 4.0, requires_grad=True)
        memory = T.zeros(6)
        b = memory[1:4].detach()
        b.copy_(leaf)
        w = b.as_strided((size,), (1,), offset)
        if write == "mul_":
            w.mul_(2)
        else:
            w.copy_(T.full((size,), 7.0) * leaf[0])
        return (memory.clone(), b, w, attempt(lambda: b.sum().backward()),
                attempt(lambda: w.sum().backward()), leaf.grad)

    same(program)


# ---- a view made before its base needed a gradient --------------------------------------------

@pytest.mark.parametrize("write", ["add_", "fill_", "zero_", "setitem", "copy_"])
@pytest.mark.parametrize("looked", ["nothing", "requires_grad", "retain_grad", "grad_fn", "op"])
def test_a_write_to_a_view_made_before_its_base_needed_a_gradient(write, looked):
    """torch takes such a view for a leaf until its history is looked at (grad_fn, or an op
    using it); writing to it then raises its leaf error; after, the write goes through
    (program fuzzer, seeds 7311628, 9615211, 9604424 and six more)."""
    def program(T):
        x, y = _leaves(T)
        a = x.detach().clone()
        v = a[1:]
        a.mul_(y)  # the base now needs a gradient
        if looked == "requires_grad":
            assert v.requires_grad
        elif looked == "retain_grad":
            v.retain_grad()
        elif looked == "grad_fn":
            assert v.grad_fn is not None
        elif looked == "op":
            v * 2
        if write == "setitem":
            v[:] = 2.0
        elif write == "copy_":
            v.copy_(y[1:])
        else:
            getattr(v, write)(*{"add_": (y[1:],), "fill_": (1.5,)}.get(write, ()))
        a.sum().backward()
        return a, _grads(x, y)

    same(program)


@pytest.mark.parametrize("case", ["rows from itself", "itself", "a strided view from itself",
                                  "a row into a row of another", "a slice from a partly "
                                  "overlapping slice", "the same slice", "a mask's copy"])
def test_setitem_refuses_a_value_overlapping_what_it_writes_as_torch(case):
    # torch's __setitem__ copies into the view its basic indices select (a partial overlap
    # refused) or index_put_s into it (any overlap refused); fuzzer seeds 8017443, 8019723.
    def program(T):
        x = T.arange(12.0).reshape(4, 3)
        writes = {
            "rows from itself": lambda: x.__setitem__([1, 0], x[:2]),
            "itself": lambda: x.__setitem__([1, 0, 2, 3], x),
            "a strided view from itself": lambda: (lambda v: v.__setitem__([1, 0], v))(
                x[::2, 1:2]),
            "a row into a row of another": lambda: x.__setitem__((0, [0, 1]), x[1, :2]),
            "a slice from a partly overlapping slice": lambda: x.__setitem__(slice(0, 2), x[1:3]),
            "the same slice": lambda: x.__setitem__(slice(0, 2), x[:2]),
            "a mask's copy": lambda: x.__setitem__(x > 5, x[x > 5] * 2),
        }
        return attempt(writes[case]), x

    same(program)


def test_setitem_names_a_value_that_does_not_fit_the_indexing_result():
    def program(T):
        x = T.zeros(4, 3)
        return attempt(lambda: x.__setitem__([1, 3], T.ones(4, 1)))

    same(program)


_SETITEM_GRAPHS = {  # key, value (of w): torch's copy_to, or index_put_ on the view
    "same_shape": (1, lambda w: w * 2),
    "column_from_a_number": ((slice(None), 0), lambda w: w.sum() * 2),
    "column_from_a_0_dim": ((Ellipsis, 1), lambda w: (w * 3)[0]),
    "element": ((2, 2), lambda w: w[1] * 3),
    "rows_expanded": (slice(1, 3), lambda w: w + 5),
    "another_dtype": (0, lambda w: w.double() * 2),
    "leading_ones": (3, lambda w: (w * 2)[None, None]),
    "expanded_and_cast": ((slice(0, 2), 1), lambda w: w[:1].double() * 7),
    "int_and_tensor": ((0, [0, 2]), lambda w: w[:2] * 1),
    "tensor_and_int": (([0, 2], 1), lambda w: w[:2] * 2),
    "tensor_alone": (([0, 2],), lambda w: w * 2),
    "none_then_int": ((None, 1), lambda w: w * 2),  # (a (1, 3) view: expanded)
    "int_then_none": ((1, None), lambda w: (w * 2)[None]),  # (its shape: as it is)
    "int_then_true": ((0, True), lambda w: w * 2),  # (a bool indexes by a tensor in torch)
}


@pytest.mark.parametrize("case", sorted(_SETITEM_GRAPHS))
def test_setitem_edges_are_torchs_copy_to(case):
    """`x[key] = value`: torch copies a value of the selection's shape (or a 0-dim one) as it
    is, else a view of it without leading 1s, expanded; by index tensors into a view the
    key's ints or slices select first, the node is CopySlices too. The put's edge to the
    value is the value's own history, as torch's (a buffer filled step by step in RL)."""
    key, make = _SETITEM_GRAPHS[case]

    def program(T):
        w = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        x = T.zeros(4, 3) * w[0]
        k = tuple(T.tensor(i) if isinstance(i, list) else i for i in key)
        x[k] = make(w)
        x.pow(2).sum().backward()
        return graph(x, depth=3), x, w.grad

    same(program)


@pytest.mark.parametrize("read_between", [False, True])
def test_a_view_written_in_a_part_gets_its_history_when_next_read(read_between):
    # `v[:, 1:] = c` writes a view of v (torch's slicing, then copy_): v itself, a view of
    # the base, is stale until read, as any other view of it. Read after the base is
    # detached in place, its history is made from the detached base and the gradient goes
    # nowhere; read before, it keeps the edge to the base's CopySlices (fuzzer seed 9404078:
    # distgrad made v's history at the write).
    def program(T):
        x = T.tensor([[0.28], [1.53], [-0.24], [1.55]], requires_grad=True)
        base = x * 1
        v = base.mT
        v[:, 1:] = 0.64
        if read_between:
            v.grad_fn
        base.detach_()
        loss = (v * v).sum()
        grads = T.autograd.grad(loss, [x], allow_unused=True)
        return v, node_name(v.grad_fn), grads

    same(program)


def test_a_list_index_into_an_expanded_tensor_writes_it_not_a_copy():
    # A list of indices is an index_put_ on the expanded tensor itself (distgrad wrote into
    # a copy of the selection, and the write was lost: fuzzer seeds 8021806, 8032315). Of a
    # leaf's expanded view: torch's leaf error.
    def program(T):
        x = T.tensor([[0.5, 1.5, -1.0], [-0.5, 2.0, 1.0]], requires_grad=True)
        leaf_view = attempt(lambda: x.expand(2, -1, -1).__setitem__([0, 1], x.detach()))
        return leaf_view, x

    same(program)


@pytest.mark.parametrize("how", ["scalar", "rows", "reversed rows", "mask", "transposed",
                                 "index_put_", "bool"])
def test_an_index_write_into_an_expanded_tensor_leaves_the_last_write(how):
    # torch writes it (with its deprecation warning) element by element: each memory
    # location keeps the last value written to it, in its kernel's order (fuzzer seeds
    # 9364797, 9388634; distgrad refused it).
    def program(T):
        x = T.tensor([[0.32, 0.76, -0.26]], dtype=T.float64)
        rows = T.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=T.float64)
        v = x.expand(3, 3)
        if how == "scalar":
            v[[1, 2]] = 0.68
        elif how == "rows":
            v[[0, 2]] = rows
        elif how == "reversed rows":
            v[[2, 1]] = rows
        elif how == "mask":
            v[T.tensor([True, False, True])] = rows
        elif how == "transposed":
            v = x.expand(2, 3).t()
            v[[0, 2, 1]] = rows.t()
        elif how == "bool":
            x = x > 0
            v = x.expand(3, 3)
            v[[2, 0]] = rows > 2
        else:
            v.index_put_((T.tensor([2, 0]),), rows)
        return x, v

    same(program)


@pytest.mark.parametrize("case", ["data", "transposed", "with grad"])
def test_an_index_write_reads_a_value_sharing_its_memory_as_it_is_written(case):
    # torch's index_put_ kernel reads the value element by element while it writes: a value
    # sharing the written tensor's memory (not refused: the two are not dense) gives what
    # the earlier writes left (fuzzer seeds 9371369, 9386349; distgrad read it whole first).
    def program(T):
        if case == "data":
            x = T.tensor([[1.98], [-1.25], [2.0], [0.18]], requires_grad=True)
            v0 = x[::2]
            v3 = v0.data.mul_(v0.data)
            v3[[1, 0]] = v0
            return x
        if case == "transposed":
            x = T.tensor([[1.09, -0.54, 1.81], [-1.13, 0.24, 0.06]], requires_grad=True)
            v = x.select(1, 2).reshape(-1).unsqueeze(0)[:, 0:].t()
            with T.no_grad():
                v[[1, 0]] = v.permute(0, 1)
            return x
        a = T.arange(6.0).reshape(2, 3).requires_grad_()
        b = a * 1
        c = b[:, 2]
        c[[1, 0]] = b.t()[2]
        (b * T.arange(6.0).reshape(2, 3)).sum().backward()
        return b, a.grad, node_name(b.grad_fn)

    same(program)


def test_a_view_of_a_no_grad_view_is_named_as_torch_names_it_after_a_write():
    def program(T):
        x = T.tensor([1.0, 2.0, 3.0], requires_grad=True) * 1
        with T.no_grad():
            v = x[:2]
        w = v[:1]
        x.mul_(2)
        return attempt(lambda: w.grad_fn)

    same(program)


def test_no_grad_views_made_each_step_leave_nothing_growing_on_their_base():
    # A base keeps weak references to its no_grad views (a detach_ of it ends their
    # requires_grad); a view made and dropped every step must not make that list grow.
    import distgrad

    w = distgrad.ones(4, requires_grad=True)
    for _ in range(1000):
        with distgrad.no_grad():
            w[0].fill_(1.0)
    assert len(w.__dict__.get("_no_grad_views", [])) <= 32


# ---- writes at indices, in place, through a view of a tensor in a graph ------------------------

_INDEX_WRITES = {
    "scatter_": lambda T, v, y: v.scatter_(0, T.tensor([[1, 0]]), y[:1]),
    "scatter_value": lambda T, v, y: v.scatter_(1, T.tensor([[1], [0]]), 2.5),
    "scatter_add_": lambda T, v, y: v.scatter_add_(0, T.tensor([[1, 1], [0, 1]]), y[1:]),
    "index_add_": lambda T, v, y: v.index_add_(0, T.tensor([1, 1]), y[:2], alpha=2),
    "index_copy_": lambda T, v, y: v.index_copy_(1, T.tensor([1]), y[1:, :1]),
    "index_fill_": lambda T, v, y: v.index_fill_(1, T.tensor([0]), y[0, 0]),
    "masked_scatter_": lambda T, v, y: v.masked_scatter_(v > 0, y),
}


@pytest.mark.parametrize("write", sorted(_INDEX_WRITES))
def test_an_index_write_through_a_view_reaches_its_base_and_its_history(write):
    def program(T):
        x, y = _leaves(T)
        a = x * 1
        v = a[1:]
        before = a._version
        out = _INDEX_WRITES[write](T, v, y)
        w = v * 2  # reads the written view: its history is made anew from a's
        (a * a).sum().backward(retain_graph=True)
        first = _grads(x, y)
        w.sum().backward()
        return (out is v, v._base is a, a._version - before, a, v, w, a.grad_fn.name(),
                v.grad_fn.name(), first, _grads(x, y))

    same(program)


@pytest.mark.parametrize("write", sorted(_INDEX_WRITES))
def test_an_index_write_to_a_leaf_or_its_view_is_refused(write):
    def program(T):
        x, y = _leaves(T)
        with T.no_grad():
            done = _INDEX_WRITES[write](T, x.detach()[1:], y)  # no grad: a plain write
        leaf = T.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)  # (as the view's shape)
        return (attempt(_INDEX_WRITES[write], T, x[1:], y),
                attempt(_INDEX_WRITES[write], T, leaf, y), done)

    same(program)


# ---- the shape helpers that are views in torch are views here --------------------------------

_HELPER_VIEWS = {
    "movedim": lambda a: a.movedim(0, 1),
    "moveaxis": lambda a: a.moveaxis((0, 1), (1, 0))[1],
    "unflatten": lambda a: a.unflatten(0, (3, 1)),
    "tensor_split": lambda a: a.tensor_split(2)[0],
    "tensor_split_indices": lambda a: a.tensor_split([1, 2], dim=0)[2],
    "hsplit": lambda a: a.hsplit(2)[1],
    "vsplit": lambda a: a.vsplit([1])[1],
}


@pytest.mark.parametrize("view", sorted(_HELPER_VIEWS))
def test_a_write_through_a_shape_helpers_view_reaches_its_base(view):
    def program(T):
        x, y = _leaves(T)
        z = T.zeros(3, 2)
        plain = _HELPER_VIEWS[view](z)
        plain.fill_(1.5)  # no graph: the memory is shared
        a = x * 1
        v = _HELPER_VIEWS[view](a)
        v.mul_(2)  # in a graph: the base takes the write (CopySlices)
        (a * y).sum().backward()
        return (z, plain._base is z, v._base is a, plain.stride(), plain.storage_offset(),
                a, a.grad_fn.name(), v.grad_fn.name(), _grads(x, y))

    same(program)


def test_index_and_scatter_writes_refuse_a_source_sharing_self():
    # torch's index_copy_, index_add_, index_reduce_, scatter_, scatter_add_,
    # scatter_reduce_ and put_ refuse a dense source overlapping self even as the same
    # view (at::assert_no_overlap); index_fill_, masked_fill_ and masked_scatter_ do not
    # (fuzzer seed 20000720: v.reshape(-1).unsqueeze(1).index_copy_(1, i, v))
    def program(T):
        i = T.tensor([1, 0, 2, 3])
        cases = [lambda a: a.index_copy_(0, i, a), lambda a: a.index_copy_(0, i[:2], a[2:]),
                 lambda a: a.index_add_(0, i, a), lambda a: a.scatter_(0, i, a),
                 lambda a: a.scatter_add_(0, i, a), lambda a: a.put_(i, a),
                 lambda a: a.scatter_reduce_(0, i, a, "sum"),
                 lambda a: a.index_reduce_(0, i, a, "prod"),
                 lambda a: a.index_fill_(0, i[:1], a[0]), lambda a: a.masked_fill_(a > 0, a[0]),
                 lambda a: a.masked_scatter_(a > 0, a[1:]),
                 lambda a: a.view(2, 2).index_copy_(1, i[:1], a.view(2, 2)[:, 1:])]
        out = []
        for case in cases:
            a = T.tensor([1.0, -2.0, 3.0, 4.0])
            out.append((attempt(case, a), a))
        return out

    same(program)


@pytest.mark.parametrize("key", ["[:]", "[::1]", "[0:]", "[:, 0:]", "[:, :1]", "[0:5, 0:1]",
                                 "[:, -1:]", "[-2:, :]", "[..., :]"])
def test_whole_slices_are_skipped_in_a_tuple_key_not_alone(key):
    # torch's get_item slices by a lone slice always (SliceBackward0), and in a tuple skips
    # a slice from 0 (or None) to the length or past it (x[:, 0:] is AliasBackward0): the
    # gradient through an alias is grad_outputs itself, a leaf (fuzzer seed 22004158)
    def program(T):
        x = T.tensor([[-1.89], [-1.65]], requires_grad=True)
        v = eval("x" + key)  # noqa: S307  (the parametrized keys)
        g = T.autograd.grad(v, x, grad_outputs=x, create_graph=True)[0]
        return v, node_name(v.grad_fn), g, g.is_leaf, g is x

    same(program)


@pytest.mark.parametrize("inputs", [True, False])
def test_a_backward_through_copy_slices_frees_the_op_written_through_the_view(inputs):
    # torch's CopySlices owns the node of the op written through the view (sigmoid_'s,
    # which saves its result) and frees it with itself: a backward that stops at the base
    # (backward(inputs=[base]) runs its CopySlices) leaves a later one through another view
    # of the base nothing to run (fuzzer seed 22015648)
    def program(T):
        x = T.tensor([[-1.6, -1.84, 0.55], [-1.35, 0.61, 1.45]], requires_grad=True)
        base = x - 1
        flat = base.reshape(-1)
        flat.sigmoid_()
        head, part = flat[:1], flat.split(1, 0)[0]
        (head * head).sum().backward(**({"inputs": [base]} if inputs else {}))
        return attempt(T.autograd.grad, (part * part).sum(), [x])

    same(program)


@pytest.mark.parametrize("write", ["add_", "mark_dirty"])
def test_a_copy_slices_that_ran_refuses_a_second_run_whatever_its_op_saved(write):
    # torch's CopySlices drops the node it holds when it runs without retain_graph, even
    # one that saved nothing (add_'s, a custom Function's): a later backward through it, or
    # through a view of its base, raises. backward(inputs=[base]) runs the base's CopySlices
    # and nothing past it (fuzzer seeds 22065550, 22068087, 22071781)
    def program(T):
        class Double(T.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                ctx.mark_dirty(a)
                return a.mul_(2)

            @staticmethod
            def backward(ctx, g):
                return g * 2

        x = T.tensor([[-1.19, 1.55, -1.89], [-0.77, 1.33, -1.09]], requires_grad=True)
        base = x / 2
        view = base.t()
        view.add_(view) if write == "add_" else Double.apply(view)
        (view * view).sum().backward(inputs=[base])
        return attempt(T.autograd.grad, (view * view).sum(), [x]), attempt(
            T.autograd.grad, base.sum(), [x])

    same(program)


@pytest.mark.parametrize("base", ["row_major", "transposed"])
def test_the_gradient_through_a_regenerated_view_is_a_view_of_its_storage(base):
    # torch's as_strided_backward adds the gradient into a storage of the base's memory and
    # returns a view of it with the base's layout: made in no_grad mode, so writing into it
    # in place with an operand that requires grad raises (fuzzer seed 22026870); a graph of
    # the gradient goes through that view's node
    def program(T):
        x = T.tensor([[-0.85, 0.43, -0.19, 1.54], [-1.05, -1.42, -0.92, 0.03],
                      [0.28, 1.39, 1.18, 1.66]], requires_grad=True)
        w = T.tensor([[0.62, 1.16, 1.72, -1.4]], requires_grad=True)
        a = x * 1 if base == "row_major" else x.t().clone().t()
        v = a.mT
        v.mul_(2)
        g = T.autograd.grad((v * v).sum(), [a], retain_graph=True)[0]
        shown = [g._is_view(), tuple(g._base.shape), g.stride(), g.grad_fn]
        gg = T.autograd.grad((v * v).sum(), [a], create_graph=True)[0]
        return shown, g, attempt(g.index_add_, 0, T.tensor([0]), w), gg, node_name(gg.grad_fn), \
            T.autograd.grad(gg.sum(), [x])

    same(program)


def test_a_vector_times_a_matrix_is_no_view():
    # torch's matmul of a vector and a matrix squeezes its product in place (squeeze_): no
    # view, so detach_ and in-place writes treat it as any result (fuzzer seed 22027173)
    def program(T):
        x = T.tensor([[-1.55, 0.61, 0.15], [-1.63, -1.67, 1.98]], requires_grad=True)
        w = T.tensor([[0.34, -0.69], [1.74, 0.97], [0.72, 1.72]], requires_grad=True)
        v = x.unbind(1)[1]
        out = T.nn.functional.linear(v, w)
        kept = T.matmul(v, w.t())
        r = [out._is_view(), kept._is_view(), node_name(kept.grad_fn), attempt(out.detach_)]
        kept.add_(1)
        kept.sum().backward()
        return r, w.grad

    same(program)


def test_an_indexed_write_into_an_expanded_tensor_of_nans_writes():
    # (fuzzer seed 22035966) the write into memory that several elements share was built as
    # a shift of the tensor by constants, which cannot move a nan or an inf
    def program(T):
        x = T.tensor([[-1.37, -1.34, -1.21]], requires_grad=True)
        base = x.var(0, keepdim=True) - 1  # (nan: one row)
        view = base.expand(3, 3)
        view[[0, 1]] = 0.85
        other = (x * 0 + float("inf")).expand(2, 3)
        other[[1]] = T.tensor([1.0, 2.0, 3.0])
        return base, other

    same(program)


def test_an_indexed_write_into_an_expanded_tensor_writes_the_value_exactly():
    # the copies of a place hold one value, which the base takes once: their mean in
    # float32 (and a shift of the old values by constants) missed it by an ulp
    def program(T):
        x = T.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
        base = x * 1
        base.expand(3, 3)[[0, 1]] = 0.85
        return [repr(v) for v in base.tolist()[0]]  # (compared exactly)

    same(program)


@pytest.mark.parametrize("write", [
    "clamp_(min=v)", "clamp_(None, v)", "clip_(max=v)", "add_(other=v)", "lerp_(end=v, weight=0.5)",
    "lerp_(y, v)", "addcmul_(y, v)", "addcdiv_(tensor1=y, tensor2=v)", "pow_(exponent=v)",
    "float_power_(v)", "addr_(v[0], y[0])", "__ifloordiv__(v)", "__imod__(v)",
    # what torch reads unchecked: a matrix product's factors, index_fill_'s value
    "addmm_(v.t(), y[:1])", "index_fill_(0, i, v[0, 0])", "masked_scatter_(y > 0, v)"])
def test_an_input_partly_overlapping_the_written_tensor_is_refused_wherever_passed(write):
    # torch's TensorIterator checks every input, a keyword one or the second, against
    # what it writes (fuzzer seed 22071865: x.clamp_(min=x[3:4]))
    def program(T):
        b = T.tensor([[1.16, 0.3], [-0.01, 0.2], [-0.56, 0.7], [1.01, 0.4]], dtype=T.float64)
        x, v = b[:2], b[1:3]
        y, i = T.tensor([[0.5, 2.0], [1.5, 0.25]], dtype=T.float64), T.tensor([0])
        names = {"x": x, "v": v, "y": y, "i": i}
        return attempt(lambda: eval("x." + write, {}, names)), b

    same(program)


def test_an_augmented_assignment_refuses_a_partly_overlapping_operand():
    def program(T):
        def write(op):
            b = T.arange(1, 9)
            v = b[0:4]
            return attempt(lambda: op(v, b[1:5])), b

        return [write(op) for op in (operator.ifloordiv, operator.imod, operator.iand,
                                     operator.ixor, operator.ilshift, operator.irshift)]

    same(program)


def test_as_strided_of_a_detached_view_reads_the_memory_it_views():
    # torch's as_strided reads the storage: a detached slice's (or its .data's) reaches
    # the places before and after its own elements, and its gradient is its elements'
    def program(T):
        b = T.arange(12.0)
        reads = [b[2:8].detach().as_strided((2, 2), (1, 2), 3), b[2:8].detach().as_strided(
            (2, 2), (1, 2)), b[2:4].detach().as_strided((3,), (1,), 0),
            b[1::3].detach().as_strided((3,), (2,), 1), b[2:8].data.as_strided((2,), (1,), 9),
            b.view(3, 4)[1:, 1:3].detach().as_strided((2,), (5,), 5),
            b[:1].expand(4).detach().as_strided((2,), (1,), 0),
            b[2:4].detach()[:1].as_strided((3,), (1,), 9)]  # (a view of one: the same memory)
        refused = [attempt(lambda: b[2:4].detach().as_strided((3,), (1,), 10)),
                   attempt(lambda: b[2:4].detach()[:1].as_strided((30,), (1,), 0))]
        v = (b * 1)[2:8].detach().requires_grad_()
        y = v.as_strided((2, 2), (1, 2), 3)
        again = y.as_strided((2,), (2,), 3)  # (of the same memory: places 3, 5)
        g, = T.autograd.grad((y * y).sum(), [v], create_graph=True)
        gg, = T.autograd.grad((g * g).sum(), [v])
        w = b[2:8].detach()
        w.as_strided((2,), (1,), 10).mul_(10)  # (a write lands in the memory, as torch's)
        return reads, refused, y, again, g.detach(), gg, b, w

    same(program)


_ON_VIEW = {
    "slice mul_": lambda b, w: b[1:].mul_(2),
    "column add_": lambda b, w: b[:, 1].add_(w[:2]),
    "row mul_ by w": lambda b, w: b[0].mul_(w),
    "row copy_": lambda b, w: b[0].copy_(w),
    "row setitem": lambda b, w: b.__setitem__(0, w),
    "t row zero_": lambda b, w: b.t()[0].zero_(),
    "clamp_": lambda b, w: b[:, 1:].clamp_(min=2.0),
    "relu_": lambda b, w: b[1].relu_(),
    "view add_": lambda b, w: b.view(-1).add_(1),
    "exp_": lambda b, w: b[0].exp_(),
    "addcmul_": lambda b, w: b[0].addcmul_(w, w),
    "fill_": lambda b, w: b[0].fill_(3.0),
    "masked_fill_": lambda b, w: b[0].masked_fill_(w > 1, 0.0),
    "index_add_": lambda b, w: b[0].index_add_(0, torch_like(b).tensor([0, 2]), w[:2]),
    "sub_ alpha": lambda b, w: b[0].sub_(w, alpha=2),
    "div_": lambda b, w: b[0].div_(2),
    "view of view": lambda b, w: b[1:][0].mul_(w),
    "diagonal": lambda b, w: b[:, :2].diagonal().mul_(w[:2]),
    "sigmoid_ then read": lambda b, w: b[0].sigmoid_().mul(1),
    "unsqueeze setitem": lambda b, w: b[0].unsqueeze(0).__setitem__(Ellipsis, w),
    "row += w": lambda b, w: b.__setitem__(0, b[0].__iadd__(w)),
    "slice *= 2": lambda b, w: b.__setitem__((slice(None), slice(1, None)),
                                             b[:, 1:].__imul__(2)),
}


def torch_like(t):
    import sys

    return sys.modules[type(t).__module__.split(".")[0]]


@pytest.mark.parametrize("case", sorted(_ON_VIEW))
def test_copy_slices_owns_the_in_place_op_on_a_view_as_torchs(case):
    """The base's CopySlices after an in-place op on its view has torch's edges: the base's
    old history, then the op's edges but its first (the view's own history); values and
    first and second order gradients are unchanged."""
    def f(torch):
        x = torch.arange(6.0, requires_grad=True).reshape(2, 3) * 1
        w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = x.clone()
        _ON_VIEW[case](b, w)
        loss = (b * b).sum()
        gx, gw = torch.autograd.grad(loss, (x, w), create_graph=True, allow_unused=True,
                                     materialize_grads=True)
        second = torch.autograd.grad((gx.sum() + gw.sum()), w, allow_unused=True)
        return b, graph(b, 4), gx, graph(gx, 1), gw.detach(), second

    same(f)


def test_copy_slices_runs_once_without_retain_graph_and_again_with_it():
    def f(torch):
        x = torch.ones(2, 3, requires_grad=True)
        w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = x.clone()
        b[0].mul_(w)
        b.sum().backward(retain_graph=True)
        b.sum().backward()
        again = attempt(b.sum().backward)
        return x.grad, w.grad, again

    same(f)


def test_copy_slices_owns_a_custom_functions_write_of_a_view():
    """A custom Function writing its input, a view, in place (mark_dirty): the base's
    CopySlices has torch's edges (the base's old history, then the Function's others) and
    runs the Function's backward on the gradient's part at the view."""
    from op_cases import _custom_write_on_view

    def f(torch):
        x = torch.arange(6.0, requires_grad=True)
        w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = _custom_write_on_view(torch, x.reshape(2, 3), w)
        (b * b).sum().backward()
        return b, graph(b, 3), x.grad, w.grad

    same(f)


def test_masked_scatters_source_gradient_is_no_view():
    """torch's masked_scatter_backward is an op of its own: the source's gradient it gives is
    no view, so an in-place write into it with an operand that requires grad is allowed (a
    view made in no_grad would refuse it)."""
    def f(torch):
        x = torch.tensor([[1.66, -1.91], [1.18, -1.64]], requires_grad=True)
        source = torch.tensor([[-1.2, -0.76], [0.75, -1.91]], requires_grad=True)
        other = torch.ones(2, 2, requires_grad=True)
        out = x.masked_scatter(x < 0, source)
        g = torch.autograd.grad(out.sum(), [source], retain_graph=True)[0]
        seen = [g._is_view(), g.clone()]
        g.index_copy_(1, torch.tensor([1, 0]), other)
        return seen + [g.grad_fn.name(), g]
    same(f)


@pytest.mark.parametrize("write", ["mul_", "clamp_", "add_"])
def test_a_view_of_a_detached_tensor_made_to_require_grad_refuses_writes(write):
    """requires_grad_ on a view of a detached tensor makes it a leaf view that requires
    grad: torch refuses it an in-place write in grad mode (a view of a leaf), and allows
    it under no_grad. (fuzzer seed 22619148)"""
    def f(torch):
        x = torch.tensor([0.96, 0.76, -1.5, 1.31], requires_grad=True)
        v = x.detach()[2:].requires_grad_()
        args = {"mul_": (2.0,), "clamp_": (v,), "add_": (torch.ones(2),)}[write]
        refused = attempt(lambda: getattr(v, write)(*args))
        with torch.no_grad():
            getattr(v, write)(*args)
        return refused, v.is_leaf, v, x
    same(f)


# ---- `.data =` on a view or its base: other memory, the same autograd identity ----------------

def _given_new_memory(torch, case):
    """A view and its base, one of them given other memory by `.data =`."""
    x = torch.arange(1.0, 9.0).reshape(1, 2, 4).requires_grad_()
    base = x * 1
    if case == "a narrowed view":
        view = base.narrow(2, 1, 1)
        view.data = view.data * 0.5 + 10
    elif case == "a view larger than its base":
        view = base[:, :1]
        view.data = torch.ones(5, 5) * 3
    elif case == "the base of an expanded view":  # (the view keeps the old memory)
        base = x[:, :1] * 1
        view = base.expand(3, 2, 4)
        base.data = base.data + 5
    else:  # "a stale expanded view": its base written, then the view given more memory
        base = x[:, :1] * 1
        view = base.expand(3, 2, 4)
        base.mul_(2)
        view.data = torch.ones(3, 2, 4) * 2
    return x, base, view


@pytest.mark.parametrize("case", ["a narrowed view", "a view larger than its base",
                                  "the base of an expanded view", "a stale expanded view"])
@pytest.mark.parametrize("write", ["view", "base"])
def test_a_view_or_base_given_new_memory_by_data(case, write):
    """torch's `.data =` swaps the memory only: the view stays a view of its base, shares
    its version counter, and an in-place write through either changes that one's memory
    alone, while the base takes the view's write into its history at the view's layout."""
    def f(torch):
        x, base, view = _given_new_memory(torch, case)
        seen = [view._base is base, view._is_view(), base._version, view._version]
        if write == "base":
            base.mul_(3)
        elif case == "the base of an expanded view":  # (an expanded view is not writable)
            view[0, 0].mul_(2)
        else:
            view.add_(view * 1)
        seen += [base._version, view._version, base, view, node_name(view.grad_fn),
                 node_name(base.grad_fn)]
        seen.append(attempt(lambda: torch.autograd.grad((base.sum() + view.sum() * 3), x)))
        return seen

    same(f)


@pytest.mark.parametrize("case", ["a narrowed view", "a stale expanded view"])
def test_a_view_given_new_memory_by_data_differentiates_twice(case):
    """The gradient of a gradient through the history a view given other memory takes from
    its base, whose layout may reach past the base's memory: zeros read there, as torch's
    (distgrad refused it as out of the storage's bounds; program fuzzer, seed 100035)."""
    def f(torch):
        x, base, view = _given_new_memory(torch, case)
        g, = torch.autograd.grad((view * view).sum() + base.sum(), x, create_graph=True)
        return g, attempt(lambda: torch.autograd.grad((g * g).sum(), x))

    same(f)


def test_a_detached_handle_shares_the_version_counter_kept_by_data():
    def f(torch):
        x = torch.ones(2)
        y = x.detach()
        x.data = torch.zeros(3)
        x.add_(1)
        y.mul_(2)
        return x._version, y._version, x, y

    same(f)


@pytest.mark.parametrize("read", ["grad_fn", "a custom Function returning it"])
def test_a_stale_view_read_under_inference_mode_gets_its_history_anew(read):
    """torch makes a stale view's AsStridedBackward0 itself, under inference_mode too; the
    view then still leads to its base's history."""
    def f(torch):
        class Keep(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                ctx.mark_non_differentiable(a)
                return a

            @staticmethod
            def backward(ctx, g):
                return g

        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        base = x * 1
        view = base[1:]
        base.mul_(2)
        with torch.inference_mode():
            seen = node_name(view.grad_fn) if read == "grad_fn" else Keep.apply(view)
        return seen, node_name(view.grad_fn), torch.autograd.grad((view * view).sum(), x)

    same(f)


def test_write_through_an_unfolded_view_sends_each_place_its_gradient_once():
    # torch's CopySlices copies the view's gradient into the base's: a place two of the
    # unfolded view's elements share takes it once (copied), not their sum
    def program(T):
        x, y = _leaves(T)
        a = x.t() * 1
        a.unfold(1, 2, 1).mul_(2)
        (a * y.t()).sum().backward()
        return a, x.grad, y.grad

    same(program)


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_write_through_a_view_of_a_transposed_result_gives_the_base_its_strides(create_graph):
    """torch's CopySlices lays the base's gradient out as the base (empty_strided of its
    layout): a transposed result written in place through a row passes a transposed
    gradient on, which view(-1) then refuses."""
    def f(torch):
        x = torch.tensor([[-1.5, -0.75, -1.0], [-1.0, 1.0, 1.25]], requires_grad=True)
        u = x.mT * 2
        written = u * 1
        written[0].mul_(2)
        g = torch.autograd.grad(written.sin().sum(), u, create_graph=create_graph)[0]
        return g, g.stride(), attempt(g.view, -1)

    same(f)


def test_a_gradient_through_as_strided_counts_torchs_write_into_its_storage():
    # torch's as_strided_backward copies the gradient into zeros and returns a view of
    # them, at version 1; so does a stale view's history made anew (AsStridedBackward0)
    def program(T):
        x = T.arange(6.0).requires_grad_()
        v = x.view(2, 3)
        x.detach()[:1].zero_()
        g_stale, = T.autograd.grad((v * v).sum(), x)
        g_strided, = T.autograd.grad(x.as_strided((2, 2), (1, 2)).sum(), x)
        return g_stale._version, g_stale, g_strided._version, g_strided
    same(program)
