"""The device API as torch has it on a machine without an accelerator: `accelerator`,
`set_default_device` / `get_default_device`, `device` objects for every device string,
`autograd.Variable` and `initial_seed`, each against torch; and a default device of
"worker:K" putting new tensors on that worker (in-process workers)."""
from __future__ import annotations

import numpy as np
import pytest

import distgrad
from torch_twin import attempt, same


def test_accelerator_is_absent():
    def f(torch):
        acc = torch.accelerator
        return (acc.is_available(), acc.current_accelerator(), acc.current_accelerator(True),
                acc.device_count(), attempt(acc.current_device_index),
                attempt(acc.set_device_index, 0), attempt(acc.synchronize))

    same(f)


def test_code_choosing_a_device_takes_the_cpu_path():
    def f(torch):
        kind = (torch.accelerator.current_accelerator().type if torch.accelerator.is_available()
                else "cpu")
        torch.set_default_device(kind)
        try:
            t = torch.linspace(0.0, 1.0, 5)
            return kind, t.device, torch.get_default_device(), t.sin().sum().item()
        finally:
            torch.set_default_device(None)

    same(f)


@pytest.mark.parametrize("spec", ["cpu", "cpu:0", "cuda", "cuda:1", "meta", "mps", "xpu",
                                  ("cuda", 2), ("cpu", 0)])
def test_device_objects(spec):
    def f(torch):
        d = torch.device(*spec) if isinstance(spec, tuple) else torch.device(spec)
        return repr(d), str(d), d.type, d.index, d == torch.device(str(d)), hash(d) == hash(
            torch.device(str(d)))

    same(f)


def test_a_device_equals_devices_only():
    """torch's device is not equal to its name: `t.device == "cpu"` is False (a check
    users write, which always takes torch's other branch); `in` and `!=` follow."""
    def f(torch):
        d, t = torch.device("cpu"), torch.zeros(1)
        return (d == "cpu", "cpu" == d, d != "cpu", d in ("cpu", "meta"), t.device == "cpu",
                t.device == d, d == 0, d != torch.device("meta"), d in [torch.device("cpu")])

    same(f)


@pytest.mark.parametrize("spec", ["foo", "cuda:x", ("cpu", -1), 0, "float33", "cuda0",
                                  "cuda:01", ":0", ""])
def test_device_strings_torch_refuses(spec):
    def f(torch):
        return attempt(torch.device, *spec) if isinstance(spec, tuple) else attempt(
            torch.device, spec)

    same(f, prefix=60)  # distgrad's list of device types goes on with "worker"


@pytest.mark.parametrize("spec", ["cuda", "cuda:1", "xpu", "float33", "gpu", "cpu:x", "",
                                  "cpu:1", "meta:2"])
def test_tensors_put_on_a_device_this_build_lacks_fail_as_torchs(spec):
    """`model.to("cuda")` on a machine without one: torch's AssertionError; a string that
    names no device (a dtype's name passed as a device): torch's parse error, from every
    function taking a device."""
    def f(torch):
        return [attempt(lambda: torch.zeros(2).to(spec).device),
                attempt(lambda: torch.zeros(2, device=spec).device),
                attempt(lambda: torch.tensor([1.0], device=spec).device)]

    same(f, prefix=60)


def test_worker_is_a_device():
    d = distgrad.device("worker:1")
    assert (repr(d), d.type, d.index) == ("device(type='worker', index=1)", "worker", 1)


def test_default_device_round_trip():
    def f(torch):
        before = torch.get_default_device()
        torch.set_default_device("cpu")
        during = torch.get_default_device(), torch.ones(2).device, torch.zeros(1).device
        torch.set_default_device(None)
        return before, during, torch.get_default_device()

    same(f)


def test_variable_as_torch_keeps_it():
    def f(torch):
        from_mod = torch.autograd.Variable
        x = torch.ones(3)
        v = from_mod(x, requires_grad=True)
        w = from_mod(x)
        w.add_(1)  # shares x's memory and version counter
        y = torch.ones(2, requires_grad=True) * 2
        z = from_mod(y)  # detached from y's graph
        v.sum().backward()
        return (v, v is x, v.is_leaf, v.grad, x, x._version, w._version,
                isinstance(x, from_mod), isinstance(3, from_mod), z.requires_grad, z.grad_fn,
                from_mod(), from_mod.__name__, attempt(from_mod, 5), attempt(from_mod, [1.0]),
                attempt(from_mod, torch.tensor([1, 2]), requires_grad=True))

    same(f)


