# Custom autograd Functions as physics and optimisation code writes them, on a worker and
# split over two (torch: the CPU and a copy): a twice-differentiable Function whose backward
# uses differentiable ops (a Hessian-vector product through create_graph), one marked
# once_differentiable refusing a second order, setup_context saving an input and
# a non-tensor, needs_input_grad with a frozen input, materialize_grads off, and saved
# tensors packed by saved_tensors_hooks. `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(41)
once_differentiable = torch.autograd.function.once_differentiable


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(x, scale):
        return x.pow(3) * scale

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, scale = inputs
        ctx.save_for_backward(x)
        ctx.made = (x[:, :1].expand_as(x) * 0 + x).requires_grad  # (no_grad here, as forward)
        ctx.scale = scale
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if g is None:
            return None, None
        return g * 3 * x.pow(2) * ctx.scale, None


class SoftClip(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, limit):
        ctx.save_for_backward(x, limit)
        return torch.tanh(x / limit) * limit

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, limit = ctx.saved_tensors
        t = torch.tanh(x / limit)
        grad_limit = (g * (t - x / limit * (1 - t * t))).sum() if ctx.needs_input_grad[1] else None
        return g * (1 - t * t), grad_limit


places = (("worker", lambda t: t.to(W[0]), lambda t: t.cpu()), ("shard", lambda t: shard(t, 0), full))
for where, put, back in places:
    a = torch.randn(4, 2, requires_grad=True)
    x = put(a * 1)
    y = Cube.apply(x, 0.5)
    (g,) = torch.autograd.grad(back(y).sum(), a, create_graph=True)
    print(where, y.grad_fn.name(), y.grad_fn.made, g.requires_grad, g.grad_fn is not None)
    v = torch.ones(4, 2)
    (hv,) = torch.autograd.grad((g * v).sum(), a)
    print(hv, torch.allclose(hv, 3 * a.detach()))

    packed = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: (packed.append(tuple(t.shape)), t)[1],
                                                  lambda t: t):
        limit = torch.tensor(2.0, requires_grad=True)
        b = torch.randn(4, 2, requires_grad=True)
        z = SoftClip.apply(put(b * 3), put(limit) if where == "worker" else limit)
    print(sorted(packed), z.grad_fn.name())
    (gz,) = torch.autograd.grad(back(z).sum(), b, create_graph=True)
    print(gz.requires_grad, attempt(lambda: torch.autograd.grad(gz.sum(), b)))
    frozen = torch.tensor(2.0)
    z2 = SoftClip.apply(put(b * 3), put(frozen) if where == "worker" else frozen)
    back(z2).pow(2).sum().backward()
    print(b.grad.abs().sum().item() > 0, frozen.grad, limit.grad)

    c = torch.randn(3, 2, requires_grad=True)
    y1 = Cube.apply(put(c * 1), 2.0)
    y2 = y1 * 0
    print(attempt(lambda: torch.autograd.grad(back(y2).sum(), c)), y1._version)
print("done")
