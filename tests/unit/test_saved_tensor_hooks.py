"""Saved-tensor hooks (`autograd.graph.saved_tensors_hooks`, `save_on_cpu`,
`disable_saved_tensors_hooks`) against real torch: which tensors pack and unpack receive,
in which order, what backward computes with what unpack gives back, and torch's errors."""

import pytest

from torch_twin import Raised, Recorder, attempt, grad_of, node_name, same

A = [0.5, -1.25, 2.0]
B = [1.5, 0.25, -0.75]


def leaves(torch):
    a = torch.tensor(A, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(B, dtype=torch.float64, requires_grad=True)
    return a, b


def seen(t):
    """What a hook is shown of a tensor: its values and its place in the graph."""
    return (t.detach().tolist(), node_name(t.grad_fn), t.requires_grad, t.is_leaf,
            t._base is not None)


def logging_hooks(rec):
    def pack(x):
        rec("pack", seen(x))
        return x

    def unpack(x):
        rec("unpack", seen(x))
        return x

    return pack, unpack


def scale_function(torch):
    class Scale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            out = x * y
            ctx.save_for_backward(x, out)
            return out

        @staticmethod
        def backward(ctx, g):
            x, out = ctx.saved_tensors
            return g * out, g * x

    return Scale


def test_pack_and_unpack_order_for_ops_a_function_and_a_view():
    def scenario(torch):
        rec = Recorder()
        a, b = leaves(torch)
        with torch.autograd.graph.saved_tensors_hooks(*logging_hooks(rec)):
            c = a * b
            rec("mul")
            d = c.exp()  # saves its output
            rec("exp")
            v = d[1:]  # a view: saves nothing
            rec("view")
            e = scale_function(torch).apply(v, b[:2])  # saves an input view and its output
            rec("function")
            f = (e.tanh() * a[:2]).sum()
            rec("tanh, mul")
        f.backward()
        return rec, a.grad, b.grad

    same(scenario)


def test_nested_blocks_use_the_innermost_hooks():
    def scenario(torch):
        rec = Recorder()
        a, b = leaves(torch)
        with torch.autograd.graph.saved_tensors_hooks(lambda x: rec("outer") or x,
                                                      lambda x: rec("outer unpack") or x):
            y = a.sin()
            with torch.autograd.graph.saved_tensors_hooks(lambda x: rec("inner") or x * 2,
                                                          lambda x: rec("inner unpack") or x / 2):
                z = b.cos()
            w = y * z
        w.sum().backward()
        return rec, a.grad, b.grad

    same(scenario)


def test_what_unpack_returns_is_what_backward_uses_and_pack_runs_without_grad():
    def scenario(torch):
        rec = Recorder()
        a, b = leaves(torch)

        def pack(x):
            rec("grad mode in pack", torch.is_grad_enabled())
            inner = x * x  # records nothing, and saves nothing
            rec("inner", inner.requires_grad)
            return x.detach() * 10

        def unpack(x):
            rec("grad mode in unpack", torch.is_grad_enabled())
            return x / 5  # twice the saved value

        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = (a * b).sum()
        g = torch.autograd.grad(y, a, create_graph=True)[0]
        return rec, g

    same(scenario)


def test_unpacked_tensors_carry_the_saved_tensors_history():
    def scenario(torch):
        a, b = leaves(torch)
        with torch.autograd.graph.saved_tensors_hooks(lambda x: x, lambda x: x):
            s = a.sin()
            e = (a * b).exp()
        self_ = s.grad_fn._saved_self
        result = e.grad_fn._saved_result
        out = [self_ is a, seen(self_), result is e, seen(result)]
        # a graph of the gradient goes through the unpacked tensors' histories
        g = torch.autograd.grad(e.sum(), a, create_graph=True)[0]
        out.append(torch.autograd.grad(g.sum(), b)[0])
        return out

    same(scenario)


def test_hooks_on_a_custom_functions_saved_tensors_and_a_leaf_view():
    def scenario(torch):
        rec = Recorder()
        a, b = leaves(torch)
        with torch.autograd.graph.saved_tensors_hooks(*logging_hooks(rec)):
            y = scale_function(torch).apply(a[:2], b[1:])
        rec("saved_tensors", [seen(t) for t in y.grad_fn.saved_tensors])
        y.sum().backward()
        return rec, a.grad, b.grad

    same(scenario)


def test_save_on_cpu_gives_the_same_gradients_including_second_order():
    def scenario(torch):
        a, b = leaves(torch)
        with torch.autograd.graph.save_on_cpu():
            y = (a.exp() * b.sin() / (a * a + 1)).sum()
        ga, gb = torch.autograd.grad(y, (a, b), create_graph=True)
        return ga, gb, torch.autograd.grad((ga * gb).sum(), (a, b))

    same(scenario)


def test_save_on_cpu_with_pin_memory():
    def scenario(torch):
        a, b = leaves(torch)
        with torch.autograd.graph.save_on_cpu(pin_memory=True):
            (a * b).pow(3).sum().backward()
        return a.grad, b.grad

    same(scenario)


def test_unpack_must_return_a_tensor():
    def scenario(torch):
        a, _ = leaves(torch)
        with torch.autograd.graph.saved_tensors_hooks(lambda x: x, lambda x: 3):
            y = (a * a).sum()
        return attempt(y.backward)

    expected, _ = same(scenario)
    assert isinstance(expected, Raised) and expected.type == "TypeError"


def test_an_in_place_write_after_packing_is_not_detected():
    # Without hooks the same write raises the in-place error; with hooks torch does not check.
    def scenario(torch):
        a, _ = leaves(torch)
        out = []
        for hooks in [None, (lambda x: x.clone(), lambda x: x), (lambda x: x, lambda x: x)]:
            w = a * 1
            if hooks is None:
                z = (w * w).sum()
            else:
                with torch.autograd.graph.saved_tensors_hooks(*hooks):
                    z = (w * w).sum()
            with torch.no_grad():
                w.add_(1)
            a.grad = None
            out.append(attempt(z.backward))
            out.append(grad_of(a))
        return out

    expected, _ = same(scenario, prefix=40)
    assert isinstance(expected[0], Raised) and not isinstance(expected[2], Raised)


def test_an_in_place_op_packs_the_written_tensor_after_its_write():
    # torch's relu_ packs self as it is once written (its version, a view's regenerated
    # history), and backward reads what unpack gives: here, the values after a later write
    def scenario(torch):
        rec = Recorder()
        a, _ = leaves(torch)
        pack, unpack = logging_hooks(rec)
        versions = []
        out = []
        for through_view in (False, True):
            w = a * 1
            target = w[1:] if through_view else w
            with torch.autograd.graph.saved_tensors_hooks(
                    lambda x: versions.append(x._version) or pack(x), unpack):
                target.sigmoid_()
            w.mul_(3)  # (not checked: what was saved went through the hooks)
            w.sum().backward()
            out.append(grad_of(a))
            a.grad = None
        return rec, versions, out

    same(scenario)


@pytest.mark.parametrize("write", ["mul_", "div_", "mul_ of a tensor needing no grad",
                                   "mul_ through a view"])
def test_an_in_place_op_packs_the_original_of_the_written_tensor_once(write):
    # torch's mul_ saves a clone of self as it was (`original_self`, CloneBackward0), packed
    # once; the input it reads is not packed besides
    def scenario(torch):
        rec = Recorder()
        a, b = leaves(torch)
        pack, unpack = logging_hooks(rec)
        y = torch.ones(3, dtype=torch.float64) if "no grad" in write else a * 3
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            target = y[1:] if "view" in write else y
            getattr(target, write.split()[0])(b[1:] if "view" in write else b)
        (y * 1).sum().backward()
        return rec, grad_of(a), grad_of(b)

    same(scenario)


def test_disable_saved_tensors_hooks():
    def scenario(torch):
        out = []
        with torch.autograd.graph.disable_saved_tensors_hooks("no hooks here"):
            out.append(attempt(torch.autograd.graph.saved_tensors_hooks(
                lambda x: x, lambda x: x).__enter__))
            a, _ = leaves(torch)
            out.append(a.exp())
        with torch.autograd.graph.saved_tensors_hooks(lambda x: x, lambda x: x):
            out.append(attempt(torch.autograd.graph.disable_saved_tensors_hooks("set").__enter__))
        return out

    same(scenario)


def test_no_hooks_outside_the_block():
    def scenario(torch):
        rec = Recorder()
        a, b = leaves(torch)
        with torch.autograd.graph.saved_tensors_hooks(*logging_hooks(rec)):
            pass
        (a * b).sum().backward()
        return rec, a.grad

    same(scenario)


@pytest.mark.parametrize("op", ["mul", "div", "atan2", "maximum", "pow", "mm"])
def test_binary_ops_pack_their_inputs_last_first(op):
    def scenario(torch):
        rec = Recorder()
        a = torch.tensor([[0.5, 1.5], [2.0, 0.75]], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([[1.25, 0.5], [0.25, 1.0]], dtype=torch.float64, requires_grad=True)
        names = {id(a): "a", id(b): "b"}
        with torch.autograd.graph.saved_tensors_hooks(
                lambda x: rec(names.get(id(x), node_name(x.grad_fn))) or x, lambda x: x):
            y = getattr(torch, op)(a, b)
        y.sum().backward()
        return rec, a.grad, b.grad

    same(scenario)


def test_hooks_registered_on_one_saved_tensor_of_a_node():
    # grad_fn._raw_saved_self / _raw_saved_result: torch's SavedTensor, packed at once
    def scenario(torch):
        a, _ = leaves(torch)
        rec = Recorder()
        y = a.pow(2)
        y.grad_fn._raw_saved_self.register_hooks(
            lambda x: (rec("pack", seen(x)), x * 2)[1], lambda x: (rec("unpack", seen(x)), x)[1])
        again = attempt(y.grad_fn._raw_saved_self.register_hooks, lambda x: x, lambda x: x)
        y.sum().backward(retain_graph=True)
        e = a.exp()
        e.grad_fn._raw_saved_result.register_hooks(lambda x: (rec("pack", seen(x)), x)[1],
                                                   lambda x: x * 3)
        e.sum().backward()
        freed = attempt(e.grad_fn._raw_saved_result.register_hooks, lambda x: x, lambda x: x)
        not_callable = attempt(a.sin().grad_fn._raw_saved_self.register_hooks, 1, 2)
        return rec, again, a.grad, freed, type(not_callable).__name__

    same(scenario, prefix=150)


def test_allow_mutation_on_saved_tensors():
    def f(torch):
        graph = torch.autograd.graph
        a = torch.tensor([[0.5, -1.0, 2.0], [0.3, 0.1, -0.7]], requires_grad=True)
        with graph.allow_mutation_on_saved_tensors() as ctx:
            b = a.clone()
            out = (b ** 2).sum()
            b.sin_()  # saved by pow: backward gets it as it was
            out.backward()
            first = a.grad.clone()
            v = a.clone()
            e = v.exp()
            v[0].mul_(3)  # a view's write, the saved result untouched
            e.sum().backward()
            nested = attempt(lambda: graph.allow_mutation_on_saved_tensors().__enter__())
        with graph.allow_mutation_on_saved_tensors():
            y = (a.clone() * a).sum()
        outside = attempt(y.backward)
        return type(ctx).__name__, first, a.grad, nested, outside

    same(f)


def test_gradients_summed_under_allow_mutation_on_saved_tensors_are_new_tensors():
    # (torch's dispatch mode holds each gradient too: none is summed into in place)
    def f(torch):
        x = torch.tensor([[1.55, 0.1, -0.93], [-1.45, 0.01, -0.98]], requires_grad=True)
        outside = torch.autograd.grad((x * x)[0].tanh().sum(), x)[0]
        with torch.autograd.graph.allow_mutation_on_saved_tensors():
            inside = torch.autograd.grad((x * x)[0].tanh().sum(), x)[0]
        return outside._version, inside._version, inside

    same(f)


def test_binary_ops_save_only_what_the_inputs_needing_a_gradient_read():
    def f(torch):
        x = torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
        c = torch.tensor([[1.5, 0.5], [-2.0, 4.0]])
        packed = []

        def pack(t):
            packed.append(tuple(t.shape))
            return t

        counts = []
        for op in (lambda: x * c, lambda: c * x, lambda: x / c, lambda: c / x, lambda: x * 2,
                   lambda: x / 2, lambda: torch.bmm(x[None], c[None]), lambda: x * x):
            packed.clear()
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                y = op()
            counts.append(len(packed))
        y = x * c
        return counts, y.grad_fn._saved_self, y.grad_fn._saved_other

    same(f)


@pytest.mark.parametrize("variant", ["plain", "bool_mask", "float_mask", "causal", "bfloat16"])
def test_attention_packs_what_torchs_kernel_node_saves(variant):
    # the CPU flash kernel's node saves five tensors (six with a mask), packed by name:
    # attn_mask (a boolean one made additive, in the query's dtype), key, query, value, the
    # logsumexp of each query's scores (float for bfloat16), the output
    def scenario(torch):
        rec = Recorder()
        dtype = torch.bfloat16 if variant == "bfloat16" else torch.float32
        q, k, v = (torch.tensor(values, dtype=dtype).reshape(1, 2, 3, 2).requires_grad_()
                   for values in ([0.5, -1.0, 0.25, 2.0, 1.5, -0.5] * 2,
                                  [1.0, 0.5, -0.25, 0.75, -1.5, 0.5] * 2,
                                  [2.0, -0.5, 1.0, 0.25, 0.5, -1.0] * 2))
        mask = {"bool_mask": torch.tensor([[True, False, True], [True, True, False],
                                           [False, False, False]]),
                "float_mask": torch.tensor([[0.0, -1.0, 0.5]] * 3)}.get(variant)
        names = {id(q): "q", id(k): "k", id(v): "v"}

        def pack(t):
            rec(names.get(id(t)), tuple(t.shape), str(t.dtype), node_name(t.grad_fn),
                t.detach().float().tolist())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=variant == "causal")
        out.float().sum().backward()
        return rec, q.grad.float(), k.grad.float(), v.grad.float()

    theirs, _ = same(scenario, rtol=1e-4, atol=1e-5)
    assert len(theirs[0]) == (5 if variant in ("plain", "causal", "bfloat16") else 6)


@pytest.mark.parametrize("op", ["linear", "conv1d", "layer_norm", "batch_norm", "group_norm"])
def test_a_layers_node_packs_its_inputs_in_torchs_order(op):
    # torch's codegen saves a node's inputs by argument name (addmm's mat1 before mat2;
    # convolution's input before weight; layer norm's bias, input, weight; batch norm's
    # input, weight)
    def scenario(torch):
        F = torch.nn.functional
        x = torch.tensor([[0.5, -1.0, 2.0, 0.25], [1.5, 0.3, -0.7, 0.9]], requires_grad=True)
        w = torch.tensor([1.0, 0.5, -0.5, 2.0], requires_grad=True)
        b = torch.tensor([0.1, 0.2, 0.3, 0.4], requires_grad=True)
        m = w.reshape(2, 2)
        names = {id(t): n for n, t in (("x", x), ("w", w), ("b", b), ("m", m))}
        rec = Recorder()
        with torch.autograd.graph.saved_tensors_hooks(
                lambda t: rec(names.get(id(t), tuple(t.shape))) or t, lambda t: t):
            y = {"linear": lambda: F.linear(x, m.repeat(1, 2), b[:2]),
                 "conv1d": lambda: F.conv1d(x[None], m.repeat(2, 1)[:, :, None], b),
                 "layer_norm": lambda: F.layer_norm(x, (4,), w, b),
                 "batch_norm": lambda: F.batch_norm(x, None, None, w, b, training=True),
                 "group_norm": lambda: F.group_norm(x, 2, w, b)}[op]()
        y.sum().backward()
        return rec, x.grad

    same(scenario)


@pytest.mark.parametrize("op", ["addmm", "layer_norm", "batch_norm", "conv1d", "sort", "max",
                                "cummax", "attention"])
def test_a_node_shows_what_it_saved_under_torchs_names(op):
    # grad_fn._saved_<name>, by the names of torch's derivatives.yaml: addmm's mat1 and
    # mat2, layer norm's input, weight and bias, the indices of sort and max along a dim
    names = {"addmm": ("mat1", "mat2"), "layer_norm": ("input", "weight", "bias"),
             "batch_norm": ("input", "weight"), "conv1d": ("input", "weight"),
             "sort": ("indices",), "max": ("indices",), "cummax": ("self", "indices"),
             "attention": ("query", "key", "value", "output", "logsumexp")}[op]

    def scenario(torch):
        F = torch.nn.functional
        x = torch.tensor([[0.5, -1.0, 2.0, 0.25], [1.5, 0.3, -0.7, 0.9]], requires_grad=True)
        w = torch.tensor([1.0, 0.5, -0.5, 2.0], requires_grad=True)
        m = w.reshape(2, 2).repeat(2, 1)
        q = x.reshape(1, 1, 2, 4)
        y = {"addmm": lambda: torch.addmm(w[:2], x, m),
             "layer_norm": lambda: F.layer_norm(x, (4,), w, w * 2),
             "batch_norm": lambda: F.batch_norm(x, None, None, w, w * 2, training=True),
             "conv1d": lambda: F.conv1d(x[None], m.t().reshape(2, 2, 2)),
             "sort": lambda: x.sort(1)[0], "max": lambda: x.max(1)[0],
             "cummax": lambda: x.cummax(1)[0],
             "attention": lambda: F.scaled_dot_product_attention(q, q * 2, q * 3)}[op]()
        known = {id(x): "x", id(w): "w", id(m): "m", id(q): "q"}
        shown = []
        for name in names:
            t = getattr(y.grad_fn, "_saved_" + name)
            shown.append((name, known.get(id(t), None if t is None else tuple(t.shape))))
        y.sum().backward()
        return shown

    same(scenario)
