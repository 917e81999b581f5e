# Custom autograd Functions as libraries write them, fed views, placed and sharded tensors:
# mark_dirty on a view of a tensor in a graph, save_for_backward of an input and of an
# output, once_differentiable and its double-backward error, set_materialize_grads(False)
# with an output that gets no gradient, needs_input_grad read in backward, non-tensor
# arguments, and a Function returning an input as-is (distgrad: two workers; torch: the
# CPU and a copy). `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
once_differentiable = torch.autograd.function.once_differentiable
torch.manual_seed(11)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class ScaleInPlace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        x.mul_(k)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)  # the output, after the write
        return x

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        print("  ScaleInPlace.backward", ctx.needs_input_grad, tuple(out.shape))
        return g * ctx.k, None


class ExpPair(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        e = x.exp()
        ctx.save_for_backward(x, e)
        return e, x.sin()

    @staticmethod
    def backward(ctx, ge, gs):
        x, e = ctx.saved_tensors
        print("  ExpPair.backward", ge is None, gs is None)
        out = torch.zeros_like(x)
        if ge is not None:
            out = out + ge * e
        if gs is not None:
            out = out + gs * x.cos()
        return out


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * g


class Passthrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x, y * 2

    @staticmethod
    def backward(ctx, gx, gy):
        return gx, gy * 2


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])),
                  ("shard", lambda t: shard(t, 0))):
    a = torch.randn(4, 3, requires_grad=True)
    b = put(a * 1)
    row = b[1:3]
    out = ScaleInPlace.apply(row, 2.5)
    print(name, out is row, b._version, row._version, b.grad_fn.name(), row.grad_fn.name())
    full(b).pow(2).sum().backward()
    print(a.grad)

    x = put(torch.linspace(-1, 1, 6)).requires_grad_()
    e, s = ExpPair.apply(x)
    print(e.grad_fn.name(), s.grad_fn.name(), e.requires_grad, e.is_leaf)
    e.sum().backward(retain_graph=True)
    print(full(x.grad))
    x.grad = None
    (e * s).sum().backward()
    print(full(x.grad))

    c = put(torch.tensor([0.5, -1.0, 2.0])).requires_grad_()
    y = Cube.apply(c)
    (gc,) = torch.autograd.grad(y.sum(), c, create_graph=True)
    print(full(gc), gc.requires_grad, gc.grad_fn.name() if gc.grad_fn is not None else None)
    print(attempt(lambda: gc.sum().backward()))

    p, q = put(torch.ones(3)).requires_grad_(), put(torch.full((3,), 2.0)).requires_grad_()
    po, qo = Passthrough.apply(p, q)
    print(po is p, po.grad_fn.name(), qo.grad_fn.name(), po.is_leaf, p.is_leaf)
    print(attempt(lambda: po.add_(1)))
    (po * 3 + qo).sum().backward()
    print(full(p.grad) if p.grad is not None else None, full(q.grad))
print("done")
