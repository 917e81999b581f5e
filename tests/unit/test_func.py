"""distgrad.func against torch.func: each scenario runs under both `torch` and `distgrad`
(see torch_twin) and compares values, shapes, requires_grad, the arguments left untouched,
and errors (type and message)."""
from __future__ import annotations

import numpy as np
import pytest

import distgrad

from torch_twin import attempt, same

RNG = np.random.default_rng(0)
X3 = RNG.standard_normal(3).tolist()
Y3 = RNG.standard_normal(3).tolist()
A23 = RNG.standard_normal((2, 3)).tolist()
B43 = RNG.standard_normal((4, 3)).tolist()


def t(torch, values, requires_grad=False):
    return torch.tensor(values, requires_grad=requires_grad)


def cubic(x):
    return (x ** 3).sum()


def mixed(x, y):
    return (x.sin() * y).sum() + (x * x * y.exp()).sum()


# ---- grad, grad_and_value -------------------------------------------------------------

def test_grad_leaves_its_inputs_alone_and_returns_plain_tensors():
    def f(torch):
        x = t(torch, X3)
        g = torch.func.grad(cubic)(x)
        return g, x.requires_grad, x.grad, x

    same(f)


def test_transforms_of_an_inference_tensor():
    """torch's transforms wrap an inference tensor (made under inference_mode) in an
    ordinary one they may differentiate. (fuzzer seed 22600245)"""
    def f(torch):
        with torch.inference_mode():
            x = t(torch, X3).exp()
        g = torch.func.grad(lambda u: (u * 2)[0].mul_(u[0]).sum())(x)
        return (g, g.is_inference(), torch.func.vjp(torch.sin, x)[1](torch.ones(3)),
                torch.func.jacrev(torch.sin)(x),
                torch.func.jvp(torch.sin, (x,), (torch.ones(3),))[1], x)

    same(f)


def test_an_inference_tensor_a_grad_transform_saves():
    """An inference tensor the function meets beside its differentiated input (an argument
    not in argnums, a captured one, a view of one) is lifted to the transform's level, so
    mul may save it; an outer graph recording the same op refuses it. (fuzzer seed
    22649476)"""
    def f(torch):
        with torch.inference_mode():
            inf = t(torch, X3).exp()
        w = t(torch, X3[:1])
        outer = t(torch, X3, requires_grad=True)
        tanh_mul = lambda u, v: (u * v).tanh().sum()  # noqa: E731
        return (torch.func.grad(tanh_mul, argnums=1)(inf[0], inf[0]),
                torch.func.grad(lambda v: tanh_mul(inf, v))(w),
                torch.func.jacrev(lambda v: v * inf[1:])(w),
                torch.func.grad(lambda v: torch.func.grad(tanh_mul, argnums=1)(inf, v).sum())(w),
                attempt(torch.func.grad(lambda v: (v * inf).sum()), outer))

    same(f)


def test_grad_argnums_int_negative_and_tuple():
    def f(torch):
        x, y = t(torch, X3), t(torch, Y3)
        G = torch.func.grad
        return G(mixed)(x, y), G(mixed, argnums=1)(x, y), G(mixed, argnums=-2)(x, y), \
            G(mixed, argnums=(1, 0))(x, y)

    same(f)


def test_grad_of_unused_argument_is_zeros():
    same(lambda torch: torch.func.grad(lambda x, y: x.sum(), argnums=(0, 1))(t(torch, X3),
                                                                             t(torch, Y3)))


def test_grad_of_nested_dict_and_list_inputs():
    def f(torch):
        def loss(p, x):
            return ((p["w"] @ x + p["b"][0]).tanh() * p["b"][1]).sum()

        p = {"w": t(torch, B43), "b": [t(torch, [0.1, 0.2, -0.3, 0.4]), t(torch, 2.0)]}
        return torch.func.grad(loss)(p, t(torch, X3))

    same(f)


def test_grad_and_value_and_has_aux():
    def f(torch):
        def g(x):
            y = x.exp()
            return y.sum(), {"y": y, "n": (y * 2,)}

        x = t(torch, X3)
        return (torch.func.grad_and_value(cubic)(x), torch.func.grad(g, has_aux=True)(x),
                torch.func.grad_and_value(g, has_aux=True)(x))

    same(f)


def test_nested_grad_gives_higher_derivatives():
    def f(torch):
        G = torch.func.grad
        x = t(torch, 0.7)
        third = G(G(G(lambda x: x.sin() * x ** 4)))(x)
        mixed_xy = G(lambda x, y: G(lambda y: (x * y).sin())(y))(x, t(torch, -1.3))
        return G(G(lambda x: x ** 3))(x), third, mixed_xy

    same(f)


def test_grad_composes_with_autograd_of_a_captured_parameter():
    def f(torch):
        w = t(torch, Y3, requires_grad=True)
        g = torch.func.grad(lambda x: (x * x * w).sum())(t(torch, X3))
        (dw,) = torch.autograd.grad(g.sum(), w)
        return g.requires_grad, g, dw

    same(f)


