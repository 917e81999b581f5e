"""`autograd.graph.register_multi_grad_hook` against real torch, on torch's examples:
mode="all" waits for every gradient this backward computes, mode="any" fires once."""

from torch_twin import Recorder, attempt, same


def four(torch):
    torch.manual_seed(0)
    a = torch.tensor([[0.5, 1.5, -1.0], [2.0, 0.25, 0.75]], requires_grad=True)
    b = torch.tensor([[1.0, -0.5, 0.5], [0.25, 1.25, -2.0]], requires_grad=True)
    return a, b, a * b, a * b


def test_all_mode_torchs_example():
    def scenario(torch):
        rec = Recorder()
        a, b, c, d = four(torch)
        torch.autograd.graph.register_multi_grad_hook(
            (a, b, c, d), lambda grads: rec([g is not None for g in grads]))
        c.sum().backward(retain_graph=True)
        c.sum().backward(inputs=(a,), retain_graph=True)
        return rec

    expected, _ = same(scenario)
    assert expected == [[True, True, True, False], [True, False, True, False]]


def test_all_mode_passes_the_gradients_and_runs_once_per_backward():
    def scenario(torch):
        rec = Recorder()
        a, b, c, d = four(torch)
        handle = torch.autograd.graph.register_multi_grad_hook((a, c), lambda grads: rec(grads))
        (c * d).sum().backward(retain_graph=True)
        rec("grad", torch.autograd.grad(c.sum(), b, retain_graph=True))
        handle.remove()
        (c * d).sum().backward()
        return rec

    same(scenario)


def test_any_mode_fires_with_the_first_gradient():
    def scenario(torch):
        rec = Recorder()
        a, b, c, d = four(torch)
        torch.autograd.graph.register_multi_grad_hook((a, b, c), lambda g: rec(g), mode="any")
        (c + d).sum().backward(retain_graph=True)
        (d * 2).sum().backward()
        return rec

    same(scenario)


def test_an_unknown_mode():
    def scenario(torch):
        a, b, c, d = four(torch)
        return attempt(torch.autograd.graph.register_multi_grad_hook, (a,), print, mode="some")

    same(scenario)



def test_all_mode_over_a_leaf_refuses_autograd_grad_but_not_backward_inputs():
    def f(torch):
        a = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
        b = torch.tensor([1.5, 0.25, -0.5], requires_grad=True)
        seen = []
        torch.autograd.graph.register_multi_grad_hook(
            (a, b), lambda grads: seen.append([g is not None for g in grads]))
        (a * b).sum().backward(inputs=[a])
        refused = attempt(torch.autograd.grad, (a * b).sum(), [a])
        unused = attempt(torch.autograd.grad, (b * 2).sum(), [a, b], allow_unused=True)
        return seen, refused, unused

    same(f)


def test_all_mode_over_the_backward_root_counts_it_out_of_the_graph():
    """torch's graph of a backward from one tensor starts at that tensor's node and does not
    count it among the nodes it will run: a hook over it and a tensor before it fires once
    for each; over the root alone (y.backward from y) it never fires. From two roots, a
    dummy node joins them and both count."""
    def scenario(torch):
        rec = Recorder()
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        z = y.sum()
        torch.autograd.graph.register_multi_grad_hook(
            (y, z), lambda grads: rec([None if g is None else g.tolist() for g in grads]))
        z.backward(retain_graph=True)
        rec("from y")
        y.backward(torch.ones(2), retain_graph=True)
        rec("from both")
        torch.autograd.backward([z, y], [torch.tensor(1.0), torch.ones(2)], retain_graph=True)
        rec("grad")
        rec(torch.autograd.grad(z, (x, y), retain_graph=True))
        return rec

    expected, _ = same(scenario)
    assert expected[0] == [None, 1.0] and expected[2] == "from y" and expected[3] == "from both"


def test_all_mode_asserts_every_tensor_has_a_node_for_its_gradient():
    """A tensor that requires no grad, or a view made under no_grad (it requires grad, yet
    no edge leads from it), has no node: mode "all" asserts, mode "any" leaves it out."""
    def f(torch):
        a = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
        b = a * 2
        with torch.no_grad():
            flat = b.view(-1)
        register = torch.autograd.graph.register_multi_grad_hook
        return [(attempt(register, (t, b), print), attempt(register, (t, b), print, mode="any")
                 is not None) for t in (flat, torch.ones(3))]

    same(f)
