# Custom autograd Functions in the setup_context style, fed placed and sharded tensors:
# save_for_backward of a view of an input and of an output, mark_non_differentiable on an
# index output, set_materialize_grads(False) with an unused output, once_differentiable and
# its double-backward error, a Function returning a view of its input (distgrad: two
# workers; torch: the CPU and a copy). `W`, `shard` and `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
once_differentiable = torch.autograd.function.once_differentiable
torch.manual_seed(5)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class RowMax(torch.autograd.Function):
    @staticmethod
    def forward(x):
        values, idx = x.max(dim=1)
        return values, idx

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        values, idx = output
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        ctx.shape = x.shape

    @staticmethod
    def backward(ctx, gv, gi):
        (idx,) = ctx.saved_tensors
        print("  RowMax.backward gi is None:", gi is None, "idx dtype", idx.dtype)
        out = torch.zeros(ctx.shape, dtype=gv.dtype, device=gv.device)
        return out.scatter(1, idx.unsqueeze(1), gv.unsqueeze(1))


class HalfScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        first = x[:, :2]  # a view of the input, saved
        ctx.save_for_backward(first)
        return first * 2, x.sum(1)

    @staticmethod
    def backward(ctx, ga, gb):
        (first,) = ctx.saved_tensors
        print("  HalfScale.backward", ga is None, gb is None, first._is_view(), tuple(first.shape))
        g = torch.zeros(first.shape[0], 4, dtype=first.dtype, device=first.device)
        if ga is not None:
            g[:, :2] += 2 * ga
        if gb is not None:
            g += gb.unsqueeze(1)
        return g


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x * x
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return 2 * x * g


class Narrow(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.narrow(1, 1, 2)

    @staticmethod
    def backward(ctx, g):
        out = g.new_zeros(g.shape[0], 4)
        out[:, 1:3] = g
        return out


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[1])),
                  ("shard", lambda t: shard(t, 0))):
    print("==", name)
    base = torch.randn(4, 4)
    x = put(base).requires_grad_()
    print("leaf", x.is_leaf, x.requires_grad, x.grad_fn)
    v, i = RowMax.apply(x)
    print("max", full(v.detach()), full(i), v.grad_fn.name(), i.requires_grad, i.grad_fn)
    v.sum().backward()
    print("grad", full(x.grad))
    x.grad = None
    a, b = HalfScale.apply(x)
    print("half", a.shape, a.grad_fn.name(), b.grad_fn.name(), a._is_view())
    a.sum().backward()
    print("grad only a", full(x.grad))
    x.grad = None
    a, b = HalfScale.apply(x)
    (b * 3).sum().backward()
    print("grad only b", full(x.grad))
    s = Square.apply(x)
    gx, = torch.autograd.grad(s.sum(), x, create_graph=True)
    print("create_graph", gx.requires_grad, gx.grad_fn)
    print(attempt(lambda: gx.sum().backward()))
    n = Narrow.apply(x)
    print("narrow", n.shape, n._is_view(), n._base is x, n.grad_fn.name(), n.is_contiguous())
    print(attempt(lambda: n.mul_(2)))
    m = n.clone()
    m.mul_(3)
    m.sum().backward()
    print("narrow grad", full(x.grad))
    print("version", x._version, n._version, m._version)
    with torch.no_grad():
        q = Narrow.apply(x)
    print("no_grad", q.requires_grad, q.grad_fn, q._is_view())
print("done")
