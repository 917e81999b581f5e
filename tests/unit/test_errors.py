"""Every error of SPEC section 1, and a few more users meet: the same exception type and
message as torch 2.13 (checked against torch in the test, not copied into it)."""

import warnings

import pytest

import distgrad
from torch_twin import attempt, same


def leaf(torch, values):
    return torch.tensor(values, requires_grad=True)


def test_second_backward_through_freed_graph():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        y = (x * x).sum()
        y.backward()
        return attempt(y.backward), attempt(torch.autograd.grad, y, x)

    same(f)


def test_implicit_gradient_of_non_scalar():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        return attempt((x * 2).backward), attempt(torch.autograd.grad, x * 2, x)

    same(f)


def test_backward_of_tensor_not_requiring_grad():
    def f(torch):
        c = torch.tensor([1.0, 2.0])
        x = leaf(torch, [1.0])
        with torch.no_grad():
            n = (x * 2).sum()
        return (attempt(c.sum().backward), attempt(n.backward),
                attempt(torch.autograd.backward, [x.sum(), c.sum()]),
                attempt(torch.autograd.grad, c.sum(), x))

    same(f)


@pytest.mark.parametrize("shapes", [((2, 3), (4, 5)), ((3, 2), (3, 2)), ((1, 7), (6, 1))])
def test_matmul_shape_mismatch(shapes):
    def f(torch):
        a, b = torch.ones(*shapes[0]), torch.ones(*shapes[1])
        return attempt(torch.matmul, a, b), attempt(lambda: a @ b), attempt(torch.mm, a, b)

    same(f)


def test_requires_grad_on_integer_tensor():
    def f(torch):
        i = torch.tensor([1, 2])
        return (attempt(i.requires_grad_), attempt(setattr, i, "requires_grad", True),
                attempt(torch.tensor, [1, 2], requires_grad=True),
                attempt(torch.ones, 2, dtype=torch.int64, requires_grad=True),
                attempt(torch.arange, 3, requires_grad=True),
                attempt(torch.tensor, [True], requires_grad=True),
                attempt(torch.full, (2,), 1, requires_grad=True),
                i.requires_grad_(False).requires_grad)

    same(f)


def test_changing_requires_grad_of_non_leaf():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        y = x * 2
        return attempt(y.requires_grad_, False), attempt(setattr, y, "requires_grad", False)

    same(f)


def test_inplace_on_leaf_that_requires_grad():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        out = [attempt(x.add_, 1), attempt(x.mul_, 2), attempt(x.zero_), attempt(x.fill_, 3.0),
               attempt(x.copy_, torch.ones(2)), attempt(x.clamp_, 0, 1), attempt(x.sub_, 1),
               attempt(x.div_, 2)]

        def setitem():
            x[0] = 5.0
        out.append(attempt(setitem))
        with torch.no_grad():
            x.add_(1)
        out.append(x)
        return out

    same(f)


def test_saved_tensor_modified_in_place():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        e = x.exp()
        e.add_(1)
        a = x * 1
        s = a.sigmoid()
        a.mul_(3)
        w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        m = torch.ones(1, 2) @ w
        with torch.no_grad():
            w.mul_(2)
        return attempt(e.sum().backward), attempt(s.sum().backward), attempt(m.sum().backward)

    same(f)


def test_a_node_checks_all_it_saved_whichever_gradients_are_asked_for():
    # mul saved both operands (both require grad); the backward asks only for the one whose
    # gradient reads the other, yet torch's MulBackward0 unpacks, and checks, both: the
    # operand written in place since raises (fuzz seed 22165917).
    def f(torch):
        x = leaf(torch, [[1.5, -1.5, -1.0], [0.25, -0.5, 0.125]])
        y = leaf(torch, [0.75, 1.5, 0.125])
        base = y.clone()
        picked = torch.gather(base.chunk(2, 0)[0], 0, torch.tensor([0]))
        z = picked * x
        picked.fill_(0.25)
        return (attempt((z * z).sum().backward, inputs=[base], retain_graph=True),
                attempt(torch.autograd.grad, (z * z).sum(), base))

    same(f)


