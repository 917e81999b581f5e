"""autograd.forward_ad (dual tensors) against torch's: tangents of ops, views, in-place
writes, modules, custom Functions and gradcheck's forward mode, with torch's errors."""
from __future__ import annotations

import numpy as np
import pytest

from test_result_layout import local_workers  # noqa: F401  (the fixture)
from torch_twin import attempt, same

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).tolist()
V = RNG.standard_normal((3, 4)).tolist()
W = RNG.standard_normal((4, 2)).tolist()


def _t(torch, values, **kw):
    return torch.tensor(values, dtype=torch.float64, **kw)


OPS = {
    "polynomial": lambda T, x: x ** 3 - 2 * x * x + 1,
    "transcendental": lambda T, x: x.sin().exp() + x.tanh() * x.sigmoid(),
    "matmul": lambda T, x: x @ _t(T, W),
    "reductions": lambda T, x: (x.sum(0), x.mean(), x.norm(), x.logsumexp(1)),
    "softmax_and_norm": lambda T, x: (T.softmax(x, 1), T.nn.functional.layer_norm(x, (4,))),
    "views": lambda T, x: (x.t(), x[1:, ::2], x.reshape(4, 3), x.unsqueeze(0).expand(2, 3, 4)),
    "max_with_indices": lambda T, x: x.max(1),
    "cat_and_where": lambda T, x: T.cat([x, x.abs()]).where(T.cat([x, x]) > 0, 0.0),
    "loss": lambda T, x: T.nn.functional.mse_loss(x, _t(T, V) * 0.5),
    # (its VJP's log|g| has no derivative at g = 0: torch's own formula, -inf and wide
    # ranges too)
    "logcumsumexp": lambda T, x: (x.logcumsumexp(1), x.logcumsumexp(0),
                                  (x * 300).logcumsumexp(1), x.logcumsumexp(-1),
                                  x.masked_fill(x < 0, float("-inf")).logcumsumexp(1)),
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_tangents_of_ops_are_torchs(op):
    def f(torch):
        fwAD = torch.autograd.forward_ad
        with fwAD.dual_level():
            out = OPS[op](torch, fwAD.make_dual(_t(torch, A), _t(torch, V)))
            outs = out if isinstance(out, tuple) else (out,)
            return [(fwAD.unpack_dual(o).primal, fwAD.unpack_dual(o).tangent) for o in outs]

    same(f)


def test_a_tangent_summed_from_two_uses_of_an_input_has_no_write_counted():
    """torch's tangent formulas make new tensors (mul's self_t * other + other_t * self):
    a tangent whose input is used twice is at version 0, as torch.func.jvp's is."""
    def f(torch):
        fwAD = torch.autograd.forward_ad
        with fwAD.dual_level():
            d = fwAD.make_dual(_t(torch, A), _t(torch, V))
            tangents = [fwAD.unpack_dual(y).tangent for y in (d * d, d * d.sin(), d + d)]
        _, t = torch.func.jvp(lambda u: u * u.exp(), (_t(torch, A),), (_t(torch, V),))
        return [(t, t._version) for t in tangents + [t]]

    same(f)


def test_forward_over_reverse_through_logcumsumexp_is_torchs():
    def f(torch):
        x = _t(torch, A, requires_grad=True)
        hvp = torch.func.jvp(torch.func.grad(lambda v: v.logcumsumexp(1).sin().sum()),
                             (x,), (_t(torch, V),))[1]
        # (values only: a tangent's grad_fn names differ, see forward_ad.py's doc)
        return hvp.detach(), torch.func.jacfwd(lambda v: v.logcumsumexp(0))(x[:, 0]).detach()

    same(f)


@pytest.mark.parametrize("write", ["u.clone().mul_(u)", "u.clone().mul_(u).exp()",
                                   "(u * 2).add_(u.sin())"])
def test_a_tangent_written_in_place_keeps_its_graph(write):
    """An in-place op on a tensor with a tangent writes the new tangent into the old one;
    when the new one depends on a primal that requires grad, the write is recorded, so
    the tangent stays differentiable (forward-over-reverse through an in-place op)."""
    def f(torch):
        fw = torch.autograd.forward_ad
        x = _t(torch, A[0], requires_grad=True)
        with fw.dual_level():
            u = fw.make_dual(x, _t(torch, V[0]))
            tangent = fw.unpack_dual(eval(write)).tangent
        return tangent.detach(), tangent.requires_grad, \
            torch.autograd.grad(tangent.pow(2).sum(), x)[0]

    same(f)


def test_make_and_unpack_dual_as_torch():
    def f(torch):
        fwAD = torch.autograd.forward_ad
        p, t = _t(torch, A), _t(torch, V)
        no_level = attempt(fwAD.make_dual, p, t)
        with fwAD.dual_level() as level:
            nested = attempt(fwAD.enter_dual_level)
            d = fwAD.make_dual(p, t)
            kept = fwAD.unpack_dual(d).tangent is t  # laid out as the primal: kept as it is
            node = type(fwAD.make_dual(p.requires_grad_(), t).grad_fn).__name__
            p.requires_grad_(False)
            moved = fwAD.make_dual(p, _t(torch, V).t().contiguous().t())
            copied = fwAD.unpack_dual(moved).tangent
            view = d[1:]
            view_of_tangent = fwAD.unpack_dual(view).tangent._base is t
            errors = (attempt(fwAD.make_dual, p, torch.ones(4, dtype=torch.float64)),
                      attempt(fwAD.make_dual, torch.ones(2, dtype=torch.int64), t[0, :2]),
                      attempt(fwAD.make_dual, p, torch.ones(3, 4, dtype=torch.int64)))
            plain = fwAD.unpack_dual(p)
            detached = fwAD.unpack_dual(d.detach()).tangent
            y = d * 2
        after = fwAD.unpack_dual(y)
        return (no_level, level, nested, kept, node, copied, copied.stride(), view_of_tangent, errors,
                plain.tangent, detached, after.tangent, type(after).__name__, after._fields)

    same(f)


def test_an_unpacked_primal_that_requires_grad_has_torchs_identity_node():
    # (torch's _fw_primal makes its node by hand: torch::autograd::Identity, not an alias's;
    # torch.func.jvp's output is its level's alias still)
    def f(torch):
        fwAD = torch.autograd.forward_ad
        x = _t(torch, A).requires_grad_()
        output = torch.func.jvp(lambda v: v * 2, (x,), (_t(torch, V),))[0]
        with fwAD.dual_level():
            primal = fwAD.unpack_dual(fwAD.make_dual(x * 2, _t(torch, V))).primal
            plain = fwAD.unpack_dual(x * 3).primal
            return (primal.grad_fn.name(), plain.grad_fn.name(), primal._is_view(),
                    output.grad_fn.name(), torch.autograd.grad((primal * plain).sum(), x))

    same(f)


def test_in_place_writes_carry_the_tangent():
    def f(torch):
        fwAD = torch.autograd.forward_ad
        p, t = _t(torch, A), _t(torch, V)
        with fwAD.dual_level():
            d = fwAD.make_dual(p, t)
            plain = torch.ones(3, 4, dtype=torch.float64)
            plain.mul_(d)  # a plain tensor written with a dual's values takes a tangent
            own = fwAD.make_dual(p.clone(), t.clone())
            tangent = fwAD.unpack_dual(own).tangent
            own.sin_()  # written into its own tangent
            view = own[0]
            view.add_(d[1] * d[1])  # through a view: the base's tangent sees it
            return (fwAD.unpack_dual(plain).tangent, fwAD.unpack_dual(own).tangent,
                    fwAD.unpack_dual(own).tangent is tangent, tangent)

    same(f)


def test_copy_of_a_dual_and_writes_through_views_of_a_plain_tensor_carry_the_tangent():
    def f(torch):
        fwAD = torch.autograd.forward_ad
        p, t = _t(torch, A), _t(torch, V)
        x = torch.ones(3, 4, dtype=torch.float64, requires_grad=True)
        with fwAD.dual_level():
            d = fwAD.make_dual(p, t)
            dual = fwAD.make_dual(torch.zeros_like(p), torch.zeros_like(t))
            dual.copy_(d)  # into a dual: its tangent is the source's
            row = dual[1]
            row.copy_(d[0] * 2)
            plain = torch.zeros_like(p)
            plain.copy_(d)  # a plain tensor takes the source's tangent
            part = torch.zeros_like(p)
            column = part.t()
            column[1:].add_(d[0, :3])  # part takes zeros, written through the view
            h = x * 2  # (in a graph: the write goes through CopySlices)
            h[2].copy_(d[1])
            primal = fwAD.unpack_dual(d * 3).primal  # (a view with no tangent of its base's)
            return (fwAD.unpack_dual(dual).tangent, fwAD.unpack_dual(row).tangent,
                    fwAD.unpack_dual(plain).tangent, fwAD.unpack_dual(part).tangent,
                    fwAD.unpack_dual(column).tangent, fwAD.unpack_dual(h).tangent.detach(),
                    fwAD.unpack_dual(h[2]).tangent.detach(), fwAD.unpack_dual(primal).tangent,
                    fwAD.unpack_dual(primal[0]).tangent)

    same(f)


def test_a_tangent_summed_from_two_operands_is_unwritten():
    """`d * d` and `d * d.sin()` reach d's tangent by two paths: torch's formula sums them
    out of place, so the output's tangent (torch.func.jvp's too) has version 0."""
    def f(torch):
        fwAD = torch.autograd.forward_ad
        p, t = _t(torch, A), _t(torch, V)
        with fwAD.dual_level():
            d = fwAD.make_dual(p, t)
            square = fwAD.unpack_dual(d * d).tangent
            versions = [square._version, fwAD.unpack_dual(d * d.sin()).tangent._version]
        jvp = torch.func.jvp(lambda u: u * u.sin(), (p,), (t,))[1]
        versions.append(jvp._version)
        jvp.zero_()
        return square, versions, jvp._version

    same(f)


def test_a_clones_tangent_is_its_own():
    def f(torch):
        fwAD = torch.autograd.forward_ad
        p, t = _t(torch, A), _t(torch, V)
        with fwAD.dual_level():
            d = fwAD.make_dual(p, t)
            c = d.clone()
            torch.nn.functional.relu(c, inplace=True)  # writes c's tangent, not d's
            c.diagonal().zero_()
            e = d.clone(memory_format=torch.contiguous_format)
            e[0].mul_(3)
            return (fwAD.unpack_dual(c).tangent, fwAD.unpack_dual(e).tangent,
                    fwAD.unpack_dual(d).tangent, t)

    same(f)


def test_an_augmented_assignment_into_a_slice_keeps_the_tangent():
    def f(torch):
        fwAD = torch.autograd.forward_ad
        p, t = _t(torch, A), _t(torch, V)
        with fwAD.dual_level():
            d = fwAD.make_dual(p, t)
            s = d * 1
            s[:, :2] *= 0.5  # (the view, scaled, written back into itself)
            plain = torch.zeros(3, 4, dtype=torch.float64)
            plain[1:] += d[:2]
            plain[0, ::2] -= d[2, 1:3]
            return fwAD.unpack_dual(s).tangent, fwAD.unpack_dual(plain).tangent

    same(f)


def test_in_place_shape_methods_reshape_the_tangent_and_detach_drops_it():
    def f(torch):
        fwAD = torch.autograd.forward_ad
        p, t = _t(torch, A), _t(torch, V)
        with fwAD.dual_level():
            d = fwAD.make_dual(p, t)
            g = d.clone()
            g.t_()
            g[0].neg_()  # (a row of the transposed tangent)
            u = d * 2
            u.unsqueeze_(0).transpose_(0, 2)
            u.squeeze_(1)
            gone = d.clone()
            gone.detach_()
            return (fwAD.unpack_dual(g).tangent, fwAD.unpack_dual(u).tangent,
                    fwAD.unpack_dual(gone).tangent)

    same(f)


def test_checkpoint_inference_mode_and_a_dual_of_a_dual():
    def f(torch):
        fwAD = torch.autograd.forward_ad
        p, t = _t(torch, A), _t(torch, V)
        with fwAD.dual_level():
            d = fwAD.make_dual(p, t)
            # (the tangent's own computation saves nothing a checkpoint would recompute)
            c = torch.utils.checkpoint.checkpoint(lambda a: a.sin() * a, d, use_reentrant=False)
            with torch.inference_mode():
                inferred = d * 3
            return (fwAD.unpack_dual(c).tangent, fwAD.unpack_dual(inferred).tangent,
                    attempt(fwAD.make_dual, d, t))

    same(f)


def test_ops_of_inference_tensors_carry_a_tangent_only_past_torchs_autograd_kernel():
    # an op whose operands are all inference tensors skips the kernel that computes
    # tangents; a number wrapped as an ordinary tensor (d * 2), an ordinary operand, or a
    # copy into an ordinary tensor (clone) reaches it; make_dual in inference_mode gives none
    def f(torch):
        fwAD = torch.autograd.forward_ad
        with torch.inference_mode():
            v, w = _t(torch, A).exp(), _t(torch, V)
        ordinary = _t(torch, A) * 2
        with fwAD.dual_level():
            d = fwAD.make_dual(v, torch.ones(3, 4, dtype=torch.float64))
            e = fwAD.make_dual(ordinary, torch.ones(3, 4, dtype=torch.float64))
            outs = [d, d.sin(), d + d, d * 2, d.pow(2), d.clamp(0), d[0], d.clone(),
                    d * ordinary, e * w, fwAD.make_dual(v, w)]
            with torch.inference_mode():
                outs += [d.sin(), fwAD.make_dual(w, w)]
            return [(fwAD.unpack_dual(o).tangent, o.is_inference()) for o in outs]

    same(f)


def test_a_module_with_dual_parameters_and_backward_through_a_dual():
    def f(torch):
        fwAD = torch.autograd.forward_ad
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2).double()
        with torch.no_grad():
            model.weight.copy_(_t(torch, W).t())
            model.bias.fill_(0.5)
        tangents = {n: torch.ones_like(p) * 0.1 for n, p in model.named_parameters()}
        x = _t(torch, A)
        with fwAD.dual_level():
            dual = {n: fwAD.make_dual(p, tangents[n]) for n, p in model.named_parameters()}
            out = torch.func.functional_call(model, dual, (x,))
            # (.detach(): torch's tangent here requires grad through a zero term; see the
            # module doc of distgrad.autograd.forward_ad)
            jvp = fwAD.unpack_dual(out).tangent.detach()
            out.sum().backward()  # the dual is a differentiable alias of the parameter
        return jvp, out.detach(), model.weight.grad, model.bias.grad

    same(f)


