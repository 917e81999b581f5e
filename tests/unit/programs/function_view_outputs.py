# Custom autograd Functions at the seams of views and placement, as library code writes
# them: a Function returning a view of its input (and an input as-is), then written in place
# (torch's refusal names the Function), one marking a placed input dirty and returning it,
# one saving its output that the caller then writes (the version error names the output's
# node), mark_non_differentiable outputs written freely, and the gradients of the rest
# (distgrad: two workers and split over them; torch: the CPU and a copy). `W`, `shard`,
# `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(43)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class FirstRow(torch.autograd.Function):  # returns a view of its input
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x[0]

    @staticmethod
    def backward(ctx, g):
        out = g.new_zeros(ctx.shape)
        out[0] = g
        return out


class Same(torch.autograd.Function):  # returns its input as-is
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, g):
        return g * 2


class Exp(torch.autograd.Function):  # saves its output
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class AddOne_(torch.autograd.Function):  # writes its input in place
    @staticmethod
    def forward(ctx, x):
        ctx.mark_dirty(x)
        return x.add_(1)

    @staticmethod
    def backward(ctx, g):
        return g


class SortIdx(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        values, idx = x.sort(-1)
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        return values, idx

    @staticmethod
    def backward(ctx, g, _):
        (idx,) = ctx.saved_tensors
        return torch.zeros_like(g).scatter(-1, idx, g)


places = (("worker", lambda t: t.to(W[0]), lambda t: t.cpu()), ("shard", lambda t: shard(t, 0), full))
for where, put, back in places:
    a = torch.randn(3, 4, requires_grad=True)
    x = put(a * 1)
    r = FirstRow.apply(x)
    print(where, r.grad_fn.name(), r._is_view(), r._base is x, r.shape, x._version)
    print(attempt(lambda: r.mul_(2)))
    s = Same.apply(x)
    print(s is x, s.grad_fn.name(), s._is_view(), s._base is x)
    print(attempt(lambda: s.add_(1)), x._version)
    (back(r).sum() + back(s).pow(2).sum()).backward()
    print(a.grad)

    b = torch.randn(4, requires_grad=True)
    y = Exp.apply(put(b * 1))
    z = y * 3
    y.mul_(2)
    print(y.grad_fn.name(), y._version, attempt(lambda: back(z).sum().backward()))
    y2 = Exp.apply(put(b * 1))
    y2.detach().zero_()  # a write through a detached alias counts as well
    print(y2._version, attempt(lambda: back(y2).sum().backward()))

    c = torch.randn(2, 3, requires_grad=True)
    h = put(c * 1)
    view = h[:, 1:]
    out = AddOne_.apply(view)
    print(out is view, out.grad_fn.name(), h.grad_fn.name(), h._version, view._version)
    (back(h) * torch.arange(6.).view(2, 3)).sum().backward()
    print(c.grad, back(h.detach()))
    leaf = put(torch.ones(2)).requires_grad_()
    print(attempt(lambda: AddOne_.apply(leaf)), leaf._version, leaf.is_leaf, back(leaf.detach()))

    d = torch.tensor([[3.0, 1.0, 2.0], [0.5, 2.5, 1.5]], requires_grad=True)
    values, idx = SortIdx.apply(put(d * 1))
    print(idx.requires_grad, idx.grad_fn, values.grad_fn.name(), back(idx))
    idx.add_(0)  # a non-differentiable output: written freely (the saved one is it)
    print(idx._version, attempt(lambda: (back(values) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()),
          d.grad)
print("done")