def test_grad_of_non_leaf_warns_and_is_none():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        y = x * 2
        y.sum().backward()
        return y.grad

    expected, got = same(f)
    assert got is None and expected is None


def test_grad_of_non_leaf_warning_text_and_category():
    x = distgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.warns(UserWarning, match="The .grad attribute of a Tensor that is not a leaf "
                                         "Tensor is being accessed"):
        assert y.grad is None
    y.retain_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert y.grad is None  # retained: no warning
        assert x.grad is None  # leaf: no warning


def test_autograd_grad_errors():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        c = torch.tensor([1.0])
        u = leaf(torch, [3.0])
        y = (x * x).sum()
        return (attempt(torch.autograd.grad, y, c, retain_graph=True),
                attempt(torch.autograd.grad, y, u, retain_graph=True),
                attempt(torch.autograd.grad, y, [], retain_graph=True),
                attempt(torch.autograd.grad, y, x, torch.ones(3), retain_graph=True),
                attempt(torch.autograd.grad, y, x, 1.0, retain_graph=True),
                attempt(torch.autograd.grad, y, x, [1.0], retain_graph=True),
                attempt(torch.autograd.grad, [y, y], x, [None], retain_graph=True),
                attempt(torch.autograd.grad, y, x, allow_unused=False, materialize_grads=True))

    same(f)


def test_backward_argument_errors():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        y = (x * x).sum()
        return (attempt(y.backward, inputs=[], retain_graph=True),
                attempt(y.backward, inputs=[torch.tensor([1.0])], retain_graph=True),
                attempt(y.backward, torch.ones(2), retain_graph=True),
                attempt(y.backward, [torch.tensor(1.0)], retain_graph=True),
                attempt(torch.autograd.backward, [y, y], [None], retain_graph=True),
                attempt(torch.autograd.backward, y, torch.tensor(1.0), grad_variables=1.0))

    same(f)


def test_hook_and_retain_grad_errors():
    def f(torch):
        c = torch.tensor([1.0])
        x = leaf(torch, [1.0])
        return (attempt(c.register_hook, print), attempt(c.retain_grad),
                attempt((x * 2).register_post_accumulate_grad_hook, print),
                attempt(c.register_post_accumulate_grad_hook, print))

    same(f)


def test_value_access_errors():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        return (attempt(x.numpy), attempt(x.item), attempt(bool, x), attempt(len, torch.tensor(1.0)),
                attempt(iter, torch.tensor(1.0)), attempt(float, torch.ones(2)),
                attempt(torch.ones(2).view, 3))

    same(f)


def test_shape_errors():
    def f(torch):
        a, b = torch.ones(2, 3), torch.ones(4)
        return (attempt(lambda: a + b), attempt(a.sum, 2), attempt(a.reshape, 4),
                attempt(lambda: a[2]), attempt(torch.cat, [a, b]))

    same(f)


def test_index_out_of_range_names_torchs_dimension():
    # an int: its place in the key; an index tensor: its place among the index tensors
    def f(torch):
        x, t = torch.ones(2, 3, 4), torch.tensor
        keys = [(0, 5), (..., 7), (None, 0, 5), (True, 0, 9), (slice(None), t([0]), 9),
                (t([[True] * 3] * 2), t([9])), (t([0]), None, t([9])), (slice(None), slice(None), [-5]),
                (t([0, 1]), t([[2], [7]])), 1.5, (0, 1.0)]
        out = [attempt(lambda: x[k]) for k in keys]
        out += [attempt(lambda: x.__setitem__(k, 1.0)) for k in keys[:3] + keys[4:7]]
        out += [attempt(lambda: x.clone().index_put_((t([0]), t([5])), t(1.0), accumulate=acc))
                for acc in (False, True)]
        return out

    same(f)


def test_expand_checks_sizes_from_the_last_dim():
    def f(torch):
        x = torch.ones(1, 2)
        sizes = [(-1, -1, 3), (3, -1, -1), (2, -1, -1), (5, -1), (-2, 2), (2, -2), (3, 1, 2)]
        return [attempt(x.expand, *s) for s in sizes]

    same(f)


