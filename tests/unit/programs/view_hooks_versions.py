# Views of views written in place through one and read through another, with hooks and
# retain_grad on the views, before and after backward, on the driver, on a worker and
# split over workers (distgrad: two workers; torch: the CPU and a copy). `W`, `shard` and
# `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(7)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def places():
    yield "cpu", lambda t: t
    yield "worker", lambda t: t.to(W[1])
    yield "shard0", lambda t: shard(t, 0)
    yield "shard1", lambda t: shard(t, 1)


for name, put in places():
    a = torch.randn(4, 6, requires_grad=True)
    b = put(a * 2)
    tv = b.t()
    row = tv[2]
    sub = row.unsqueeze(0).view(2, 2)
    seen = []
    tv.retain_grad()
    h = sub.register_hook(lambda g: seen.append(tuple(g.shape)) or g * 3)
    sub.mul_(-1)
    print(name, b._version, tv._version, row._version, sub._version, sub.grad_fn.name(),
          tv.grad_fn.name(), b.grad_fn.name(), row.is_leaf, row.requires_grad)
    print(full(b.detach())[:, 2], sub.shape, sub.stride(), row.stride(), tv.stride())
    diag = b.diagonal()
    diag.add_(10)
    print(full(tv.detach())[2], b._version, sub._version, diag._version)
    loss = (full(b) * torch.arange(24.).view(4, 6)).sum()
    loss.backward(retain_graph=True)
    print(seen, a.grad[:, 2], a.grad.diagonal())
    print(tv.grad is None, attempt(lambda: tv.grad.shape))
    h.remove()
    loss.backward()
    print(seen, a.grad[:, 2])

# -- a leaf's view written in no_grad, read through another view --------------------------
for name, put in places():
    p = put(torch.arange(12.).view(3, 4).clone()).requires_grad_()
    v1 = p[1:]
    v2 = p.t()[::2]
    with torch.no_grad():
        v1[:, 0].fill_(-5.)
    print(name, p._version, v1._version, v2._version, v2.requires_grad, v2.grad_fn.name(),
          full(v2.detach()))
    print(attempt(lambda: v1.add_(1)), p._version)
    out = (full(v2) ** 2).sum()
    out.backward()
    print(full(p.grad), p.grad.stride(), p.is_leaf, p._base is None)

# a leaf made by requires_grad_ on a view: its history is regenerated from a base that
# needs no gradient, so none reaches it
q = torch.arange(12.).view(3, 4).requires_grad_()
qv = q.t()[::2]
with torch.no_grad():
    q[1:][:, 0].fill_(-5.)
print(q.is_leaf, q._base is None, qv.grad_fn.name(), qv.grad_fn.next_functions)
(qv ** 2).sum().backward()
print(q.grad, q._version, qv._version)

# -- split and chunk outputs read after a write to the base ------------------------------
base = torch.randn(6, 4, requires_grad=True)
for name, put in places():
    w = put(base * 1)
    parts = w.split(2)
    halves = w.chunk(2, 1)
    w[0, 0] = 100.
    print(name, [t._version for t in parts], halves[0]._version, full(parts[0].detach())[0, 0],
          full(halves[0].detach())[0, 0])
    print(attempt(lambda: parts[1].mul_(2)), attempt(lambda: halves[1].zero_()))
    print(attempt(lambda: full(parts[2]).sum().backward()), base.grad)
    base.grad = None
print("done")
