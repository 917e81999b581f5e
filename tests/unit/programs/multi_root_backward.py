# Several losses differentiated together, as multi-task and GAN code does: autograd.backward
# with grad_tensors over roots on the driver, on a worker and sharded, inputs= restricting
# which leaves accumulate, retain_grad on views that are later written in place (the
# retained grad moves to the new version), hooks on roots, a root that is a view of
# another root, and the errors of a wrong grad_tensors shape or a root that needs no grad
# (distgrad: two workers; torch: the CPU and a copy). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(43)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


w1 = torch.randn(3, 4, requires_grad=True)
w2 = torch.randn(4, requires_grad=True)
x = torch.randn(2, 3)
for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])),
                  ("shard", lambda t: shard(t, 0))):
    h = put(x @ w1)
    h.retain_grad()
    v = h[:, 1:3]
    v.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(("h", tuple(g.shape))))
    a = (full(h).tanh() * w2).sum(1)
    h.mul_(2)
    print(name, h.retains_grad, v.retains_grad, h.grad_fn.name(), v._version)
    b = full(h).pow(2).mean()
    torch.autograd.backward([a, b], [torch.tensor([1.0, -1.0]), torch.tensor(0.5)],
                            retain_graph=True)
    print(seen, w1.grad.sum(0), w2.grad, h.grad is None or full(h.grad).shape, v.grad)
    w1.grad = w2.grad = None
    torch.autograd.backward([a.sum(), b], inputs=[w2])
    print(w1.grad, w2.grad)
    w2.grad = None
    print(attempt(lambda: torch.autograd.backward([a], [torch.ones(3)])))
    print(attempt(lambda: torch.autograd.backward([put(torch.ones(2)).sum()])))
    print(attempt(lambda: torch.autograd.backward(a, grad_tensors=None)))

# a root that is a view of another root, and duplicated roots
m = torch.randn(3, 3, requires_grad=True)
r = m.exp()
torch.autograd.backward([r, r.diagonal(), r], [torch.ones(3, 3), torch.full((3,), 2.0), torch.eye(3)])
print(m.grad)
m.grad = None
y = m * 2
torch.autograd.backward((y[0], y[0], y.sum()), (torch.ones(3), torch.ones(3), None))
print(m.grad)
print(attempt(lambda: torch.autograd.backward([m * 1], [torch.ones(3, 3, dtype=torch.float64)])), m.grad.dtype)
print(attempt(lambda: torch.autograd.backward([m * 1], [torch.ones(3, 3, dtype=torch.int64)])))
print(attempt(lambda: torch.autograd.backward([], [])))
print(attempt(lambda: torch.autograd.grad([m.sum(), m.mean()], [m], [None, torch.tensor(3.)])))
print("done")
