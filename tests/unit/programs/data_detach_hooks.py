# Writes that autograd does not see, and hooks that see every backward: .data and detach()
# written in place (shared memory, version counters), detach_() on a view and on a graph's
# middle, requires_grad_ on a view's base, leaf hooks that replace the gradient and count
# calls over several backward passes with retain_graph, .grad edited in place between
# calls, post-accumulate-grad hooks, `.data =` and detach_() of a saved operand, on the
# driver, a worker and shards (distgrad: two workers; torch: the CPU and a copy). `W`,
# `shard` and `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(23)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def places():
    yield "cpu", lambda t: t
    yield "worker", lambda t: t.to(W[1])
    yield "shard", lambda t: shard(t, 0)


for name, put in places():
    p = put(torch.randn(4, 3)).requires_grad_()
    calls = []
    p.register_hook(lambda g: calls.append("h1") or g * 2)
    p.register_hook(lambda g: calls.append("h2") or None)
    p.register_post_accumulate_grad_hook(lambda t: calls.append(("post", tuple(t.grad.shape))))
    y = (p * p).sum(1)
    out = y.sum()
    out.backward(retain_graph=True)
    g1 = full(p.grad).clone()
    p.grad.mul_(0.5)
    out.backward(retain_graph=True)
    print(name, calls, torch.allclose(full(p.grad), g1 * 1.5))
    p.grad.zero_()
    y[1:].sum().backward()
    print(full(p.grad)[0], full(p.grad)[1].abs().sum() > 0, p._version, p.grad._version > 0)

    # .data and detach() writes: memory shared, history kept
    q = put(torch.ones(3, 2)).requires_grad_()
    z = q * 3
    zz = z * q
    z.data.mul_(10)
    print(z._version, z.data._version, full(z.detach())[0])
    d = q.detach()
    d[0, 0] = 5.
    print(q._version, d._version, full(q.detach())[0], d.requires_grad, d.is_leaf)
    print(attempt(lambda: zz.sum().backward()))
    q.grad = None
    (z * 1).sum().backward()
    print(full(q.grad)[0])

    # `.data =` of a driver operand an op on p saved (a part of it, for a shard): torch
    # saved the operand itself, so the backward reads its new memory
    w = torch.tensor([[0.5], [-1.5], [2.0], [1.0]], device=W[1] if name == "worker" else "cpu",
                     requires_grad=True)
    r = p * w
    w.data = w.data * 2
    p.grad = None
    r.sum().backward()
    print(full(p.grad)[:, 0], w.grad.flatten().cpu())

    # detach_ of a driver operand's history after an op on p saved it (a part of it, for
    # a shard): torch saved the operand itself, so the backward refuses it
    u = w * 2
    r = p * u
    u.detach_()
    print(attempt(lambda: r.sum().backward()))

# detach_ on the middle of a graph and on a view
a = torch.randn(3, 3, requires_grad=True)
b = a * 2
c = b.exp()
b.detach_()
print(b.requires_grad, b.is_leaf, b.grad_fn, c.grad_fn.name(), b._version)
c.sum().backward()
print(a.grad)
v = (a * 1)[1:]
print(attempt(lambda: v.detach_()))
with torch.no_grad():
    nv = (a * 1)[1:]
print(attempt(lambda: nv.detach_()), nv.requires_grad)

# requires_grad_ on a view's base after the view was taken
base = torch.zeros(2, 3)
view = base[:, 1]
base.requires_grad_()
print(view.requires_grad, view.is_leaf, view.grad_fn)
view2 = base[:, 2]
print(view2.requires_grad, view2.grad_fn.name(), view2.is_leaf)
(view2 * 2).sum().backward()
print(base.grad)
print(attempt(lambda: view.requires_grad_()), attempt(lambda: view2.requires_grad_(False)))

# a hook on a view: the gradient reaching the base is the hook's
m = torch.randn(2, 4, requires_grad=True)
mm = m * 1
col = mm[:, 1:3]
col.register_hook(lambda g: g * 10)
col.retain_grad()
(mm ** 2).sum().backward()
print(m.grad, col.grad)
print("done")