def test_initial_seed_is_the_manual_seed():
    def f(torch):
        torch.manual_seed(1234)
        first = torch.initial_seed()
        torch.manual_seed(7)
        return first, torch.initial_seed()

    same(f)


@pytest.fixture
def workers():
    """Two workers: the runtime a cluster test left running if it has them, else in-process
    ones of our own."""
    import distgrad.distributed as dist

    own = not (dist.is_initialized() and dist.num_workers() >= 2)
    if own:
        if dist.is_initialized():
            dist.shutdown()
        dist.init(num_workers=2, backend="local")
    try:
        yield
    finally:
        distgrad.set_default_device(None)
        if own:
            dist.shutdown()


def test_default_device_worker_places_new_tensors(workers):
    distgrad.set_default_device("worker:1")
    assert repr(distgrad.get_default_device()) == "device(type='worker', index=1)"
    made = [distgrad.ones(2), distgrad.zeros(2), distgrad.randn(2), distgrad.tensor([1.0]),
            distgrad.arange(3), distgrad.linspace(0, 1, 4), distgrad.full((2,), 3.0),
            distgrad.eye(2), distgrad.nn.Linear(3, 2).weight]
    assert [t.device_str for t in made] == ["worker:1"] * len(made)
    # an explicit device= wins; from_numpy shares the array's memory, so stays in the driver
    assert distgrad.ones(1, device="cpu").device_str == "cpu"
    assert distgrad.from_numpy(np.ones(2)).device_str == "cpu"
    distgrad.set_default_device(None)
    assert distgrad.ones(1).device_str == "cpu"


def test_training_on_the_default_worker_matches_the_driver(workers):
    """The same few steps of a fit, with every tensor on worker 0 by default, give the
    driver's numbers."""

    def fit():
        distgrad.manual_seed(0)
        x = distgrad.linspace(-3.0, 3.0, 50)
        y = distgrad.sin(x)
        a = distgrad.randn((), requires_grad=True)
        b = distgrad.randn((), requires_grad=True)
        for _ in range(5):
            loss = (a + b * x - y).pow(2).sum()
            loss.backward()
            with distgrad.no_grad():
                a -= 1e-3 * a.grad
                b -= 1e-3 * b.grad
                a.grad = b.grad = None
        return a.device_str, [a.item(), b.item(), loss.item()]

    where_cpu, cpu = fit()
    distgrad.set_default_device("worker:0")
    where_worker, on_worker = fit()
    assert (where_cpu, where_worker) == ("cpu", "worker:0")
    np.testing.assert_allclose(on_worker, cpu, rtol=1e-6)


def test_type_as_moves_to_the_other_tensors_device(workers):
    """`x.type_as(t)` is torch's `x.to(t.options())`: old code moves a mask to t's device so."""
    x = distgrad.ones(2, requires_grad=True)
    for where in ("worker:1", "meta"):
        y = x.type_as(distgrad.zeros(2, dtype=distgrad.float64, device=where))
        assert (y.device_str, y.dtype, y.grad_fn.name()) == (where, distgrad.float64,
                                                             "ToCopyBackward0")
    assert x.type_as(x) is x


def test_a_sharded_tensors_device_makes_tensors_that_act_as_replicated(workers):
    """zeros(n, device=x.device) as library code writes it (an RNN's initial state): for a
    sharded x, a driver tensor, which acts as replicated next to x."""
    import distgrad.distributed as dist

    x = dist.shard(distgrad.arange(12.0).reshape(4, 3), 0)
    assert (repr(x.device), str(x.device)) == ("device(type='sharded')", "sharded")
    made = [distgrad.zeros(3, device=x.device), distgrad.arange(3, device=x.device),
            distgrad.tensor([1.0, 2.0, 3.0], device=x.device), distgrad.randn(3, device=x.device),
            distgrad.full((3,), 2.0, device=x.device), distgrad.eye(3, device=x.device)]
    assert [t.device_str for t in made] == ["cpu"] * len(made)
    assert (x + made[1]).full_tensor().tolist() == (distgrad.arange(12.0).reshape(4, 3)
                                                    + distgrad.arange(3)).tolist()

    distgrad.manual_seed(0)
    lstm = distgrad.nn.LSTM(3, 4, batch_first=True)
    seq = distgrad.randn(6, 5, 3)
    whole, (h, _) = lstm(seq)
    sharded, (h_sharded, _) = lstm(dist.shard(seq, 0))
    np.testing.assert_allclose(sharded.full_tensor().detach().numpy(), whole.detach().numpy(),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h_sharded.detach().cpu().numpy(), h.detach().numpy(),
                               rtol=1e-6, atol=1e-7)