def test_grad_of_an_input_that_requires_grad_stays_differentiable():
    def f(torch):
        x = t(torch, X3, requires_grad=True)
        g = torch.func.grad(cubic)(x)
        g.sum().backward()
        with torch.no_grad():
            g2 = torch.func.grad(cubic)(x)
        return g.requires_grad, x.grad, g2.requires_grad, g2

    same(f)


def test_a_view_made_under_no_grad_makes_a_transforms_result_require_grad():
    # such a view of a leaf requires grad with no gradient edge: a result computed from it,
    # as an input or captured, requires grad at the caller's level as torch's does, unless
    # the view is of the transform's own input (fuzzer seed 22282322)
    def f(torch):
        leaf = t(torch, X3, requires_grad=True)
        with torch.no_grad():
            view = leaf[1]
        shifted = torch.ones(3) - view

        def own_view(u):
            with torch.no_grad():
                m = u[0]
            return (u * m).sum()

        _, vjp_fn = torch.func.vjp(lambda u: u.cos() * u, shifted)
        return [vjp_fn(torch.ones(3))[0].requires_grad,
                torch.func.grad(lambda u: (u.cos() * u).sum())(shifted).requires_grad,
                torch.func.grad(lambda u: (u * view).sum())(torch.ones(3)).requires_grad,
                torch.func.jacrev(lambda u: u * u)(view).requires_grad,
                torch.func.grad(own_view)(torch.ones(3)).requires_grad,
                torch.func.grad(own_view)(leaf).requires_grad]

    same(f)


def test_a_view_of_a_base_detached_in_place_makes_a_transforms_result_require_grad():
    # the view's history made anew (AsStridedBackward0) leads nowhere once its base was
    # detached in place, yet it requires grad: so does a result computed from it, as torch's
    # (fuzzer seed 22764484)
    def f(torch):
        base = t(torch, X3, requires_grad=True) * 2
        view = base[1:]
        base.detach_()
        base.zero_()
        _, vjp_fn = torch.func.vjp(lambda u: u.clone().relu_() * u, view)
        got = vjp_fn(torch.ones(2))[0]
        return [got.requires_grad, got.is_leaf, got,
                torch.func.grad(lambda u: (u * u).sum())(view).requires_grad,
                torch.func.jacrev(lambda u: u.sin())(view).requires_grad]

    same(f)


def test_grad_saves_its_input_itself_which_detach_detaches():
    # torch's grad unwraps its input: the ops of the function's gradient save the input
    # itself, so a detach_ of it afterwards leaves a saved tensor detached in place; a leaf
    # is saved as a leaf (fuzzer seeds 22163927, 22176399)
    def f(torch):
        got = []
        for leaf, argnums in [(False, 0), (False, 1), (True, 0)]:
            x = t(torch, B43).requires_grad_()
            a = x if leaf else x.cos()
            g = torch.func.grad(lambda u, w: (u.sin() * w).sum(), argnums=argnums)(a, a * 2)
            a.detach_()
            got.append(attempt(torch.autograd.grad, (g * g).sum(), [x], allow_unused=True))
        return got

    same(f)


def test_a_gradient_through_a_transforms_input_is_no_view():
    # torch's wrapper of a transform's input is no node of the graph: a gradient that passes
    # through it comes out as it went in, not as a view (which detach_ would refuse; fuzzer
    # seed 22229049)
    def f(torch):
        x = t(torch, B43, requires_grad=True)
        v = torch.func.vjp(lambda u: u.cos() * u, x)[1](torch.ones_like(x))[0]
        g = torch.autograd.grad(v, x, grad_outputs=x, create_graph=True)[0]
        after = torch.nn.functional.leaky_relu(g, 0.1)
        return g._is_view(), attempt(g.detach_), attempt(torch.autograd.grad,
                                                         (after * after).sum(), [x])

    same(f)


def test_grad_errors():
    def f(torch):
        G, x = torch.func.grad, t(torch, X3)
        return [attempt(G(lambda x: x), x), attempt(G(lambda x: 1.0), x),
                attempt(G(cubic, argnums=3), x), attempt(G(cubic), 1.0),
                attempt(G(cubic, has_aux=True), x), attempt(G(cubic, argnums=()), x),
                attempt(G(cubic, argnums=(0, 0)), x), attempt(G(cubic, argnums=0.5), x)]

    same(f)


# ---- vjp, jvp ---------------------------------------------------------------------------

def test_vjp_of_several_outputs_and_inputs():
    def f(torch):
        def fn(x, y):
            return x.sin() * y, {"s": (x * y).sum()}

        x, y = t(torch, X3), t(torch, Y3)
        out, vjp_fn = torch.func.vjp(fn, x, y)
        ct = (t(torch, [1.0, -2.0, 0.5]), {"s": t(torch, 3.0)})
        return out, vjp_fn(ct), vjp_fn(ct)  # a second call works (the graph is kept)

    same(f)


