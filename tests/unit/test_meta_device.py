"""torch's "meta" device, against torch: tensors with a shape, dtype and strides but no
data. Factories and moves make them, ops compute their results' metas and record autograd
history as for other tensors, in-place ops and nn.init only check, reading values raises
torch's errors; the model-ensembling tutorial's `base_model.to('meta')` and deferred
initialization (`with torch.device("meta")`, `to_empty`, `reset_parameters`) run as torch's.
"""
from __future__ import annotations

import copy

import pytest

from torch_twin import attempt, node_name, same


def metas(t):
    """What a meta tensor has to compare: its repr and its metas."""
    return (repr(t), tuple(t.shape), str(t.dtype), t.stride(), t.device.type, t.is_meta,
            t.requires_grad, node_name(t.grad_fn), t.is_leaf)


# ---- factories, moves and printing ---------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda torch: torch.empty(2, 3, device="meta"),
    lambda torch: torch.empty((), device="meta"),
    lambda torch: torch.empty(0, device="meta"),
    lambda torch: torch.empty(2, 0, dtype=torch.int32, device="meta"),
    lambda torch: torch.zeros(2, dtype=torch.int64, device="meta"),
    lambda torch: torch.ones(4, dtype=torch.float64, device="meta", requires_grad=True),
    lambda torch: torch.full((2,), 3, device="meta"),
    lambda torch: torch.eye(3, device="meta"),
    lambda torch: torch.arange(5, device="meta"),
    lambda torch: torch.linspace(0, 1, 5, device="meta"),
    lambda torch: torch.tensor([[1.0, 2.0]], device="meta", requires_grad=True),
    lambda torch: torch.tensor([True], device="meta"),
    lambda torch: torch.as_tensor([1, 2], device="meta"),
    lambda torch: torch.randn(2, 3, device="meta:0"),
    lambda torch: torch.rand(3, dtype=torch.float16, device="meta"),
    lambda torch: torch.randint(5, (3,), device="meta"),
    lambda torch: torch.randperm(5, device="meta"),
    lambda torch: torch.zeros_like(torch.randn(2, 3), device="meta"),
    lambda torch: torch.randn_like(torch.empty(2, 3, device="meta")),
    lambda torch: torch.empty(2, 3, device="meta").new_zeros(4),
    lambda torch: torch.randn(3, 2).t().to("meta"),
    lambda torch: torch.randn(2, 3, requires_grad=True).to("meta"),
    lambda torch: torch.empty(2, 3, device="meta").to(torch.int32),
    lambda torch: torch.empty(2, 3, device="meta").T,
    lambda torch: torch.empty(2, 3, device="meta").expand(4, 2, 3),
])
def test_factories_and_moves_make_meta_tensors(make):
    same(lambda torch: metas(make(torch)))


def test_default_device_block_and_device_objects():
    def f(torch):
        with torch.device("meta") as d:
            inside = (torch.ones(3), torch.get_default_device(), d)
        return [metas(inside[0]), inside[1:], torch.ones(1).device, torch.device("meta:0"),
                torch.empty(1, device=torch.device("meta")).device]

    same(f)


def test_no_random_numbers_are_drawn_for_meta_tensors():
    def f(torch):
        torch.manual_seed(0)
        torch.randn(5, device="meta")
        torch.empty(4, device="meta").uniform_()
        torch.empty(4, device="meta").normal_()
        torch.randn_like(torch.empty(3, device="meta"))
        for init in (torch.nn.init.kaiming_uniform_, torch.nn.init.xavier_normal_,
                     torch.nn.init.orthogonal_, torch.nn.init.trunc_normal_):
            init(torch.empty(4, 4, device="meta"))
        torch.nn.init.sparse_(torch.empty(4, 4, device="meta"), 0.5)
        return torch.rand(3).tolist()

    same(f)


# ---- reading values --------------------------------------------------------------------------

@pytest.mark.parametrize("read", [
    lambda t: t.item(), lambda t: t[0, 0].item(), lambda t: float(t[0, 0]),
    lambda t: bool(t[0, 0]), lambda t: int(t[0, 0]), lambda t: t.tolist(), lambda t: t.numpy(),
    lambda t: t.to("cpu"), lambda t: t.cpu(), lambda t: t.data_ptr(),
    lambda t: f"{t[0, 0]:.2f}", lambda t: format(t), lambda t: str(t.sum()),
])
def test_reading_values_raises_torchs_errors(read):
    same(lambda torch: attempt(read, torch.empty(2, 3, device="meta")))


