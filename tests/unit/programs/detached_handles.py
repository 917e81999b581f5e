# Handles on a tensor's memory that autograd does not see, as training code makes them:
# `.data =` into a parameter (another shape; a placed or sharded one, its .grad kept),
# writes through `.data` (no version count: backward reads the new values) and through
# detach() (counted: torch's version error), detach_() on a view, retain_grad with an
# in-place write to that tensor, .grad written in place by the user and viewed across
# zero_grad(set_to_none=False), grads of another layout, checkpoint of functions writing
# their input or a view of it, and inference_mode tensors used afterwards (their
# versions and torch's errors); on the CPU, on a worker and sharded (distgrad: two
# workers, or split over both; torch: the CPU). `W`, `shard` and `full` are the
# runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
checkpoint = torch.utils.checkpoint.checkpoint
torch.manual_seed(11)


def attempt(f):
    try:
        return f()
    except RuntimeError as e:
        return "RuntimeError: " + str(e)


lin = nn.Linear(3, 2)
old = lin.weight
lin.weight.data = torch.ones(4, 3)
print(lin.weight.shape, lin.weight is old, lin.weight._version, lin.weight.is_leaf)
print(attempt(lambda: lin(torch.ones(1, 3))))
lin.weight.data = torch.full((2, 3), 0.5)
out = lin(torch.ones(1, 3))
out.sum().backward()
print(out, lin.weight.grad, lin.weight._version)

w = torch.randn(2, 3, requires_grad=True)
print(attempt(lambda: w[0].detach_()))
h = w * 2
print(attempt(lambda: h.requires_grad_(False)), h.requires_grad_(True).is_leaf)
k = h.clone()
k.detach_()
print(k.requires_grad, k.grad_fn, k.is_leaf, k._version, h.grad_fn.name())
q = w * 3
q.retain_grad()
q.mul_(2)
q.sum().backward()
print(q.grad, w.grad, q.grad_fn.name())
q2 = w + 1
q2.retain_grad()
r = q2.exp()
q2.add_(1)
(r.sum() + q2.sum()).backward()
print(q2.grad, w.grad)
q3 = w + 1
q3.retain_grad()
q3[0].mul_(3)
q3.sum().backward()
print(q3.grad, q3.grad_fn.name())

lin = nn.Linear(3, 2)
opt = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.5)
xb = torch.randn(4, 3)
lin(xb).pow(2).sum().backward()
g = lin.weight.grad
row = g[0]
g.mul_(0.5)
lin(xb).pow(2).sum().backward()
print(g is lin.weight.grad, g._version, row)
opt.step()
opt.zero_grad(set_to_none=False)
print(g is lin.weight.grad, g._version, row, lin.bias.grad)
lin(xb).sum().backward()
opt.step()
print(g is lin.weight.grad, g._version, row, lin.weight)
lin.weight.grad = torch.zeros(3, 2).t()
lin(xb).sum().backward()
print(lin.weight.grad.stride(), lin.weight.grad._version, lin.weight.grad)
opt.zero_grad()
print(lin.weight.grad, row)


def scale_in_place(t):
    t.mul_(2)
    return t.sin()


def write_view(t):
    u = t * 1
    u[:, 0].add_(1)
    return u.exp()


x = torch.randn(3, 2, requires_grad=True)
for reentrant in (False, True):
    x.grad = None
    out = checkpoint(write_view, x, use_reentrant=reentrant)
    out.sum().backward()
    print(reentrant, out.grad_fn.name(), x.grad)
    h = x * 1
    out = checkpoint(scale_in_place, h, use_reentrant=reentrant)
    print(h._version, attempt(lambda: out.sum().backward()))

with torch.inference_mode():
    a = torch.ones(3)
    b = a * 2
    av = a[1:]
print(a.is_inference(), b.is_inference(), av.is_inference(), attempt(lambda: a._version))
print(attempt(lambda: a.add_(1)), attempt(lambda: av.zero_()), a)
print(attempt(lambda: a.requires_grad_()), a.detach()._version, a.data._version)
ad = a.detach()
ad.mul_(2)
print(ad._version, ad.is_inference(), a, attempt(lambda: ad[1:]._version), attempt(lambda: ad[1:].mul_(2)))
p = torch.randn(3, requires_grad=True)
print(attempt(lambda: (p * b).sum().backward()), p.grad)
print(attempt(lambda: (p + b).sum().backward()), p.grad)
c = b.clone()
c.add_(1)
print(c.is_inference(), c)
with torch.inference_mode():
    print(attempt(lambda: p.add_(1)), a.detach().add_(1), attempt(lambda: a.detach()._version))
    pw = p * 2
print(pw.requires_grad, pw.grad_fn, attempt(lambda: pw._version), a)
with torch.no_grad():
    n = torch.ones(2)
with torch.inference_mode():
    n.add_(1)
    nv = n[:1]
print(n._version, n.is_inference(), nv.is_inference(), nv.mul_(2), n._version)

for place in (lambda t: t.to(W[0]), lambda t: shard(t, 0)):
    for reentrant in (False, True):
        g = place(torch.randn(4, 3, requires_grad=True) * 1)
        out = checkpoint(write_view, g, use_reentrant=reentrant)
        print(reentrant, out.grad_fn.name(), full(out.detach()).cpu()[1])
        out = checkpoint(scale_in_place, g, use_reentrant=reentrant)
        print(g._version, attempt(lambda: out.sum().backward()))
    x = place(torch.randn(4, 3)).requires_grad_()
    y = x.sigmoid()
    x.data.add_(1)
    y.sum().backward()
    print(x._version, full(x.grad).cpu())
    z = x * x
    dx = x.detach()
    dx[1:3].mul_(2)
    print(x._version, dx._version, attempt(lambda: z.sum().backward()))
    x.grad = None
    z = x.exp()
    dd = x.data
    dd[0].zero_()
    z.sum().backward()
    print(x._version, dd._version, full(x.grad).cpu(), full(z.detach()).cpu()[0])
    h = x * 2
    h.retain_grad()
    v = h[1:]
    v.t()[0].mul_(3)
    h.sum().backward()
    print(h.grad_fn.name(), full(h.grad).cpu(), v._version, h._version)
    x.data = place(torch.ones(4, 3))
    print(x.shape, x._version, x.requires_grad, full(x.grad).cpu()[0])
    x.data = shard(torch.zeros(4, 3), 1)
    (x * 3).sum().backward()
    print(full(x.grad).cpu()[:, 0], x.is_leaf, x._version)
    with torch.inference_mode():
        inf = x * 2 + 1
        iv = inf[1:]
    print(inf.is_inference(), iv.is_inference(), attempt(lambda: inf._version), inf.detach()._version)
    held = inf.detach()
    held.add_(1)
    print(held._version, attempt(lambda: held[1:]._version), full(inf).cpu()[0])
    print(attempt(lambda: iv.add_(1)), attempt(lambda: (x * inf).sum().backward()))
    c = inf.clone()
    c.mul_(2)
    print(c.is_inference(), full(c).cpu())
print("done")