def test_vjp_has_aux_and_errors():
    def f(torch):
        x = t(torch, X3)
        out, vjp_fn, aux = torch.func.vjp(lambda x: (x.exp(), x.sum()), x, has_aux=True)
        _, two = torch.func.vjp(lambda x: (x.sin(), x.cos()), x)
        V = torch.func.vjp
        return (out, aux, vjp_fn(torch.ones(3)), attempt(two, torch.ones(3)),
                attempt(V, lambda x: x.long(), x), attempt(V, lambda x: 1.0, x),
                attempt(V, lambda x: (), x), attempt(V, lambda x: x, x, has_aux=True))

    same(f)


def test_gradients_summed_in_a_transform_are_new_tensors():
    # (a gradient made of several parts is a sum into a new tensor, not into the first part)
    def f(torch):
        x = t(torch, A23)
        twice = lambda u: u * u  # noqa: E731
        outs = (torch.func.vjp(lambda u: u.clone().relu_() * u, x)[1](torch.ones(2, 3))[0],
                torch.func.grad(lambda u: twice(u).sum())(x), torch.func.jacrev(twice)(x),
                torch.func.grad_and_value(lambda u: twice(u).sum())(x)[0])
        return [o._version for o in outs]

    same(f)


def test_jvp_values_and_errors():
    def f(torch):
        x, y = t(torch, X3), t(torch, Y3)
        J = torch.func.jvp
        fn = lambda x, y: (x.sin() * y, (x * y).sum())  # noqa: E731
        return (J(fn, (x, y), (torch.ones(3), t(torch, [0.0, 1.0, 2.0]))),
                J(lambda x: (x.exp(), x[0]), (x,), (y,), has_aux=True),
                attempt(J, fn, x, (y,)), attempt(J, fn, (x, y), (y,)))

    same(f)


# ---- jacrev, jacfwd, hessian --------------------------------------------------------------

def test_jacobians_shapes_and_values():
    def f(torch):
        x, a = t(torch, X3), t(torch, A23)
        fn = lambda a, x: (a @ x).tanh()  # noqa: E731
        two = lambda x: (x.sin(), {"m": x[:, None] * x})  # noqa: E731
        F = torch.func
        return (F.jacrev(fn)(a, x), F.jacrev(fn, argnums=1)(a, x), F.jacrev(fn, (0, 1))(a, x),
                F.jacfwd(fn, argnums=(0, 1))(a, x), F.jacrev(two)(x), F.jacfwd(two)(x),
                F.jacrev(fn, chunk_size=1)(a, x), F.jacrev(lambda x: (x.exp(), x.sum()),
                                                           has_aux=True)(x))

    same(f)


def test_hessian_values_and_composition():
    def f(torch):
        x, y = t(torch, X3), t(torch, Y3)
        F = torch.func
        return (F.hessian(cubic)(x), F.hessian(mixed, argnums=(0, 1))(x, y),
                F.jacrev(F.jacrev(mixed))(x, y), F.jacfwd(F.grad(cubic))(x))

    same(f)


def test_jacobian_errors():
    def f(torch):
        x = t(torch, X3)
        return (attempt(torch.func.jacrev, cubic, chunk_size=0),
                attempt(torch.func.jacfwd(cubic, randomness="bad"), x),
                attempt(torch.func.jacfwd(lambda x: x * torch.rand(3)), x))

    same(f)


def test_forward_jacobians_of_an_expanded_input_are_refused_as_torchs():
    # torch's jacfwd (and hessian, jacfwd of jacrev) copies each basis tangent into a tensor
    # laid out as its input: an expanded one's memory overlaps (fuzzer seeds 22141078,
    # 22190812); an argument not differentiated, and jacrev, pass
    def f(torch):
        x = t(torch, X3[:1]).expand(3)
        return (attempt(torch.func.jacfwd(cubic), x), attempt(torch.func.hessian(cubic), x),
                attempt(torch.func.jacfwd(mixed, argnums=1), x, t(torch, Y3)),
                attempt(torch.func.jacfwd(mixed, argnums=0), x, t(torch, Y3)),
                attempt(torch.func.jacrev(cubic), x))

    same(f)


# ---- vmap ---------------------------------------------------------------------------------

def test_vmap_in_dims_variants():
    def f(torch):
        V = torch.func.vmap
        a, b, x = t(torch, A23), t(torch, B43), t(torch, X3)
        d = {"a": a, "b": t(torch, A23).t()}
        return (V(torch.dot)(a, t(torch, A23)), V(torch.mul, in_dims=(0, None))(b, x),
                V(lambda m, v: m @ v, in_dims=(1, None))(b.t(), x),
                V(lambda d: d["a"] * d["b"], in_dims=({"a": 0, "b": 1},))(d),
                V(lambda x, s: x * s, in_dims=(-1, None))(a, 2.0),
                V(lambda x, scale: x * scale)(a, scale=t(torch, Y3)))

    same(f)


