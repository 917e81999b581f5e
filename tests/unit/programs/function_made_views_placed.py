# Custom autograd Functions whose outputs view tensors they made themselves (not their
# inputs), as library code returns them: a row of a detached intermediate, several outputs
# on one intermediate (a slice of one output, a transpose of another), then no_grad writes
# that reach the other outputs through the shared memory (their histories go invalid), data
# pointers, versions, and the gradients that still flow (distgrad: a worker and split over
# two; torch: the CPU and a copy). `W`, `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(7)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class RowAndT(torch.autograd.Function):  # a row of a detached product, and its transpose
    @staticmethod
    def forward(ctx, x):
        y = x * 2
        return y.detach()[0], y.t()

    @staticmethod
    def backward(ctx, g, h):
        out = h.t().clone()
        out[0] += g
        return out * 2


class TailAndAll(torch.autograd.Function):  # a slice of its other output
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y[1:], y

    @staticmethod
    def backward(ctx, g, h):
        (y,) = ctx.saved_tensors
        h = h.clone()
        h[1:] += g
        return h * y


def same_memory(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


places = (("worker", lambda t: t.to(W[0]), lambda t: t.cpu()), ("shard", lambda t: shard(t, 0), full))
for where, put, back in places:
    a = torch.randn(4, 2, requires_grad=True)
    x = put(a * 1)
    r, t = RowAndT.apply(x)
    print(where, r._is_view(), r._base is None, r.grad_fn.name(), r.requires_grad, r.is_leaf)
    print(t._is_view(), t.shape, t.stride(), t.is_contiguous(), r._version, t._version)
    print(r._base.shape, r._base.requires_grad, r._base._is_view(), same_memory(r, r._base))
    print(attempt(lambda: r.mul_(2)))
    print(attempt(lambda: t.add_(1)))
    (back(r).sum() * 3 + back(t).pow(2).sum()).backward()
    print(a.grad)
    with torch.no_grad():
        r.mul_(-1)  # t views the same memory: its history goes
    print(r._version, t._version, back(t.detach()))
    print(attempt(lambda: t.grad_fn))
    print(attempt(lambda: back(t).sum().backward()))

    b = torch.randn(3, 2, requires_grad=True)
    tail, whole = TailAndAll.apply(put(b * 1))
    print(tail._base is whole, whole._is_view(), tail.storage_offset(), same_memory(tail, whole))
    print(tail.grad_fn.name(), whole.grad_fn.name(), tail.shape, whole._version)
    (back(tail) * torch.tensor([[1.0, -1.0], [2.0, 0.5]])).sum().backward(retain_graph=True)
    print(b.grad)
    b.grad = None
    with torch.no_grad():
        whole[2, 1] = 10.0  # reaches tail
    print(tail._version, whole._version, back(tail.detach()))
    print(attempt(lambda: tail.grad_fn))
    print(attempt(lambda: back(whole).sum().backward()), b.grad)
print("done")