def test_messages_name_a_tensor_type_as_torchs_python_layer_rewrites_it():
    """torch's C++ messages say CPUBoolType; its Python layer rewrites only the eight legacy
    types (torch.FloatTensor), so bool and bfloat16 keep their C++ names."""
    def f(torch):
        out = [attempt(torch.ones(2, 3, dtype=d).expand, 3)
               for d in (torch.bool, torch.bfloat16, torch.float16, torch.int8, torch.float64)]
        x = torch.ones(4, dtype=torch.bfloat16, requires_grad=True)
        y = x.sigmoid()
        y.mul_(2)
        out.append(attempt(y.sum().backward))
        out.append(attempt(torch.nn.functional.embedding, torch.tensor([True]), torch.ones(2, 2)))
        out.append(attempt(torch.nn.functional.embedding_bag, torch.tensor([0, 1]),
                           torch.ones(3, 2, dtype=torch.bfloat16), torch.tensor([0]),
                           per_sample_weights=torch.ones(2), mode="sum"))
        return out

    same(f)


def test_in_place_writes_broadcast_as_torchs_kernels():
    """copy_ broadcasts src with self (TensorIterator: the result must be self's shape);
    masked_scatter_ expands its mask to self (expand's errors)."""
    def f(torch):
        out = []
        for shape in ((2, 3), (2,), (1, 3), (4, 1, 3)):
            out += [attempt(torch.zeros(3).copy_, torch.ones(shape)),
                    attempt(torch.zeros(2, 3).copy_, torch.ones(shape))]
        for mask in (torch.ones(2, 3, dtype=torch.bool), torch.ones(2, dtype=torch.bool),
                     torch.ones(1, 3, dtype=torch.bool), torch.ones(1, dtype=torch.bool)):
            out.append(attempt(torch.zeros(3).masked_scatter_, mask, torch.arange(9.0)))
        out.append(attempt(torch.zeros(3).masked_scatter_, torch.ones(2, 3, dtype=torch.bool),
                           torch.arange(9)))
        return out

    same(f)


def test_order_statistics_of_bools_are_refused_as_torchs_kernels_refuse_them():
    def f(torch):
        x = torch.tensor([[True, False, True]])
        empty = torch.zeros(0, dtype=torch.bool)
        calls = [x.median, lambda: x.median(1), x.nanmedian, lambda: x.nanmedian(1),
                 lambda: x.kthvalue(1), lambda: x[0, 0].kthvalue(1), x[0, 0].median,
                 lambda: x[0, 0].median(0), empty.median, lambda: torch.histc(x),
                 lambda: torch.histc(x.int()), lambda: x.kthvalue(5),
                 lambda: torch.zeros(0, 2, dtype=torch.bool).median(0)]
        return [attempt(c) for c in calls]

    same(f)


def test_split_sizes_error_names_the_dim_given():
    def f(torch):
        x = torch.zeros(2, 3)
        return [attempt(x.split, [1, 1], dim=-1), attempt(torch.split, x, [1, 1], 1),
                attempt(x.split, [1, 1, 1], dim=-2), attempt(x.split_with_sizes, [1], dim=1)]

    same(f)


def test_scatter_reduce_takes_max_and_min_forward_only():
    def f(torch):
        x = torch.tensor([[0.0, 5.0], [1.0, -1.0]], requires_grad=True)
        idx, src = torch.tensor([[0, 1], [0, 0]]), torch.tensor([[2.0, -2.0], [3.0, 4.0]])
        out = []
        for reduce in ("max", "min"):
            for include_self in (True, False):
                y = x.scatter_reduce(0, idx, src, reduce, include_self=include_self)
                out += [y, attempt(y.sum().backward)]
        out.append(attempt(x.scatter_reduce, 0, idx, src, "maximum"))
        return out

    same(f)