def test_vmap_out_dims_variants_and_structures():
    def f(torch):
        V = torch.func.vmap
        a = t(torch, B43)
        return (V(lambda x: x[:, None] * x, out_dims=1)(a),
                V(lambda x: (x.sum(), x * 2), out_dims=(0, 1))(a),
                V(lambda x: (x, 1.0), out_dims=(0, None))(a),
                V(lambda x: {"s": x.sum(), "l": [x.exp()]})(a),
                V(lambda x: x.sum(0, keepdim=True), in_dims=1, out_dims=-1)(a),
                V(lambda x: x.sum(), chunk_size=3)(a))

    same(f)


def test_vmap_results_count_the_writes_of_one_call():
    def f(torch):
        V, a = torch.func.vmap, t(torch, B43)
        outs = (V(lambda x: x.clone().add_(1))(a), V(lambda x: (x * 2).mul_(3).mul_(2))(a),
                V(lambda x: x.exp().sub_(1), out_dims=1)(a), V(lambda x: x * 2)(a),
                V(lambda x: x.exp().sub_(1), chunk_size=2)(a))  # (chunks: concatenated)
        return [o._version for o in outs]

    same(f)


def test_nested_vmap():
    def f(torch):
        V = torch.func.vmap
        a, b = t(torch, B43), t(torch, A23)
        outer = V(V(torch.dot, in_dims=(None, 0)), in_dims=(0, None))(a, b)
        return outer, V(V(lambda x: x * 2), in_dims=1)(a)

    same(f)


def test_vmap_saves_the_batched_tensor_which_detach_detaches():
    # torch's batching rules save the batched tensor itself (its batch dim at the front
    # already), so a detach_ of it after vmap leaves a saved tensor detached in place; one
    # mapped along another dim is saved as a view of it, a leaf as a leaf, a function's
    # result as that (fuzzer seed 22071494)
    def f(torch):
        V = torch.func.vmap
        got = []
        for fn, dim, leaf in [(lambda r, s: (r * s).sum(), 0, False),
                              (lambda r, s: (r * s).sum(), 1, False),
                              (lambda r, s: (r * s).sum(), 0, True),
                              (lambda r, s: (r.exp() + s).sum(), 0, False)]:
            x = t(torch, B43).requires_grad_()
            a = x if leaf else x.neg()
            out = V(fn, in_dims=dim)(a, a)
            a.detach_()
            got.append(attempt(torch.autograd.grad, (out * out).sum(), [x], allow_unused=True))
        return got

    same(f)


def test_vmap_randomness_modes():
    def f(torch):
        V = torch.func.vmap
        torch.manual_seed(0)
        same_rows = V(lambda x: x + torch.rand(4), randomness="same")(torch.zeros(3, 4))
        diff = V(lambda x: x + torch.rand(4), randomness="different")(torch.zeros(3, 4))
        return (bool((same_rows == same_rows[0]).all()), bool((diff == diff[0]).all()),
                attempt(V(lambda x: x + torch.rand(4)), torch.zeros(3, 4)),
                attempt(V, torch.sin, randomness="bad"))

    same(f)


def test_vmap_errors():
    def f(torch):
        V, a = torch.func.vmap, t(torch, A23)
        return [attempt(V(torch.add), a, t(torch, B43)), attempt(V(lambda x: 1.0), a),
                attempt(V(lambda x: (x, 1.0)), a), attempt(V(torch.sin, in_dims=None), a),
                attempt(V(torch.sin, in_dims=2), a), attempt(V(torch.sin, in_dims=(1.5,)), a),
                attempt(V(torch.sin, in_dims=(0,)), 1.0), attempt(V(torch.sin, in_dims=(None,)), a),
                attempt(V(torch.sin, out_dims="a"), a), attempt(V(torch.sin)),
                attempt(V, torch.sin, chunk_size=0)]

    same(f)


def test_vmap_structure_errors():
    def f(torch):
        V, a = torch.func.vmap, t(torch, A23)
        return [attempt(V(torch.sin, in_dims=(0, 0)), a),
                attempt(V(torch.sin, out_dims=(0, 1)), a)]

    same(f)  # the structures printed as torch's TreeSpec: TreeSpec(tuple, None, [*,\n  *])


# ---- functional_call and per-sample gradients ---------------------------------------------

def _mlp(torch):
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    with torch.no_grad():  # the same weights under both libraries
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)),
                                 dtype=torch.float32) * 0.5)
    return model


def test_functional_call_swaps_and_restores():
    def f(torch):
        model, x = _mlp(torch), t(torch, B43)
        own = {k: v.clone() for k, v in model.state_dict().items()}
        zero = {"0.bias": torch.zeros(5), "2.weight": torch.ones(2, 5)}
        out = torch.func.functional_call(model, zero, (x,))
        try:
            torch.func.functional_call(model, zero, x, {"bad": 1})
        except TypeError:
            pass
        strict = attempt(torch.func.functional_call, model, zero, (x,), strict=True)
        split = torch.func.functional_call(model, ({"0.bias": torch.zeros(5)},
                                                   {"2.bias": torch.ones(2)}), x)
        dup = attempt(torch.func.functional_call, model, (zero, zero), x)
        unchanged = all(bool((v == own[k]).all()) for k, v in model.state_dict().items())
        return out, split, strict, dup, unchanged, type(model[0].bias).__name__

    same(f)


