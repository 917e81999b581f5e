# What happens after a custom Function returns: its view outputs written in place
# (torch's custom-Function view error, and under no_grad), a saved output written before
# the backward (the version error), saved_tensors read twice with retain_graph, a
# Function returning an input as-is and one returning a detached view, a Function
# applied to views of a sharded tensor, and a double backward through a Function whose
# backward is differentiable (distgrad: two workers; torch: the CPU and a copy).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(71)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class FirstRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.rows = x.shape[0]
        return x[:2]

    @staticmethod
    def backward(ctx, g):
        out = g.new_zeros((ctx.rows,) + tuple(g.shape[1:]))
        out[:2] = g
        return out


class SoftSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x / (1 + x.abs())
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * (1 - y.abs()) ** 2  # differentiable: uses only tensor ops


class Same(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x, y.detach()[0]

    @staticmethod
    def backward(ctx, gx, gy):
        return gx, None


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[1])),
                  ("shard", lambda t: shard(t, 1))):
    print("==", name)
    x = put(torch.randn(4, 4)).requires_grad_()
    h = x * 1
    v = FirstRows.apply(h)
    print("view out", v._is_view(), v._base is h, v.grad_fn.name(), v.shape, v.stride())
    print(attempt(lambda: v.add_(1)))
    with torch.no_grad():
        print("no_grad write", attempt(lambda: v.add_(0).shape))
    print("grad_fn after", attempt(lambda: v.grad_fn.name()))
    w = FirstRows.apply(x * 2)
    w.sum().backward()
    print("x.grad", full(x.grad)[:, 0])

    x.grad = None
    y = SoftSign.apply(x)
    z = y.sum()
    z.backward(retain_graph=True)
    first = full(x.grad).clone()
    z.backward()
    print("twice", torch.equal(full(x.grad), first * 2), y.grad_fn.name())
    y2 = SoftSign.apply(x)
    y2.mul_(2)
    print("saved output written", y2._version, attempt(lambda: y2.sum().backward()))

    gx, = torch.autograd.grad(SoftSign.apply(x).sum(), x, create_graph=True)
    print("create_graph", gx.requires_grad, gx.grad_fn is not None)
    gg, = torch.autograd.grad(gx.sum(), x)
    print("second", full(gg)[0])

    a, b = Same.apply(x, x)
    print("same", a is x, a.grad_fn.name(), a.is_leaf, b.requires_grad, b._base is x)
    print("write same", attempt(lambda: a.mul_(1)), x._version)
    sub = x[:, 1:3]
    r = FirstRows.apply(sub)
    print("fn on view", r.shape, r._base is sub, r.grad_fn.name())
    r.pow(2).sum().backward()
    print("x.grad col1", full(x.grad)[:, 1])
print("done")
