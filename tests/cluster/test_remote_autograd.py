"""Autograd with leaves on workers gives PyTorch's numbers, on both backends."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist

DEVICES = ["cpu", "worker:0", "worker:1"]


def _dg_leaf(arr, device):
    return dg.tensor(arr, device=device, requires_grad=True)


def test_tutorial_on_workers(backend):
    rng = np.random.default_rng(0)
    w_np = rng.standard_normal((5, 3)).astype(np.float32)
    b_np = rng.standard_normal(3).astype(np.float32)

    x = dg.ones(5, device="worker:0")
    y = dg.zeros(3, device="worker:1")
    w = dg.tensor(w_np, device="worker:1", requires_grad=True)
    b = dg.tensor(b_np, device="worker:1", requires_grad=True)
    z = dg.matmul(x.to("worker:1"), w) + b
    loss = dg.nn.functional.binary_cross_entropy_with_logits(z, y)
    assert z.grad_fn.name() == "AddBackward0"
    assert loss.grad_fn.name() == "BinaryCrossEntropyWithLogitsBackward0"
    loss.backward()

    tw = torch.tensor(w_np, requires_grad=True)
    tb = torch.tensor(b_np, requires_grad=True)
    tz = torch.matmul(torch.ones(5), tw) + tb
    tl = torch.nn.functional.binary_cross_entropy_with_logits(tz, torch.zeros(3))
    tl.backward()
    assert w.grad.device_str == "worker:1"
    np.testing.assert_allclose(w.grad.cpu().numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.grad.cpu().numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert repr(w.grad) == repr(tw.grad)[:-1] + ", device='worker:1')"
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-6)


_UNARY = ["exp", "tanh", "sigmoid", "sin", "relu"]
_BINARY = ["add", "mul", "sub", "mm"]


def _random_program(seed, n_ops=12):
    """A random DAG over 3 leaves: (op, operand indices, device) steps."""
    rng = np.random.default_rng(seed)
    steps = []
    n = 3
    for _ in range(n_ops):
        if rng.random() < 0.4:
            steps.append((str(rng.choice(_UNARY)), (int(rng.integers(n)),), DEVICES[rng.integers(3)]))
        else:
            a, b = rng.integers(n, size=2)
            steps.append((str(rng.choice(_BINARY)), (int(a), int(b)), DEVICES[rng.integers(3)]))
        n += 1
    return steps


def _run_program(steps, leaves, mod, move):
    vals = list(leaves)
    for op, args, device in steps:
        operands = [move(vals[i], device) for i in args]
        if op == "mm":
            out = operands[0].mm(operands[1]) * 0.3
        elif op in _UNARY:
            out = getattr(operands[0], op)()
        else:
            out = getattr(operands[0], op)(operands[1])
        vals.append(out)
    total = None
    for v in vals[3:]:
        s = move(v, "cpu").sum() if total is None or True else None
        total = s if total is None else total + s
    return total


@pytest.mark.parametrize("seed", range(8))
def test_random_dags_match_torch(backend, seed):
    rng = np.random.default_rng(100 + seed)
    arrays = [rng.standard_normal((3, 3)).astype(np.float32) * 0.5 for _ in range(3)]
    leaf_devices = [DEVICES[i % 3] for i in range(seed, seed + 3)]
    steps = _random_program(seed)

    leaves = [_dg_leaf(a, d) for a, d in zip(arrays, leaf_devices)]
    out = _run_program(steps, leaves, dg, lambda t, d: t.to(d))
    out.backward()

    tleaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = _run_program(steps, tleaves, torch, lambda t, d: t)
    tout.backward()
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-4)
    for leaf, tleaf, d in zip(leaves, tleaves, leaf_devices):
        if tleaf.grad is None:
            assert leaf.grad is None
            continue
        assert leaf.grad.device_str == d
        np.testing.assert_allclose(leaf.grad.cpu().numpy(), tleaf.grad.numpy(), rtol=1e-4,
                                   atol=1e-5)


def test_second_order_across_workers(backend):
    x = dg.tensor([0.5, -1.0, 2.0], device="worker:0", requires_grad=True)
    y = (x.exp().to("worker:1") * 3).sin().sum()
    (g,) = dg.autograd.grad(y, x, create_graph=True)
    assert g.device_str == "worker:0"
    (gg,) = dg.autograd.grad(g.sum(), x)

    tx = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    ty = ((tx.exp() * 3).sin()).sum()
    (tg,) = torch.autograd.grad(ty, tx, create_graph=True)
    (tgg,) = torch.autograd.grad(tg.sum(), tx)
    np.testing.assert_allclose(g.detach().cpu().numpy(), tg.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(gg.cpu().numpy(), tgg.numpy(), rtol=1e-4)


def test_retain_graph_and_second_backward_error(backend):
    x = dg.tensor([1.0, 2.0], device="worker:1", requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_hook_on_worker_tensor_runs_in_driver(backend):
    seen = []
    x = dg.tensor([1.0, 2.0], device="worker:0", requires_grad=True)
    h = x * 2
    h.register_hook(lambda g: seen.append(g.device_str) or g * 10)
    h.sum().backward()
    assert seen == ["worker:0"]
    np.testing.assert_allclose(x.grad.cpu().numpy(), [20.0, 20.0])


def test_nodes_that_do_not_lead_to_inputs_never_run(backend):
    # torch.distributed.autograd waits for every remote branch; here only the needed run.
    x = dg.tensor([1.0, 2.0], device="worker:0", requires_grad=True)
    a = dg.tensor([3.0], device="worker:1", requires_grad=True)
    moved = a.to("worker:0")
    calls = []
    moved.grad_fn.register_prehook(lambda g: calls.append(1))
    total = (x * 3).sum() + (moved * x).sum()
    (gx,) = dg.autograd.grad(total, [x], retain_graph=True)
    assert calls == []
    np.testing.assert_allclose(gx.cpu().numpy(), [6.0, 6.0])
    (ga,) = dg.autograd.grad(total, [a])
    assert calls == [1]
    np.testing.assert_allclose(ga.cpu().numpy(), [3.0])


def test_mixed_device_op_raises_torch_error(backend):
    a = dg.ones(2, device="worker:0")
    b = dg.ones(2, device="worker:1")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        a + b
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        a + dg.ones(2)


def test_bad_device_names_the_workers(backend):
    with pytest.raises(RuntimeError, match="worker:7"):
        dg.ones(2, device="worker:7")


def test_optimizer_step_updates_where_parameters_live(backend):
    w = dg.tensor([[1.0, 2.0], [3.0, 4.0]], device="worker:1", requires_grad=True)
    opt = dg.optim.SGD([w], lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    tw = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    for _ in range(3):
        topt.zero_grad()
        (tw * tw).sum().backward()
        topt.step()
    assert w.device_str == "worker:1"
    np.testing.assert_allclose(w.detach().cpu().numpy(), tw.detach().numpy(), rtol=1e-5)


def test_in_place_write_to_a_sent_tensor_is_seen_through_its_views(backend):
    """A tensor sent from the driver arrives read-only (Ray's object store): writing to it
    copies its memory once, and views taken before the write follow it, as in torch."""
    base_np = np.arange(12.0).reshape(3, 4)
    for make in (lambda b: b[1:], lambda b: b.t(), lambda b: b.reshape(12)[::2]):
        base = dg.tensor(base_np, device="worker:1")
        tb = torch.tensor(base_np)
        view, tview = make(base), make(tb)
        base.mul_(2)
        view.add_(1)  # and back: a write through the view reaches the base
        tb.mul_(2)
        tview.add_(1)
        np.testing.assert_array_equal(base.cpu().numpy(), tb.numpy())
        np.testing.assert_array_equal(view.cpu().numpy(), tview.numpy())


def test_a_driver_scalar_used_with_a_worker_tensor_gets_its_gradient_in_the_driver(backend):
    # torch lets a 0-dim CPU tensor meet a CUDA one; its gradient is moved back to the CPU
    def run(T, device):
        x = T.tensor([[-1.89, 0.72], [0.16, 1.91]], dtype=T.float64, requires_grad=True)
        total = x.sum()
        diff = x.to(device) - total
        loss = (diff * diff).sum().cpu()
        g, = T.autograd.grad(loss, [x], create_graph=True)
        gg, = T.autograd.grad(g.sum(), [x])
        return g.detach().cpu().numpy(), gg.cpu().numpy()

    for ours, theirs in zip(run(dg, "worker:0"), run(torch, "cpu")):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


_LAYOUTS = {  # how x is laid out before the move: torch's .to() keeps a dense tensor's strides
    "transposed": lambda lib, a: lib.tensor(a.reshape(4, 6)).t(),
    "permuted": lambda lib, a: lib.tensor(a.reshape(2, 3, 4)).permute(2, 0, 1),
    "with gaps": lambda lib, a: lib.tensor(a.reshape(4, 6))[:, ::2],  # not dense: row-major
    "row-major": lambda lib, a: lib.tensor(a.reshape(4, 6)),
}


@pytest.mark.parametrize("how", list(_LAYOUTS))
@pytest.mark.parametrize("route", ["driver to worker", "worker to driver", "worker to worker"])
def test_a_move_lays_the_copy_out_as_torch_does(backend, how, route):
    """`.to()` copies as torch does (preserve_format): the strides it reports, whether a
    reshape of the copy is a view (a write through it reaches the copy), and the values
    and gradient, on every route."""
    src, dst = {"driver to worker": ("cpu", "worker:0"), "worker to driver": ("worker:0", "cpu"),
                "worker to worker": ("worker:0", "worker:1")}[route]
    a = np.arange(24, dtype=np.float32)

    def run(lib, src, dst):
        x = _LAYOUTS[how](lib, a).to(src).detach().requires_grad_()
        y = x.to(dst, copy=True)  # (torch's reference runs cpu to cpu: a copy all the same)
        seen = (tuple(y.stride()), y.is_contiguous(), y.tolist())
        (y * lib.arange(y.numel(), dtype=lib.float32).reshape(y.shape).to(dst)).sum().backward()
        z = y.detach()
        flat = z.reshape(-1)
        with lib.no_grad():
            flat[1] = 100.0  # reaches z only if the reshape is a view
        return seen, z.tolist(), x.grad.tolist()

    assert run(dg, src, dst) == run(torch, "cpu", "cpu")