def test_functional_call_tied_weights():
    def f(torch):
        model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.Linear(2, 2,
                                                                                       bias=False))
        model[1].weight = model[0].weight
        x, w = t(torch, [[1.0, 2.0]]), t(torch, [[1.0, 0.0], [0.5, 1.0]])
        fc = torch.func.functional_call
        return (fc(model, {"0.weight": w}, x), fc(model, {"0.weight": w}, x, tie_weights=False)
                .shape, attempt(fc, model, {"0.weight": w, "1.weight": w * 2}, x))

    same(f)


def test_functional_call_on_a_submodule_registered_twice():
    # (one submodule under two names: its tied names share one slot, which torch restores
    # in the order it swapped them, so the module keeps the value given)
    def f(torch):
        model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
        model.again = model[0]
        x, w = t(torch, [[1.0, 2.0]]), t(torch, [[1.0, 0.0], [0.5, 1.0]])
        out = torch.func.functional_call(model, {"0.weight": w}, (x,))
        return out, model[0].weight.detach().clone(), type(model.again.weight).__name__

    same(f)


def test_per_sample_gradients_of_an_mlp():
    def f(torch):
        model, F = _mlp(torch), torch.nn.functional
        params = {k: v.detach() for k, v in model.named_parameters()}
        xs = t(torch, RNG_SAMPLES["x"])
        ys = torch.tensor(RNG_SAMPLES["y"])

        def loss(p, x, y):
            return F.cross_entropy(torch.func.functional_call(model, p, (x[None],)), y[None])

        per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(params, xs, ys)
        # the same as one backward per sample
        model.zero_grad()
        loss(dict(model.named_parameters()), xs[1], ys[1]).backward()
        one = {k: p.grad for k, p in model.named_parameters()}
        return per_sample, one, {k: bool(p.requires_grad) for k, p in params.items()}

    same(f)


RNG_SAMPLES = {"x": np.random.default_rng(7).standard_normal((6, 3)).tolist(),
               "y": [0, 1, 1, 0, 1, 0]}


def test_replace_all_batch_norm_modules_drops_running_stats_for_vmap():
    """torch.func.replace_all_batch_norm_modules_: every BatchNorm under the root (the root
    too) stops tracking running stats, in place, so a vmap over tasks normalizes each by
    its own batch; a BatchNorm already without them, and other modules, are left alone."""
    def f(torch):
        nn = torch.nn
        net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2),
                            nn.Sequential(nn.BatchNorm1d(2, track_running_stats=False,
                                                         momentum=None))).double()
        root = nn.BatchNorm2d(2)
        same_root = torch.func.replace_all_batch_norm_modules_(root) is root
        assert torch.func.replace_all_batch_norm_modules_(net) is net
        with torch.no_grad():
            for i, p in enumerate(net.parameters()):
                p.copy_(torch.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape))))
        params = {k: v.detach() for k, v in net.named_parameters()}
        xs = torch.tensor(np.random.default_rng(9).standard_normal((2, 5, 3)))
        per_task = torch.func.vmap(torch.func.grad(
            lambda p, x: torch.func.functional_call(net, p, (x,)).pow(3).sum()),
            in_dims=(None, 0))(params, xs)
        return (same_root, root.running_mean, root.track_running_stats,
                dict(net.named_buffers()), net[1].track_running_stats, net[4][0].momentum,
                repr(net), per_task["1.weight"], per_task["0.weight"])

    same(f)


def test_vmap_refuses_batch_norm_writing_unbatched_running_stats():
    """torch's batching rule for batch norm in training refuses a batched input whose
    running stats come from outside the mapped inputs (a module's buffers; the functorch
    error); mapped running stats, eval mode, no running stats and an unbatched input pass."""
    def f(torch):
        F = torch.nn.functional
        vmap = torch.func.vmap
        bn = torch.nn.BatchNorm1d(3)
        xs = torch.tensor(np.random.default_rng(2).standard_normal((2, 4, 3)),
                          dtype=torch.float32)
        m, v = torch.zeros(2, 3), torch.ones(2, 3)
        outcomes = [attempt(vmap(bn), xs), bn.num_batches_tracked, bn.running_mean,
                    attempt(vmap(lambda x, m, v: F.batch_norm(x, m, v, training=True)), xs, m, v),
                    m, attempt(vmap(lambda x, m, v: F.batch_norm(x, m, v, training=True),
                                    in_dims=(0, None, None)), xs, m[0], v[0]),
                    attempt(vmap(lambda x: F.batch_norm(x, None, None, training=True)), xs),
                    attempt(vmap(vmap(bn)), xs.unsqueeze(0))]
        bn.eval()
        outcomes.append(attempt(vmap(bn), xs))
        # (detached: distgrad's vmap stacks per-slice results, a StackBackward0 node)
        return [o.detach() if hasattr(o, "detach") else o for o in outcomes]

    same(f)