def _exp_function(torch, with_jvp=True):
    class Exp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            result = torch.exp(x)
            ctx.result = result
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, g):
            return g * ctx.saved_tensors[0]

    if with_jvp:
        Exp.jvp = staticmethod(lambda ctx, g: g * ctx.result)
    return Exp


def test_custom_function_jvp_and_gradcheck_forward_mode():
    def f(torch):
        fwAD = torch.autograd.forward_ad
        x = _t(torch, A, requires_grad=True)
        with fwAD.dual_level():
            jvp = fwAD.unpack_dual(_exp_function(torch).apply(fwAD.make_dual(x, _t(torch, V)))
                                   ).tangent
            missing = attempt(lambda: _exp_function(torch, False).apply(
                fwAD.make_dual(x, _t(torch, V))))
        ok = torch.autograd.gradcheck(_exp_function(torch).apply, (x,), check_forward_ad=True,
                                      check_backward_ad=False, check_undefined_grad=False)
        both = torch.autograd.gradcheck(lambda a: (a.sin() * a).sum(1), (x,),
                                        check_forward_ad=True)
        Wrong = _exp_function(torch)
        Wrong.jvp = staticmethod(lambda ctx, g: 2 * g * ctx.result)
        wrong = attempt(torch.autograd.gradcheck, Wrong.apply, (x[0, :2].detach()
                                                                .requires_grad_(),),
                        check_forward_ad=True, check_backward_ad=False,
                        check_undefined_grad=False)
        return jvp, missing, ok, both, wrong

    same(f)