def test_a_products_source_gradient_refuses_a_double_backward_over_two_zeros():
    # torch's scatter_reduce and index_reduce "prod": where two zeros of the source go to
    # one place, the source's gradient (right once) is behind an Error node
    def f(torch):
        out = []
        for zeros in ([0.0, 0.0, 2.0, 5.0], [0.0, 3.0, 2.0, 0.0]):
            x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
            src, idx = torch.tensor(zeros, requires_grad=True), torch.tensor([0, 0, 1, 1])
            for y in (x.scatter_reduce(0, idx, src, "prod"), x.index_reduce(0, idx, src, "prod")):
                gx, gs = torch.autograd.grad((y * y).sum(), (x, src), create_graph=True)
                out += [gx, gs, gs.grad_fn.name(),
                        attempt(torch.autograd.grad, gs.sum(), src, retain_graph=True),
                        torch.autograd.grad(gx.sum(), src)]
        return out

    same(f)


def test_index_select_refuses_negative_and_out_of_range_indices_as_torch():
    def f(torch):
        x, t = torch.arange(24.0).reshape(2, 3, 4), torch.tensor
        cases = [(x, 1, [0, 3]), (x, 1, [-1]), (x, 2, [-2]), (x, -2, [-1]), (x, 0, [2]),
                 (torch.arange(3.0, requires_grad=True), 0, [-1]), (torch.ones(2, 0, 3), 1, [0]),
                 (torch.ones(0, 3), 1, [5]), (torch.ones(0), 0, [0]), (torch.tensor(5.0), 0, [1]),
                 (torch.tensor(5.0), 0, [0, 0]), (torch.ones(2, 0, 3), 1, [])]
        return [attempt(s.index_select, d, t(i, dtype=torch.int64)) for s, d, i in cases]

    same(f)


def test_requires_grad_takes_a_bool_only():
    import numpy as np

    def f(torch):
        t = torch.ones(2)

        def assign(value):
            t.requires_grad = value

        return [attempt(t.requires_grad_, 1), attempt(t.requires_grad_, np.bool_(True)),
                attempt(t.requires_grad_, None), attempt(assign, 1), attempt(assign, np.bool_(1)),
                attempt(torch.nn.Parameter, torch.ones(1), 0),
                attempt(torch.nn.Linear(1, 1).requires_grad_, 0), t.requires_grad_(False),
                torch.nn.Parameter(torch.ones(1), False)]

    same(f)


def test_creation_functions_take_a_bool_requires_grad_and_a_generator():
    """torch's parser: one overload names the argument, several list themselves."""
    def f(torch):
        calls = {"tensor": lambda rg: torch.tensor([1.0], requires_grad=rg),
                 "zeros": lambda rg: torch.zeros(2, requires_grad=rg),
                 "ones": lambda rg: torch.ones((2,), requires_grad=rg),
                 "empty": lambda rg: torch.empty(2, requires_grad=rg).shape,
                 "full": lambda rg: torch.full((2,), 1.0, requires_grad=rg),
                 "rand": lambda rg: torch.rand(2, requires_grad=rg).shape,
                 "randn": lambda rg: torch.randn(2, 3, requires_grad=rg).shape,
                 "arange": lambda rg: torch.arange(3.0, requires_grad=rg),
                 "arange2": lambda rg: torch.arange(0, 3.0, requires_grad=rg),
                 "eye": lambda rg: torch.eye(2, 3, requires_grad=rg),
                 "linspace": lambda rg: torch.linspace(0, 1, 3, requires_grad=rg)}
        out = {name: [attempt(call, rg) for rg in (1, 0, 1.0, None, "yes", torch.tensor(True))]
               for name, call in calls.items()}
        out["generator"] = [attempt(torch.randn, 2, generator=3),
                            attempt(torch.rand, (2,), generator="g"),
                            attempt(torch.randint, 3, (2,), generator=3),
                            attempt(torch.randint, 0, 3, (2,), requires_grad=1),
                            attempt(torch.randperm, 3, generator=3)]
        return out

    same(f)


def test_assigned_grad_errors():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        return (attempt(setattr, x, "grad", torch.ones(3)),
                attempt(setattr, x, "grad", torch.ones(2, dtype=torch.float64)),
                attempt(setattr, x, "grad", [1.0, 2.0]))

    same(f)