def test_batch_norm_trains_in_a_thread_where_no_transform_ran():
    """The check for vmap's captured running stats reads the transforms of the thread it
    runs in: in a fresh one (a new program's) there are none."""
    import threading

    got = []

    def train():
        bn = distgrad.nn.BatchNorm1d(3)
        try:
            bn(distgrad.tensor([[1.0, 2.0, 3.0], [3.0, 0.0, 1.0]]))
            got.append(bn.running_mean.tolist())
        except Exception as e:  # noqa: BLE001  (the thread's failure, shown by the assert)
            got.append(repr(e))

    thread = threading.Thread(target=train)
    thread.start()
    thread.join()
    np.testing.assert_allclose(got[0], [0.2, 0.1, 0.2], rtol=1e-6)


def test_stack_module_state_runs_an_ensemble_under_vmap():
    """The model-ensembling tutorial: torch.func.stack_module_state stacks alike models'
    parameters (new leaves) and buffers for a vmap over functional_call."""
    def f(torch):
        nn = torch.nn
        models = []
        for k in range(3):
            m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
            with torch.no_grad():
                for i, p in enumerate(m.parameters()):
                    p.copy_(torch.tensor(np.random.default_rng(10 * k + i).standard_normal(
                        tuple(p.shape)), dtype=torch.float32))
            models.append(m.eval())
        params, buffers = torch.func.stack_module_state(models)
        x = t(torch, B43)

        def fmodel(p, b, x):
            return torch.func.functional_call(models[0], (p, b), (x,))

        out = torch.func.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, x)
        loop = torch.stack([m(x) for m in models])
        out.sum().backward()
        shapes = {k: (tuple(v.shape), v.requires_grad, v.is_leaf, v.dtype) for k, v in
                  list(params.items()) + list(buffers.items())}
        models[1].train()
        mixed_mode = attempt(torch.func.stack_module_state, models)
        models[1].eval()
        models[2][0].bias.requires_grad_(False)
        mixed_grad = attempt(torch.func.stack_module_state, models)
        # (out.detach(): distgrad's vmap stacks per-slice results, a StackBackward0 node)
        return (out.detach(), loop, shapes, params["0.weight"].grad, mixed_mode, mixed_grad,
                attempt(torch.func.stack_module_state, []),
                attempt(torch.func.stack_module_state, [models[0], nn.Linear(3, 4)]))

    same(f)


def test_autograd_function_under_transforms_needs_setup_context_and_a_vmap_rule():
    def f(torch):
        def function(setup: bool, vmap_rule: bool):
            class Double(torch.autograd.Function):
                generate_vmap_rule = vmap_rule

                @staticmethod
                def backward(ctx, g):
                    return g * 2

            if setup:
                Double.forward = staticmethod(lambda x: x * 2)
                Double.setup_context = staticmethod(lambda ctx, inputs, output: None)
            else:
                Double.forward = staticmethod(lambda ctx, x: x * 2)
            return Double

        x = t(torch, A23)
        F = torch.func
        old, no_rule, full = function(False, False), function(True, False), function(True, True)
        return [attempt(F.vmap(old.apply), x), attempt(F.grad(lambda v: old.apply(v).sum()), x),
                attempt(F.vmap(no_rule.apply), x), F.grad(lambda v: no_rule.apply(v).sum())(x),
                F.vmap(full.apply)(x), F.vmap(F.grad(lambda v: full.apply(v).sum()))(x),
                old.apply(x)]

    same(f)


def test_stack_module_state_ensembles_models_with_vmap():
    def f(torch):
        models = [_mlp(torch) for _ in range(3)]
        with torch.no_grad():
            for k, m in enumerate(models):
                for p in m.parameters():
                    p.mul_(1 + k)
        params, buffers = torch.func.stack_module_state(models)
        x = t(torch, B43)

        def loss(p, b, x):
            return torch.func.functional_call(models[0], (p, b), (x,)).pow(2).mean()

        grads = torch.func.vmap(torch.func.grad(loss), in_dims=(0, 0, None))(params, buffers, x)
        models[1].eval()
        # (torch's per-model gradients keep a graph of its batching rules: values compared)
        return (params, buffers, {k: g.detach() for k, g in grads.items()},
                attempt(torch.func.stack_module_state, models),
                attempt(torch.func.stack_module_state, []),
                attempt(torch.func.stack_module_state, [models[0], torch.nn.Linear(3, 5)]))

    same(f)