def test_tangents_on_a_worker(local_workers):
    import torch

    import distgrad
    import distgrad.distributed  # noqa: F401

    def run(T, device):
        fwAD = T.autograd.forward_ad
        with fwAD.dual_level():
            d = fwAD.make_dual(_t(T, A).to(device), _t(T, V).to(device))
            out = (d.sin() @ _t(T, W).to(device)).relu()[1:]
            return fwAD.unpack_dual(out).tangent.cpu().numpy()

    np.testing.assert_allclose(run(distgrad, "worker:1"), run(torch, "cpu"), rtol=1e-12)
    with distgrad.autograd.forward_ad.dual_level():
        fwAD = distgrad.autograd.forward_ad
        d = fwAD.make_dual(_t(distgrad, A), _t(distgrad, V))
        parts = fwAD.unpack_dual(d.unbind(0)[1]).tangent  # a multi-output view
    np.testing.assert_allclose(parts.numpy(), np.array(V[1]))


PLACEMENTS = {"rows": lambda dist, t: dist.shard(t, 0), "columns": lambda dist, t: dist.shard(t, 1),
              "replicated": lambda dist, t: dist.replicate(t)}


def _whole(t):
    return (t.full_tensor() if getattr(t, "placements", None) else t).numpy()


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
@pytest.mark.parametrize("op", sorted(OPS))
def test_tangents_of_ops_on_placed_duals_are_torchs(local_workers, op, placement):  # noqa: F811
    # A sharded or replicated dual (its kind runs each op on its parts) gets its outputs'
    # tangents as a plain one does (fuzzer seed 22104534: a jvp of a sharded tensor raised).
    import warnings

    import distgrad
    import distgrad.distributed as dist
    import torch

    place = PLACEMENTS[placement]
    tangents = []
    for T in (torch, distgrad):
        fwAD = T.autograd.forward_ad
        x, v = _t(T, A), _t(T, V)
        if T is distgrad:
            x, v = place(dist, x), place(dist, v)
        with fwAD.dual_level(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (ops no sharding rule covers gather: a warning)
            out = OPS[op](T, fwAD.make_dual(x, v))
            outs = out if isinstance(out, tuple) else (out,)
            tangents.append([None if t is None else _whole(t) for t in
                             (fwAD.unpack_dual(o).tangent for o in outs)])
    assert [t is None for t in tangents[1]] == [t is None for t in tangents[0]]
    for got, want in zip(tangents[1], tangents[0]):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_a_plain_dual_meets_a_sharded_operand_and_func_jvp_takes_sharded_inputs(
        local_workers):  # noqa: F811
    import distgrad
    import distgrad.distributed as dist
    import torch

    def f(T, x, s):
        return ((x + s) * s.sin()).sum(0)

    outs = []
    for T in (torch, distgrad):
        x, s, v = _t(T, A), _t(T, V) * 0.5, _t(T, V)
        if T is distgrad:
            s = dist.shard(s, 0)
        fwAD = T.autograd.forward_ad
        with fwAD.dual_level():
            plain = fwAD.unpack_dual(f(T, fwAD.make_dual(x, v), s)).tangent
        placed = dist.shard(x, 1) if T is distgrad else x
        value, tangent = T.func.jvp(lambda u: f(T, u, u.cos()), (placed,), (v,) if T is torch
                                    else (dist.shard(v, 1),))
        outs.append([_whole(plain), _whole(value), _whole(tangent)])
    for got, want in zip(*outs[::-1]):
        np.testing.assert_allclose(got, want, rtol=1e-10)



def test_forward_over_reverse_and_a_duals_repr():
    """A backward run inside a level: the gradients' tangents are Hessian-vector products
    (saved outputs, as exp's and softmax's, carry their tangents too)."""
    def f(torch):
        fwAD = torch.autograd.forward_ad
        x = _t(torch, A[0], requires_grad=True)
        v = _t(torch, V[0])
        out = []
        with fwAD.dual_level():
            xd = fwAD.make_dual(x, v)
            for fn in (lambda a: (a.sin() * a).sum(), lambda a: a.exp().pow(2).sum(),
                       lambda a: (torch.softmax(a, 0) * a).sum()):
                g, = torch.autograd.grad(fn(xd), xd, create_graph=True)
                out.append((g, fwAD.unpack_dual(g).tangent.detach()))
            shown = repr(fwAD.make_dual(x.detach(), v) * 2)
        checks = [torch.autograd.gradgradcheck(fn, (x,), check_fwd_over_rev=True)
                  for fn in (lambda a: a.exp() * a, lambda a: torch.softmax(a, 0))]
        return out, shown, checks

    same(f)


def test_the_extending_torch_func_tutorials_functions():
    """Functions written for torch.func: a forward that reads numpy (its inputs need no
    grad under a transform, as torch's unwrapped ones), a jvp reading what setup_context
    saved for forward, and func.jvp in forward mode (the Function's own jvp: its backward
    reads nothing saved, so the double-vjp trick could not have run it)."""
    def f(torch):
        class NumpyExp(torch.autograd.Function):
            @staticmethod
            def forward(x):
                return torch.tensor(np.exp(x.numpy()), dtype=x.dtype)

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_forward(output)
                ctx.save_for_backward(output)

            @staticmethod
            def backward(ctx, g):
                return g * ctx.saved_tensors[0]

            @staticmethod
            def jvp(ctx, x_t):
                result, = ctx.saved_tensors
                return x_t * result

        class OnlyForward(NumpyExp):
            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_forward(output)

            @staticmethod
            def backward(ctx, g):
                result, = ctx.saved_tensors  # nothing saved for backward
                return g * result

        x, v = _t(torch, A[0]), _t(torch, V[0])
        grad = torch.func.grad(lambda a: NumpyExp.apply(a).sum())(x)
        primal, tangent = torch.func.jvp(OnlyForward.apply, (x,), (v,))
        outside = attempt(lambda: NumpyExp.apply(x.clone().requires_grad_()))
        return grad, primal, tangent, outside

    same(f)


@pytest.mark.parametrize("op", ["exp", "tanh", "sigmoid", "sqrt"])
def test_a_write_to_a_result_its_tangent_read_is_seen_by_a_backward_through_it(op):
    """torch's tangent formulas read the op's result (exp's t * result): written in place
    before a backward through the tangent, it raises there, as a saved tensor does."""
    def f(T):
        fwAD = T.autograd.forward_ad
        x = T.tensor([1.0, 2.0], requires_grad=True)
        t = T.tensor([1.0, 0.5], requires_grad=True)
        with fwAD.dual_level():
            y = getattr(fwAD.make_dual(x, t), op)()
            tangent = fwAD.unpack_dual(y).tangent
            y.mul_(2)
            return attempt(T.autograd.grad, tangent.sum(), (x, t))

    same(f)
