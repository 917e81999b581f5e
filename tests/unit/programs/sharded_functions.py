# Custom Functions fed sharded tensors (distgrad gathers them, runs the Function once and
# splits what it returns; torch: a copy): an index output marked non-differentiable, a
# view returned and written later, a saved input written in place before backward (the
# version error), once_differentiable under create_graph, set_materialize_grads with an
# unused output, needs_input_grad with a non-tensor and a tensor that needs none, and
# retain_grad/hooks on the outputs. `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
once_differentiable = torch.autograd.function.once_differentiable
torch.manual_seed(61)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class TopVal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        vals, idx = x.topk(k, dim=1)
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        ctx.shape = x.shape
        return vals, idx

    @staticmethod
    def backward(ctx, gv, gi):
        (idx,) = ctx.saved_tensors
        print("  TopVal.backward", ctx.needs_input_grad, gi is None or float(gi.abs().sum()))
        return gv.new_zeros(ctx.shape).scatter(1, idx, gv), None


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        ctx.set_materialize_grads(False)
        return x * x * w, x.sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, g, gs):
        x, w = ctx.saved_tensors
        print("  Square.backward", ctx.needs_input_grad, g is None, gs is None)
        gx = 2 * x * w * g if g is not None else torch.zeros_like(x)
        if gs is not None:
            gx = gx + gs
        return gx, (x * x * g).sum(0) if ctx.needs_input_grad[1] and g is not None else None


a = torch.randn(4, 5, requires_grad=True)
s = shard(a * 1, 0)
vals, idx = TopVal.apply(s, 2)
print(vals.shape, idx.dtype, vals.requires_grad, idx.requires_grad, vals.grad_fn.name())
vals.retain_grad()
vals.register_hook(lambda g: g * 2)
(full(vals) * torch.tensor([1.0, -1.0])).sum().backward()
print(full(vals.grad), a.grad)

w = torch.tensor([1.0, 2.0, 3.0])
x = torch.randn(4, 3, requires_grad=True)
for need_w in (False, True):
    w.requires_grad_(need_w)
    xs = shard(x * 1, 0)
    y, tot = Square.apply(xs, w)
    print(y.grad_fn.name(), tot.requires_grad, type(tot).__name__)
    full(y).sum().backward(retain_graph=True)
    print(x.grad[0], w.grad)
    x.grad = None
    tot.backward()
    print(x.grad[0])
    x.grad = None
(gx,) = torch.autograd.grad(full(Square.apply(shard(x * 1, 0), w)[0]).sum(), x, create_graph=True)
print(gx.requires_grad, attempt(lambda: gx.sum().backward()))

xs = shard(x.detach() * 1, 0).requires_grad_()
y, _ = Square.apply(xs, w.detach())
with torch.no_grad():
    xs.mul_(2)
print(xs._version, attempt(lambda: full(y).sum().backward()))
print(attempt(lambda: TopVal.apply(shard(torch.randn(4, 5), 0), 2)[1].float().requires_grad_().sum().backward()))
print("done")