def test_jacfwd_and_hessian_lay_out_their_results_as_torch():
    # torch's jacfwd vmaps over the input's elements, which end up outermost in memory and
    # moved to the end: its result is not row-major, so a clone keeps that layout and a
    # contiguous() of it is a copy (fuzzer seed 22013783: a write to the clone showed in it)
    def layouts(T):
        x = T.tensor([0.15, -0.89, -1.31], requires_grad=True)
        h = T.func.hessian(lambda u: u.pow(3).sum())(x).clone()
        c = h.contiguous()
        with T.no_grad():
            h.copy_(T.ones(3))
        pair = T.func.jacfwd(lambda u, v: (u * v).sum(0), argnums=(0, 1))(T.ones(2, 3),
                                                                          T.ones(3))
        return (c, h.stride(), pair[0].stride(), pair[1].stride(),
                T.func.jacfwd(lambda u: u.pow(3) * 2)(T.ones(2, 3)).stride(),
                T.func.jacrev(lambda u: u.pow(3) * 2)(T.ones(2, 3)).stride())

    same(layouts)


# ---- linearize ------------------------------------------------------------------------

def test_linearize_gives_the_output_and_a_reusable_jvp_and_checks_tangents():
    def f(torch):
        x, y = t(torch, X3), t(torch, Y3)
        fn = lambda x, y: {"a": x.sin() * y, "b": (x * y).sum()}  # noqa: E731
        out, jvp_fn = torch.func.linearize(fn, x, y)
        return (out, jvp_fn(torch.ones(3), y), jvp_fn(y, torch.zeros(3)),
                attempt(jvp_fn, torch.ones(3)), attempt(jvp_fn, torch.ones(3), torch.ones(2)),
                attempt(jvp_fn, torch.ones(3), torch.ones(3, dtype=torch.float64)))

    same(f, warnings_too=False)  # (torch's tracing warns of its fx graph's internals)


# ---- in-place writes under a grad transform ------------------------------------------------

def test_a_grad_transform_refuses_writes_to_captured_tensors():
    def f(torch):
        buf, x, tangent = torch.zeros(3), t(torch, X3), t(torch, Y3)
        bn = torch.nn.BatchNorm1d(3)  # (train mode: its running stats are captured)
        params = {k: v.detach() for k, v in bn.named_parameters()}

        def inner(p):
            z = torch.zeros(3)  # made inside, or passed in: writable
            z.add_(p)
            return (z * p).sum()

        def bn_loss(p):
            return torch.func.functional_call(bn, p, (x.view(1, 3).expand(4, 3) * 1,)).sum()

        return (attempt(torch.func.grad(lambda p: (buf.add_(p) * p).sum()), x),
                attempt(torch.func.vjp, lambda p: buf[:2].mul_(p[:2]), x),
                attempt(torch.func.jacrev(lambda p: p * buf.lerp_(p, 0.5)), x),
                attempt(torch.func.jvp, lambda p: buf.zero_() + p, (x,), (x,)),
                attempt(torch.func.grad(bn_loss), params), bn.running_mean, buf,
                torch.func.grad(inner)(x),
                torch.func.grad(lambda p, y: (y.add_(p) * p).sum())(x, torch.zeros(3)),
                # (a tangent passed in is written as its primal is, as torch's)
                torch.func.jvp(lambda p: p.sin_(), (x.clone(),), (tangent,)), tangent)

    same(f)


def test_a_grad_transform_refuses_writes_to_the_tensor_an_input_views():
    """The base of an input made a view outside, or the tensor itself whose fresh stand-in
    the function gets, is captured (torch's wrapper is no view of it): writing it is
    refused even under no_grad, as torch's (distgrad let it share the input's memory)."""
    def f(torch):
        func, base, x = torch.func, torch.arange(1.0, 7.0), t(torch, X3)

        def writes(target):
            def loss(p):
                with torch.no_grad():
                    target.mul_(2)
                return (p ** 3).sum()
            return loss

        return (attempt(func.grad(writes(base)), base[1:4]),
                attempt(func.hessian(writes(base)), base[1:4]),
                attempt(func.jacrev(writes(x)), x), base, x)

    same(f)


def test_a_view_of_an_input_made_anew_after_a_write_still_reaches_it():
    """f takes a view of its input, then writes the input under no_grad: the view's
    history is made anew from its base, which is the transform's own input (torch's
    wrapper), also when that input stands for a tensor differentiated outside (an outer
    jacrev's, or a user's leaf). distgrad made it from the outer tensor, past the inner
    input: the inner gradient, and with it the Hessian, were zeros."""
    def loss(torch):
        def f(x):
            v = x[1:3]
            with torch.no_grad():
                x.mul_(2)
            return (v ** 3).sum()
        return f

    def program(torch):
        func, f = torch.func, loss(torch)
        leaf = torch.arange(1.0, 5.0, requires_grad=True)
        g = func.grad(f)(leaf * 1)
        g.sum().backward()
        return func.jacrev(func.jacrev(f))(torch.arange(1.0, 5.0)), g, leaf.grad

    same(program)