def test_a_copy_of_a_replicated_tensor_to_a_worker_it_holds_is_a_copy(workers):
    """`to(worker, copy=True)` of a replicated tensor whose copy on that worker exists
    already: a copy of it (ToCopyBackward0), not that copy itself (fuzz seed 22524333)."""
    import distgrad.distributed as dist

    leaf = distgrad.tensor([1.0, 2.0], requires_grad=True)
    r = dist.replicate(leaf)
    c = r.to("worker:0", copy=True)
    assert c.grad_fn.name() == "ToCopyBackward0"
    with distgrad.no_grad():
        c.mul_(10)
    assert r.full_tensor().tolist() == [1.0, 2.0] and c.tolist() == [10.0, 20.0]


def test_a_gradient_on_another_device_than_its_input_is_refused(workers):
    """As torch refuses a CPU gradient for a CUDA input: a Function's gradient of dims on
    another device than its input raises in the engine (a 0-dim one is moved there), and a
    hook's on another kind of device raises as torch's hook check words it; distgrad moved
    them silently (a leaf hook's driver gradient became the worker leaf's .grad)."""
    def function_returning(make):
        class Placed(distgrad.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return make()
        return Placed

    def refused(register=None, make=None):
        a = distgrad.ones(2, 3, device="worker:0", requires_grad=True)
        y = function_returning(make).apply(a) if make else a * 2
        if register:
            register(a, y)
        with pytest.raises(RuntimeError) as caught:
            y.sum().backward()
        return str(caught.value)

    def driver_ones(_=None):
        return distgrad.ones(2, 3)

    name = "Function PlacedBackward returned an invalid gradient at index 0 - expected device"
    assert refused(make=driver_ones) == f"{name} worker:0 but got cpu"
    assert refused(make=lambda: distgrad.ones(4, 2, 3, device="worker:1")) == \
        f"{name} worker:0 but got worker:1"
    changed = "hook 'driver_ones' has changed the type of value (was worker tensor got CPU tensor)"
    assert refused(lambda a, y: y.register_hook(driver_ones)) == changed
    assert refused(lambda a, y: a.register_hook(driver_ones)) == changed
    assert refused(lambda a, y: y.grad_fn.register_prehook(lambda go: (driver_ones(),))) == \
        changed.replace("driver_ones", "<lambda>")
    a = distgrad.tensor(1.0, device="worker:0", requires_grad=True)
    function_returning(lambda: distgrad.tensor(2.0)).apply(a).backward()
    assert a.grad.device == distgrad.device("worker:0") and a.grad.item() == 2.0


def test_a_zero_dim_driver_tensor_next_to_a_worker_tensor_is_a_scalar_only_where_torchs_is(
        workers):
    """As a CPU scalar next to CUDA tensors in torch: an elementwise op's operand (heaviside's
    too, whose rule reads it as a tensor) and index_put's indices and value are taken; an
    index or a mask elsewhere is refused with the two devices' error, before anything is
    sent (the worker refused the whole run, and lost the tensors it made)."""
    def on(device):
        return distgrad.tensor([[1.0, -2.0], [3.0, 4.0]], device=device)

    two_devices = "Expected all tensors to be on the same device, but found at least two " \
                  "devices, worker:1 and cpu!"
    for refused in (lambda x: x.masked_fill(distgrad.tensor(True), 3.0),
                    lambda x: x.index_select(0, distgrad.tensor(1)),
                    lambda x: distgrad.take(x, distgrad.tensor(1)),
                    lambda x: distgrad.nn.functional.embedding(distgrad.tensor(1), x)):
        x = on("worker:1")
        with pytest.raises(RuntimeError, match=two_devices):
            refused(x)
        assert x.tolist() == [[1.0, -2.0], [3.0, 4.0]]
    for taken in (lambda x: distgrad.heaviside(x, distgrad.tensor(0.5)),
                  lambda x: x.clone().index_put_((distgrad.tensor(1),), distgrad.tensor(7.0)),
                  lambda x: distgrad.where(distgrad.tensor(True), x, 0.0)):
        assert taken(on("worker:1")).tolist() == taken(on("cpu")).tolist()
