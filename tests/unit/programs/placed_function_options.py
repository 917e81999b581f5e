# Custom autograd Functions and graph tools on tensors placed on workers: a Function with
# set_materialize_grads(False), a non-differentiable mask output and once_differentiable
# (its double-backward error), grad with is_grads_batched, backward(inputs=) of a non-leaf,
# multi-grad hooks, node hooks that replace the gradients, hooks on a raw saved tensor
# (and the error of setting them twice), and hessian/jacobian of a functional_call on a
# placed module (distgrad: two workers; torch: the CPU). `W` is the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def attempt(f):
    try:
        r = f()
        return r
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def sec(name, f):
    print("--", name)
    r = attempt(f)
    if r is not None:
        print(r)


def s1():
    class Clip(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, lo):
            ctx.set_materialize_grads(False)
            mask = (x > lo)
            ctx.mark_non_differentiable(mask)
            ctx.save_for_backward(mask)
            return x.clamp(min=lo), mask

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, g, gmask):
            mask, = ctx.saved_tensors
            print("  gmask", gmask, "g", None if g is None else tuple(g.shape))
            return (None if g is None else g * mask), None
    x = torch.randn(5).to(W[0]).requires_grad_()
    y, m = Clip.apply(x, 0.0)
    print(y.grad_fn.name(), m.requires_grad, m.dtype, m.grad_fn)
    (y * 2).sum().backward()
    print(x.grad.cpu())
    y, m = Clip.apply(x, 0.0)
    g, = torch.autograd.grad(y.sum(), x, create_graph=True)
    print(g.requires_grad, attempt(lambda: g.sum().backward()))
sec("function options placed", s1)


def s2():
    x = torch.randn(3).to(W[1]).requires_grad_()
    y = x.exp()
    out = torch.autograd.grad(y, x, torch.eye(3).to(W[1]), is_grads_batched=True)
    print(out[0].shape, out[0].cpu().diagonal())
    z = x * 2
    w = z * z
    w.sum().backward(inputs=[z])
    print(z.grad.cpu(), x.grad, z.retains_grad)
sec("batched grads, inputs non-leaf", s2)


def s3():
    a = torch.randn(3).to(W[0]).requires_grad_()
    b = torch.randn(3).to(W[0]).requires_grad_()
    seen = []
    h = torch.autograd.graph.register_multi_grad_hook((a, b), lambda gs: seen.append([g is None for g in gs]))
    (a * 2).sum().backward()
    (a * b).sum().backward()
    h.remove()
    print(seen)
    n = (a * b).grad_fn
    n.register_hook(lambda gi, go: tuple(g * 0 for g in gi))
    a.grad = None
    b.grad = None
    c = a * b
    out = c.sum()
    c.grad_fn.register_hook(lambda gi, go: (gi[0] * 0, gi[1]))
    out.backward()
    print(a.grad.cpu(), b.grad.cpu().abs().sum().item() > 0)
sec("multi grad hook, node hook replacing", s3)


def s4():
    x = torch.randn(2, 2).to(W[1]).requires_grad_()
    y = x.sigmoid()
    raw = y.grad_fn._raw_saved_result
    log = []
    raw.register_hooks(lambda t: (log.append("pack"), t * 1)[1], lambda t: (log.append("unpack"), t)[1])
    y.sum().backward()
    print(log, x.grad.cpu().shape)
    print(attempt(lambda: raw.register_hooks(lambda t: t, lambda t: t)))
    print(attempt(lambda: y.grad_fn._saved_result))
sec("raw saved hooks placed", s4)


def s5():
    lin = nn.Linear(3, 2).to(W[0])
    x = torch.randn(4, 3).to(W[0])
    def f(w):
        return torch.func.functional_call(lin, {"weight": w, "bias": lin.bias}, (x,)).pow(2).sum()
    H = torch.autograd.functional.hessian(f, lin.weight.detach())
    print(H.shape, H.cpu()[0, 0])
    J = torch.autograd.functional.jacobian(lambda w: torch.func.functional_call(lin, {"weight": w, "bias": lin.bias}, (x,)), lin.weight.detach(), create_graph=True)
    print(J.shape, J.requires_grad, J.grad_fn is not None)
sec("functional on module", s5)

print("done")