def test_detach_inplace_of_view_error():
    def f(torch):
        x = leaf(torch, [[1.0, 2.0], [3.0, 4.0]])
        v = (x * 1)[0]
        return attempt(v.detach_)

    same(f)


def test_scatter_with_reduce_has_no_derivative():
    def f(torch):
        x = leaf(torch, [[1.0, 2.0], [3.0, 4.0]])
        s = leaf(torch, [[5.0, 6.0]])
        y = x.scatter(0, torch.tensor([[1, 0]]), s, reduce="multiply")  # (warns: deprecated)
        z = x.scatter(1, torch.tensor([[1], [1]]), 2.0, reduce="add")
        return (y, y.grad_fn.name(), len(y.grad_fn.next_functions), attempt(y.sum().backward),
                z, z.grad_fn.name(), attempt(z.sum().backward))

    same(f)


def test_one_sample_with_a_one_element_target():
    """torch's nll_loss takes a (1,) target for one sample's (C,) scores, 0-dim loss and all,
    but its backward refuses the pair."""
    def f(torch):
        F = torch.nn.functional
        x = leaf(torch, [0.1, 0.2, 0.3, 0.4])
        target = torch.tensor([2])
        losses = [F.nll_loss(x, target, reduction=r) for r in ("mean", "sum", "none")]
        losses.append(F.cross_entropy(x, target))
        return losses, [attempt(loss.backward) for loss in losses]

    same(f)


# ---- reductions over no elements ------------------------------------------------------------------

INF = float("inf")
EMPTY_REDUCTIONS = {  # of zeros(2, 0, 3); the empty dim named as given (amax, amin) or wrapped
    "amax": [lambda T, x: x.amax(0), lambda T, x: x.amax(-2), lambda T, x: x.amax((2, 1)),
             lambda T, x: x.amax((-1, -2)), lambda T, x: x.amax(0, True), lambda T, x: x.amax(),
             lambda T, x: x.amax([])],
    "amin": [lambda T, x: x.amin(1), lambda T, x: x.amin([0, 1]), lambda T, x: x.amin()],
    "argmax": [lambda T, x: x.argmax(1), lambda T, x: x.argmax(-2),
               lambda T, x: x.argmax(-2, keepdim=True), lambda T, x: x.argmax()],
    "argmin": [lambda T, x: x.argmin(1), lambda T, x: x.argmin(-2), lambda T, x: x.argmin()],
    "max_min": [lambda T, x: x.max(1), lambda T, x: x.max(-2), lambda T, x: x.min(1, True),
                lambda T, x: x.min(-2), lambda T, x: x.max(), lambda T, x: x.min()],
    "selections": [lambda T, x: x.median(-2), lambda T, x: x.nanmedian(1),
                   lambda T, x: x.kthvalue(1, -2), lambda T, x: x.kthvalue(5, 1),
                   lambda T, x: x.mode(1)],
    "aminmax": [lambda T, x: T.aminmax(x, dim=-2), lambda T, x: T.aminmax(x)],
    "norm": [lambda T, x: x.norm(INF, dim=1), lambda T, x: x.norm(-INF, dim=(0, 1)),
             lambda T, x: x.norm(-0.5, dim=(-1, 2)), lambda T, x: x.norm(-2.0),
             lambda T, x: x.norm(INF), lambda T, x: x.norm(0.5, dim=1)],
    "quantile": [lambda T, x: x.quantile(0.5, dim=0), lambda T, x: x.nanquantile(0.5),
                 lambda T, x: x.nanquantile(2.0, dim=0),
                 lambda T, x: x.quantile(0.5, interpolation="x"),
                 lambda T, x: x.quantile(T.tensor([[2.0]])),
                 lambda T, x: T.ones(3, dtype=T.int64).nanquantile(T.tensor([2.0])),
                 lambda T, x: T.ones(3).nanquantile(T.tensor([2.0]), interpolation="x")],
    # ops with a value over no elements give it
    "identities": [lambda T, x: x.amax(0), lambda T, x: x.cummax(1), lambda T, x: x.cummin(0),
                   lambda T, x: x.sum(1), lambda T, x: x.prod(1), lambda T, x: x.logsumexp(1),
                   lambda T, x: x.mean(1), lambda T, x: x.mean(), lambda T, x: x.nanmean(1),
                   lambda T, x: T.zeros(0, dtype=T.int64).mean(dtype=T.float64),
                   lambda T, x: x.transpose(0, 1).amax(1), lambda T, x: x.transpose(0, 1).max(1)],
}


