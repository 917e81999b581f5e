# Gradients assigned and hooks registered by hand on tensors in the driver, on a worker and
# split over workers: .grad of the wrong shape, dtype or type refused in torch's words, an
# assigned .grad accumulated into, a view of a non-leaf read after its base was written in
# place, requires_grad flipped on leaves, views and non-leaves, retain_grad and hooks on
# detached tensors, and backward/grad given the wrong number or dtype of gradients
# (distgrad: two workers; torch: the CPU). `W`, `shard` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(5)


def attempt(f):
    try:
        r = f()
        return "ok" if r is None else r
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


for where in ("cpu", "w", "s"):
    print("==", where)
    def P(t):
        return t if where == "cpu" else (t.to(W[1]) if where == "w" else shard(t, 0))
    x = P(torch.randn(4, 3)).requires_grad_()
    print(attempt(lambda: setattr(x, "grad", P(torch.ones(3, 4)))))
    print(attempt(lambda: setattr(x, "grad", P(torch.ones(4, 3, dtype=torch.float64)))))
    print(attempt(lambda: setattr(x, "grad", P(torch.ones(4, 3, dtype=torch.int64)))))
    print(attempt(lambda: setattr(x, "grad", 3)))
    x.grad = P(torch.ones(4, 3))
    (x * 2).sum().backward()
    print(attempt(lambda: x.grad.sum().item()))
    y = x * 1
    v = y[1:]
    z = v.exp()
    y.mul_(2)
    print(attempt(lambda: z.sum().backward()))
    print(attempt(lambda: v.sum().backward()))
    q = x.detach()
    q.requires_grad = True
    print(q.is_leaf, attempt(lambda: q.t().requires_grad_(False)))
    print(attempt(lambda: setattr(y, "requires_grad", False)))
    print(attempt(lambda: x.retain_grad()), x.retains_grad, attempt(lambda: y.detach().retain_grad()))
    print(attempt(lambda: x.register_hook(lambda g: g).remove()), attempt(lambda: x.detach().register_hook(lambda g: g)))
    print(attempt(lambda: torch.autograd.backward([y.sum(), z.sum()], [None])))
    print(attempt(lambda: torch.autograd.grad(y.sum(), x, torch.tensor(1.0, dtype=torch.int64))))
print("done")