def test_copies_into_and_out_of_meta():
    def f(torch):
        m, c = torch.empty(2, 3, device="meta"), torch.ones(2, 3)
        return metas(m.copy_(c)), attempt(c.copy_, m), c.tolist()

    same(f)


# ---- ops: metas, shape errors, devices, autograd -----------------------------------------------

@pytest.mark.parametrize("op", [
    lambda torch, x: x + 1,
    lambda torch, x: x * torch.tensor(2.0),
    lambda torch, x: torch.tensor(2.0) - x,
    lambda torch, x: x @ x.T,
    lambda torch, x: x.sum(0),
    lambda torch, x: x.max(),
    lambda torch, x: x.argmax(1),
    lambda torch, x: x == x,
    lambda torch, x: (x > 0).all(),
    lambda torch, x: x.to(torch.float64).mean(),
    lambda torch, x: x[0],
    lambda torch, x: x[:, 1:],
    lambda torch, x: x.view(3, 2),
    lambda torch, x: x.T.contiguous(),
    lambda torch, x: x.reshape(6),
    lambda torch, x: torch.cat([x, x]),
    lambda torch, x: torch.stack([x, x], 1),
    lambda torch, x: torch.nn.functional.relu(x),
    lambda torch, x: torch.nn.functional.softmax(x, -1),
    lambda torch, x: torch.nn.functional.linear(x, torch.empty(4, 3, device="meta")),
    lambda torch, x: x.clone(),
])
def test_ops_compute_metas(op):
    same(lambda torch: metas(op(torch, torch.empty(2, 3, device="meta"))))


@pytest.mark.parametrize("op", [
    lambda torch, x: x + torch.empty(4, device="meta"),
    lambda torch, x: torch.empty(4, device="meta") * x,
    lambda torch, x: x.add_(torch.empty(4, 3, device="meta")),
    lambda torch, x: torch.where(x > 0, torch.empty(3, device="meta"), torch.empty(4,
                                                                             device="meta")),
    lambda torch, x: torch.maximum(x, torch.empty(2, 1, 4, device="meta")),
    lambda torch, x: torch.empty(3, device="meta").add_(x),
    lambda torch, x: x.sum().mul_(x[0]),
    lambda torch, x: x @ x,
    lambda torch, x: torch.empty(2, 4, 3, device="meta") @ x,
    lambda torch, x: x @ torch.empty(2, device="meta"),
    lambda torch, x: torch.nn.functional.linear(x, torch.empty(2, 4, device="meta")),
    lambda torch, x: torch.addmm(torch.empty(2, device="meta"), x, x),
    lambda torch, x: x.T.view(6),
    lambda torch, x: x.sum(2),
    lambda torch, x: x + torch.ones(2, 3),
    lambda torch, x: torch.cat([x, torch.ones(2, 3)]),
])
def test_ops_give_torchs_errors(op):
    same(lambda torch: attempt(op, torch, torch.empty(2, 3, device="meta")))


def test_backward_gives_meta_grads():
    def f(torch):
        w = torch.empty(3, 3, device="meta", requires_grad=True)
        b = torch.empty(3, device="meta", requires_grad=True)
        y = torch.tanh((w.exp() * 2).mean(0) + b)
        y.sum().backward()
        seen = [metas(y), metas(w.grad), metas(b.grad)]
        x = torch.randn(2, requires_grad=True)
        seen.append(attempt(lambda: x.to("meta").sum().backward()))
        return seen, x.grad

    same(f)


def test_in_place_ops_only_check():
    def f(torch):
        x = torch.empty(2, 3, device="meta")
        before = x._version
        seen = [metas(x.add_(1)), metas(x.mul_(torch.empty(3, device="meta"))),
                metas(x.fill_(2)), metas(x.zero_()), x._version - before,
                attempt(x.add_, torch.empty(4, 3, device="meta"))]
        leaf = torch.empty(2, device="meta", requires_grad=True)
        seen.append(attempt(leaf.add_, 1))
        with torch.no_grad():
            seen.append(metas(leaf.add_(1)))
        return seen

    same(f)


def test_nn_init_on_meta_checks_and_draws_nothing():
    def f(torch):
        init = torch.nn.init
        w = torch.empty(3, 4, device="meta", requires_grad=True)
        return [metas(init.kaiming_uniform_(w)), metas(init.normal_(w)), metas(init.zeros_(w)),
                metas(init.eye_(w)), attempt(init.xavier_uniform_, torch.empty(3, device="meta")),
                attempt(init.eye_, torch.empty(3, device="meta"))]

    same(f)


# ---- modules: deferred init and the ensembling tutorial --------------------------------------

