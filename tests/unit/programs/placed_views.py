# Views of tensors on workers written in place (slices, a transpose, unsqueeze, diagonal,
# select), a leaf moved to a worker and where its .grad lands, retain_grad and hooks on
# placed intermediates, a result moved between workers mid-graph, the errors torch
# raises for the unsafe writes, and a custom Function writing a placed input in place
# (distgrad: two workers, or split over both; torch: the CPU twice). `W`, `shard` and
# `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(5)


def attempt(f):
    try:
        return f()
    except RuntimeError as e:
        return "RuntimeError: " + str(e)


a = torch.randn(3, 4, requires_grad=True)
b = a.to(W[0]) * 2
b[1:, :2].mul_(3)
b.t()[2].add_(1)
b.unsqueeze(0)[0, 0].sub_(0.5)
b.diagonal().mul_(-1)
print(b.grad_fn.name(), b._version, b.detach().cpu())
b.retain_grad()
seen = []
b.register_hook(lambda g: seen.append(g.sum().item()))
c = b.to(W[1]).exp()
c.retain_grad()
d = (c * torch.arange(4.).to(W[1])).sum()
d.backward()
print(a.grad, b.grad.cpu(), c.grad.device == torch.device(W[1]), seen)

leaf = torch.randn(2, 3).to(W[1]).requires_grad_()
print(leaf.is_leaf, leaf.grad_fn, leaf.device == torch.device(W[1]))
(leaf.sin() * leaf).sum().backward()
g1 = leaf.grad.clone()
(leaf * 2).sum().backward()
print(g1.cpu(), leaf.grad.cpu(), leaf.grad.device == leaf.device)
leaf.grad = None
with torch.no_grad():
    leaf[0] = leaf[1] * 3
    leaf.t()[1].zero_()
print(leaf.detach().cpu(), leaf.grad, leaf._version, leaf.requires_grad)
leaf.grad = torch.ones(2, 3).to(W[1])
leaf.sum().backward()
print(leaf.grad.cpu())

s = torch.randn(4, requires_grad=True).to(W[0]) * 1
t = s.sin()
s.mul_(2)
print(attempt(lambda: t.sum().backward()))
u = torch.randn(2, 2).to(W[0]).requires_grad_()
print(attempt(lambda: u.add_(1)))
print(attempt(lambda: u[0].mul_(2)))
print(attempt(lambda: u.t().zero_()))
x = torch.randn(2, 3, requires_grad=True).to(W[1]).clone()
v = x.unbind(1)[0]
print(attempt(lambda: v.mul_(2)))
r = x.pow(2)
x.t()[0].fill_(0.5)
print(x._version, attempt(lambda: r.sum().backward()))
m = torch.randn(3, 3, requires_grad=True)
n = m.to(W[0]).sin()
n[0].copy_(m[1].to(W[0]))
n[1:] += n[0]
n.to(W[1]).pow(2).sum().backward()
print(full(n.detach()).cpu(), m.grad, n.grad_fn.name())


class Scale_(torch.autograd.Function):  # writes its input in place (mark_dirty)
    @staticmethod
    def forward(ctx, x, k):
        ctx.mark_dirty(x)
        ctx.k = k
        return x.mul_(k)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


for place in (lambda t: t.to(W[0]), lambda t: shard(t, 0)):
    m.grad = None
    h = place(m * 1)
    r = Scale_.apply(h, 3.0)
    r.retain_grad()
    (r.sin() * r).sum().backward()
    print(r is h, r.grad_fn.name(), h._version, full(r.grad).cpu(), m.grad)

# as_strided of a placed view: its node leads to the view (its hooks run), and a view made
# to require grad (its base needs none) is a leaf whose gradient is kept
base = torch.arange(12., device=W[1])
leafy = base.reshape(3, 4)[1:].requires_grad_()
o = leafy.as_strided((2, 2), (1, 2), 5)
(o * torch.arange(4., device=W[1]).reshape(2, 2)).sum().backward()
print(o.grad_fn.name(), o.requires_grad, leafy.grad.cpu())
a = (torch.arange(12., requires_grad=True) * 1).to(W[0])
w = a[2:]
w.register_hook(lambda g: print("hook on the view", g.shape))
o = w.as_strided((3,), (2,), 1)
print([n.name() for n, _ in o.grad_fn.next_functions])
o.sum().backward()
# a view keeps its base alive (here the only reference to the sharded base)
s = shard((torch.arange(12., requires_grad=True) * 1), 0)[2:]
print(s._is_view(), s._base is None, full(s.as_strided((3,), (2,), 1)).tolist())
print("done")