@pytest.mark.parametrize("name", sorted(EMPTY_REDUCTIONS))
def test_reductions_over_empty_dims_as_torch(name):
    """torch's errors where an op has no identity, its values where it has (and no warnings
    of numpy's)."""
    same(lambda T: [attempt(call, T, T.zeros(2, 0, 3)) for call in EMPTY_REDUCTIONS[name]])


@pytest.mark.parametrize("case", [
    lambda T: T.ones(1).std(), lambda T: T.ones(1).var(), lambda T: T.std_mean(T.ones(1)),
    lambda T: T.var_mean(T.ones(1)), lambda T: T.ones(3, 1).std(1),
    lambda T: T.ones(2).var(correction=2),
    lambda T: T.zeros(0, 3).std(0), lambda T: T.zeros(0, 3).var(1), lambda T: T.zeros(3, 0).var(0),
    lambda T: T.zeros(0).var(), lambda T: T.zeros(3, 0).std(1, keepdim=True),
    lambda T: T.ones(1).var(correction=0), lambda T: T.var_mean(T.zeros(3, 0), 0),
    lambda T: T.std_mean(T.ones(2, 3), 0, correction=2),
    lambda T: T.ones(2, 3).var(0, correction=3)])
def test_too_few_degrees_of_freedom_warn_in_the_ops_name(case):
    """torch's warning names the op (std, var_mean, ...), also for a reduction over no elements."""
    same(case)


def test_clamp_by_numbers_in_place_names_selfs_cpp_type():
    """clamp's Scalar overloads refuse a float bound on an integer self written in place
    (or out=self) naming self's C++ type ("long int"); other in-place ops, and clamp by
    tensors or into another out, name the dtype ("Long")."""
    def f(torch):
        out = []
        for d in (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64, torch.bool):
            def x():
                return torch.ones(3, dtype=d)
            t = x()
            out += [attempt(x().clamp_, 0.5, 2.5), attempt(x().clamp_, max=0.5),
                    attempt(x().clamp_min_, 0.5), attempt(x().clamp_max_, 0.5),
                    attempt(x().clip_, 0, 1.5), attempt(x().clamp_, 0, 1),
                    attempt(torch.clamp, t, 0.5, out=t), attempt(torch.clamp_min, t, 0.5, out=t),
                    attempt(torch.clamp, x(), 0.5, out=x()), attempt(x().add_, 0.5),
                    attempt(x().clamp_, torch.tensor(0.5))]
        return out

    same(f)


def test_quantile_parses_its_arguments_as_torchs_two_overloads():
    """quantile and nanquantile take q as a Tensor or a float (a bool or int too): a list,
    a string or None, or a wrong keyword's type, is torch's invalid-combination TypeError."""
    def f(torch):
        x = torch.arange(5.0)
        out = []
        for fn in (torch.quantile, torch.nanquantile):
            out += [attempt(fn, x, [0.5]), attempt(fn, x, (0.5, 0.2)), attempt(fn, x, "a"),
                    attempt(fn, x, None), attempt(fn, x, 1), attempt(fn, x, True),
                    attempt(fn, x, 0.5, dim=[0]), attempt(fn, x, 0.5, interpolation=3),
                    attempt(fn, x, q=[0.5], dim=0), attempt(fn, [1.0, 2.0], 0.5),
                    attempt(fn, x, 0.5, 0, True, "linear"),
                    attempt(fn, x, 0.5, 0, True, interpolation="lower"),
                    attempt(fn, x, torch.tensor([0.5, 0.2]), keepdim=True)]
        out += [attempt(x.quantile, [0.5]), attempt(x.nanquantile, [0.5]),
                attempt(x.quantile, 0.3, dim=0, keepdim=True), attempt(x.quantile, q=None)]
        return out

    same(f)


