# Indexed writes into views, as scatter-based message passing and masking code does:
# index_add_, index_copy_, scatter_add_, masked_scatter_ and index_put_ (accumulate)
# into a transposed or sliced view of a tensor in a graph, then read through another view,
# on the driver, a worker and shards (distgrad: two workers; torch: the CPU and a copy).
# `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(97)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


src = torch.randn(3, 4, requires_grad=True)
for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])),
                  ("shard", lambda t: shard(t, 0))):
    a = torch.randn(6, 4, requires_grad=True)
    dev = W[0] if name == "worker" else "cpu"
    x = put(a * 1)
    idx = torch.tensor([0, 2, 2]).to(dev)
    x[1:].index_add_(0, idx, put(src * 2) if name != "shard" else src * 2)
    print(name, x.grad_fn.name(), x._version, full(x.detach())[3])
    t = x.t()
    t[1:3].index_copy_(1, torch.tensor([5, 0]).to(dev), torch.ones(2, 2).to(dev))
    x[:, :2].scatter_add_(0, torch.tensor([[1, 1], [4, 0]]).to(dev), torch.full((2, 2), 0.5).to(dev))
    x[torch.tensor([0, 0]).to(dev), torch.tensor([3, 3]).to(dev)] += torch.tensor([1.0, 2.0]).to(dev)
    mask = (torch.arange(4) % 2 == 0).to(dev)
    x[5].masked_scatter_(mask, torch.tensor([-7.0, -8.0]).to(dev))
    print(full(x.detach())[0], full(x.detach())[5], x._version, t._version)
    (full(x) * torch.arange(24.).view(6, 4)).sum().backward()
    print(a.grad[1:3], src.grad.sum(0))
    src.grad = None
print("done")