def test_derivatives_through_an_argument_read_its_data_assigned_after():
    """torch.func's wrapper holds the argument itself: after `x.data = ...` a backward
    through a derivative made before (and a vjp_fn called after) reads x's new values where
    the transform's ops saved x, and the old ones where they saved what they computed."""
    def f(torch):
        func = torch.func
        seen = []
        for transform in ("grad", "vjp", "jacrev"):
            x = t(torch, X3[:2], requires_grad=True)
            def sin_times(x):
                return x.sin() * x
            if transform == "grad":
                made = lambda: func.grad(lambda x: sin_times(x).sum())(x)  # noqa: E731
            elif transform == "vjp":
                _, vjp_fn = func.vjp(sin_times, x)
                made = lambda: vjp_fn(torch.ones(2))[0]  # noqa: E731
            else:
                made = lambda: func.jacrev(sin_times)(x)  # noqa: E731
            before = made() if transform != "vjp" else None
            x.data = x.data * 2
            out = made() if before is None else before
            out.sum().backward()
            seen += [out, x.grad]
        return seen

    same(f)


@pytest.mark.parametrize("transform", ["grad", "jacrev", "vjp"])
@pytest.mark.parametrize("leaf", [False, True])
def test_a_transforms_saved_input_written_later_is_named_as_the_input(transform, leaf):
    """torch's transform saves its input itself (its wrapper holds it): the version error
    at backward names the input's own node, which a later in-place write made (Ray fuzz
    seed 30033634)."""
    def f(torch):
        x0 = torch.tensor([-0.99, 0.5, -1.24, 1.77], dtype=torch.float64, requires_grad=True)
        x = x0 if leaf else x0 * 2 - 1
        fn = lambda u: u.clone().mul_(u).mul_(u).sum()  # noqa: E731
        if transform == "grad":
            out = torch.func.grad(fn)(x)
        elif transform == "jacrev":
            out = torch.func.jacrev(fn)(x)
        else:
            out = torch.func.vjp(fn, x)[1](torch.tensor(1.0, dtype=torch.float64))[0]
        if leaf:
            with torch.no_grad():
                x.clamp_(-0.5, 0.5)
        else:
            x.clamp_(-0.5, 0.5)
        return attempt(lambda: torch.autograd.grad(out.sum(), [x0]))

    same(f)


def test_requires_grad_in_place_is_refused_inside_a_transform_and_set_elsewhere():
    """torch refuses Tensor.requires_grad_() inside any transform (autograd.functional's
    jacobian calls it too); setting the attribute, a factory's requires_grad=True and a
    Parameter are allowed, and the transforms' own inputs need none of it."""
    def scenario(T):
        x = t(T, X3)
        square = lambda u: (u * u).sum()
        return [
            attempt(T.func.grad(lambda u: (u.detach().requires_grad_(), square(u))[1]), x),
            attempt(T.func.vmap(lambda u: (T.ones(2).requires_grad_(False), u * 2)[1]),
                    t(T, A23)),
            attempt(T.func.jacrev(lambda u: (T.zeros(1).requires_grad_(), u.sin())[1]), x),
            attempt(T.func.grad(lambda u: T.autograd.functional.jacobian(
                lambda v: v * 2, u).sum()), x),
            T.func.grad(lambda u: (setattr(T.ones(3), "requires_grad", True), square(u))[1])(x),
            T.func.grad(lambda u: (T.nn.Parameter(T.ones(3)) * u).sum())(x),
            T.func.grad(lambda v: T.func.grad(cubic)(v).sum())(x),
            x.requires_grad_(),
        ]

    same(scenario)


def test_a_leaf_the_function_makes_is_of_the_transforms_level():
    """A tensor made inside the function with requires_grad=True belongs to the
    transform's level: the gradient through it comes out without a history, as torch's;
    a leaf from outside keeps it."""
    def scenario(T):
        x = t(T, X3)
        w = t(T, Y3, requires_grad=True)
        inner = T.func.grad(lambda u: (T.ones(3, requires_grad=True) * u * u).sum())(x)
        outer = T.func.grad(lambda u: (w * u * u).sum())(x)
        _, vjp_fn = T.func.vjp(lambda u: T.full((3,), 2.0, requires_grad=True) * u, x)
        return [inner, inner.requires_grad, outer.requires_grad, outer.grad_fn is not None,
                vjp_fn(T.ones(3))[0].requires_grad]

    same(scenario)


def test_an_input_requiring_grad_with_a_graph_that_reaches_no_leaf_keeps_the_result_attached():
    """An input made by a custom Function from a no_grad view of a leaf (it requires grad,
    its graph ends at the Function's node, which has no edges): torch's results at the
    outer level still require grad."""
    def scenario(T):
        class Sine(T.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                ctx.save_for_backward(a)
                return a.sin()

            @staticmethod
            def backward(ctx, g):
                a, = ctx.saved_tensors
                return g * a.cos()

        x = t(T, A23, requires_grad=True)
        with T.no_grad():
            row = x[0]
        u = Sine.apply(row)
        jac = T.func.jacrev(lambda v: v.exp() * v.sum())(u)
        g = T.func.grad(lambda v: (v.exp() * v.sum()).sum())(u)
        return [u.requires_grad, jac, jac.requires_grad, g, g.requires_grad]

    same(scenario)