def test_inputs_torch_has_no_derivative_for_refuse_requiring_grad():
    """A loss's weight (BCE's weight and pos_weight, nll_loss's) and batch norm's running
    statistics: torch raises when one requires grad, in grad mode only."""
    def f(torch):
        F = torch.nn.functional
        x = torch.tensor([[0.2, 0.7, 0.4], [0.9, 0.1, 0.5]], requires_grad=True)
        p, w = x.detach(), torch.tensor([1.0, 2.0, 0.5], requires_grad=True)
        picks = torch.tensor([0, 2])
        cases = [lambda: F.binary_cross_entropy(x, p.flip(0), weight=w),
                 lambda: F.binary_cross_entropy(p, p.flip(0), weight=w),
                 lambda: F.binary_cross_entropy_with_logits(x, p, weight=w),
                 lambda: F.binary_cross_entropy_with_logits(x, p, pos_weight=w),
                 lambda: F.nll_loss(x, picks, weight=w),
                 lambda: F.nll_loss(p, picks, weight=w),
                 lambda: F.cross_entropy(x, picks, weight=w, label_smoothing=0.1),
                 lambda: F.nll_loss(x.view(2, 3, 1, 1), picks.view(2, 1, 1), weight=w),
                 lambda: F.multi_margin_loss(x, picks, weight=w),
                 lambda: F.batch_norm(x, w, w.detach(), training=True),
                 lambda: F.batch_norm(x, w.detach(), w, training=False)]
        out = [attempt(case) for case in cases]
        with torch.no_grad():
            out += [attempt(case) for case in cases]
        return out

    same(f)


@pytest.mark.parametrize("dtype", ["bool", "int64", "int8", "float16", "float32", "float64"])
def test_complex_numbers_in_place_and_as_alpha_are_refused_as_torch(dtype):
    """distgrad has no complex dtype: a complex alpha, a complex number written in place
    (add_, sub_, mul_, div_, +=) and a complex value or fill are torch's errors for a tensor
    that is not complex; alpha that is no Number is the method's TypeError."""
    def f(torch):
        def x():
            return torch.ones(2, dtype=getattr(torch, dtype))
        out = [attempt(x().add_, x(), alpha=1j), attempt(x().add, x(), alpha=1j),
               attempt(torch.add, x(), x(), alpha=2j), attempt(x().add_, 1j),
               attempt(x().mul_, 1j), attempt(x().div_, 2j), attempt(x().__iadd__, 1j),
               attempt(x().fill_, 1j), attempt(x().fill_, 1 + 0j),
               attempt(x().addcmul_, x(), x(), value=1j),
               attempt(x().add_, x(), alpha=None), attempt(x().sub, x(), alpha="a"),
               attempt(torch.add, x(), x(), alpha=torch.ones(2))]
        if dtype != "bool":
            out.append(attempt(x().sub_, 1j))
        return out

    same(f)


def test_a_wrong_alpha_is_told_after_the_operands_checks_as_torch():
    # torch's add and sub check their operands (sub's bools, the broadcast shape, in place
    # the written tensor's shape and dtype) before alpha
    def f(torch):
        ints, floats = torch.tensor([1, 2, 3]), torch.tensor([1.5, -2.5, 3.0])
        flags, one = torch.tensor([True, False, True]), torch.tensor(2)
        return [attempt(lambda: ints.clone().sub_(flags, alpha=True)),
                attempt(lambda: floats.clone().sub_(flags, alpha=True)),
                attempt(lambda: flags.clone().add_(ints, alpha=1.5)),
                attempt(lambda: one.clone().add_(ints, alpha=1.5)),
                attempt(lambda: torch.tensor(True).add_(ints, alpha=1.5)),
                attempt(lambda: torch.sub(ints, flags, alpha=True)),
                attempt(lambda: torch.add(ints, torch.ones(2, dtype=torch.long), alpha=1.5)),
                attempt(lambda: ints.clone().add_(ints, alpha=1.5)),
                attempt(lambda: floats.clone().add_(ints, alpha=True))]

    same(f)
