# A sharded tensor through long chains of views (distgrad: split over two workers; torch: a
# copy): transpose, narrow, unfold, expand, as_strided, diagonal, unflatten, written in place
# through the views and read back through others, the version counters the writes bump,
# the "modified by an inplace operation" error a saved tensor's write raises, retain_grad
# and hooks on views of sharded tensors, and the grads that reach the sharded leaf.
# `shard`, `full` and `W` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(3)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


x = torch.randn(6, 8, requires_grad=True)
s = shard(x * 1, 0)
t = s.t()
n = t.narrow(0, 2, 4)
u = n.unflatten(0, (2, 2))
print(t.shape, n.shape, u.shape, t.is_contiguous(), n.stride(), u.stride())
u[1, 0].mul_(2)
u[:, 1, 3:].add_(1)
print(s._version, t._version, u._version, s.grad_fn.name(), u.grad_fn.name())
print(full(s.detach())[:, 2:6])
w = s.unfold(1, 3, 2)
print(w.shape, w.stride(), full(w.detach())[0, 1])
d = s.diagonal(offset=1)
d.retain_grad()
hooked = []
d.register_hook(lambda g: hooked.append(g.shape))
e = d.unsqueeze(0).expand(3, -1)
print(e.shape, e.stride(), e.grad_fn.name())
loss = (e * torch.arange(3.).unsqueeze(1)).sum() + (w.sum(-1) ** 2).mean()
loss.backward()
print(x.grad)
print(full(d.grad), hooked)

y = torch.randn(4, 6, requires_grad=True)
sy = shard(y * 2, 1)
v = sy.as_strided((3, 2), (6, 2), 1)
print(v.shape, v.stride(), v.storage_offset(), full(v.detach()))
r = sy.view(2, 12)
print(r.shape, attempt(lambda: sy.t().view(24).shape))
p = sy.exp()
q = sy.sigmoid()
sy.t()[2].zero_()
print(sy._version, attempt(lambda: p.sum().backward()))
print(attempt(lambda: q.sum().backward()))
print(attempt(lambda: e.sum().backward()))
print(attempt(lambda: sy.expand(2, 4, 6).add_(1)))
ex = sy.unsqueeze(0).expand(2, 4, 6)
print(attempt(lambda: ex.mul_(2)))

z = torch.randn(3, 4, 5, requires_grad=True)
sz = shard(z + 0, 2)
m = sz.permute(2, 0, 1).reshape(5, 12)
m.retain_grad()
k = m.narrow(1, 3, 6).t()
k.retain_grad()
seen = []
k.register_hook(lambda g: seen.append(round(g.sum().item(), 4)))
k.register_hook(lambda g: g * 2)
out = (k.tanh() * torch.linspace(-1, 1, 5)).sum()
out.backward()
print(z.grad[1], seen)
print(m.grad.shape, full(m.grad)[:, 2:5], k.grad.shape)
print(k.is_leaf, k.requires_grad, k._is_view(), m.grad_fn.name())

a = torch.randn(5, 5, requires_grad=True)
sa = shard(a.clone(), 0)
diag = sa.diagonal()
diag.copy_(torch.ones(5))
sa.narrow(1, 0, 2).t()[1].div_(4)
sa.unflatten(1, (5, 1))[:, :, 0][3].fill_(0.0)
print(full(sa.detach()), sa._version)
sa.sum(1).pow(2).sum().backward()
print(a.grad)
print("done")