def test_deferred_initialization():
    def f(torch):
        nn = torch.nn
        torch.manual_seed(0)
        with torch.device("meta"):
            m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        seen = [repr(m[0].weight), str(m[0].bias), repr(m)]
        out = m(torch.empty(5, 4, device="meta"))
        out.sum().backward()
        seen += [metas(out), metas(m[0].weight.grad)]
        m.zero_grad()
        m.to_empty(device="cpu")
        for layer in (m[0], m[2]):
            layer.reset_parameters()
        seen.append(repr(m[0].weight))
        seen.append(m(torch.ones(2, 4)).tolist())
        lin = nn.Linear(4, 3, device="meta")
        seen += [lin.weight.is_meta, lin.weight.device.type == "meta", repr(lin.bias)]
        lin.to_empty(device="cpu")
        nn.init.ones_(lin.weight)
        nn.init.zeros_(lin.bias)
        seen.append(lin(torch.ones(1, 4)).tolist())
        return seen

    same(f)


def test_module_to_meta():
    def f(torch):
        lin = torch.nn.Linear(3, 2)
        lin.to("meta")
        return metas(lin.weight), metas(lin(torch.empty(4, 3, device="meta")))

    same(f)


def test_model_ensembling_tutorial():
    def f(torch):
        nn, F = torch.nn, torch.nn.functional
        torch.manual_seed(0)

        class SimpleMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2 = nn.Linear(12, 8), nn.Linear(8, 3)

            def forward(self, x):
                return self.fc2(F.relu(self.fc1(x.flatten(1))))

        models = [SimpleMLP() for _ in range(3)]
        data = torch.randn(3, 5, 3, 4)
        loop = torch.stack([m(x) for m, x in zip(models, data)])
        params, buffers = torch.func.stack_module_state(models)
        base_model = copy.deepcopy(models[0]).to("meta")

        def fmodel(params, buffers, x):
            return torch.func.functional_call(base_model, (params, buffers), (x,))

        out = torch.vmap(fmodel)(params, buffers, data)
        same_x = torch.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, data[0])
        # (distgrad's vmap stacks the slices' results: its grad_fn is StackBackward0)
        return [out.detach(), torch.allclose(out, loop, atol=1e-6), same_x.detach(),
                repr(base_model.fc1.weight),
                [p.size(0) for p in params.values()]]

    same(f)


def test_load_state_dict_into_and_out_of_meta():
    def f(torch):
        nn = torch.nn
        torch.manual_seed(0)
        source = nn.Linear(2, 3)
        meta = nn.Linear(2, 3, device="meta")
        seen = [attempt(nn.Linear(2, 3).load_state_dict, meta.state_dict()),
                str(meta.load_state_dict(source.state_dict())), metas(meta.weight)]
        seen.append(str(meta.load_state_dict(source.state_dict(), assign=True)))
        seen += [meta.weight, meta.weight.is_leaf, type(meta.weight).__name__, meta.bias.device]
        return seen

    same(f)


def test_a_training_step_on_meta():
    def f(torch):
        nn, F = torch.nn, torch.nn.functional
        model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3))
        model.to("meta")
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.empty(5, 4, device="meta")
        y = torch.empty(5, dtype=torch.long, device="meta")
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        total = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        return [metas(loss), metas(total), [metas(p) for p in model.parameters()],
                sorted(opt.state[model[0].weight])]

    same(f)


# ---- with workers: a worker's tensor moves to the meta device (torch's cuda tensor does) ------

@pytest.fixture
def workers():
    """One worker: the runtime a cluster test left running, else an in-process one."""
    import distgrad.distributed as dist

    own = not dist.is_initialized()
    if own:
        dist.init(num_workers=1, backend="local")
    try:
        yield
    finally:
        if own:
            dist.shutdown()


def test_worker_tensors_and_meta(workers):
    import distgrad

    w = distgrad.randn(2, 3, device="worker:0", requires_grad=True)
    moved = w.to("meta")
    assert repr(moved) == ("tensor(..., device='meta', size=(2, 3), "
                           "grad_fn=<ToCopyBackward0>)")
    assert repr(distgrad.zeros_like(w, device="meta")) == "tensor(..., device='meta', size=(2, 3))"
    with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor; no data!"):
        moved.sum().backward()  # (the gradient's copy back to the worker)
    with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor; no data!"):
        distgrad.empty(2, device="meta").to("worker:0")
    with pytest.raises(RuntimeError, match="Tensor on device meta is not on the expected "
                                           "device worker:0!"):
        w + distgrad.empty(2, 3, device="meta")
