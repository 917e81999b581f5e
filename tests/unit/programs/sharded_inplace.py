# In-place writes on sharded tensors and their views, then backward (distgrad: split over
# two workers; torch: a copy): slices along and across the split dim, a transpose, an
# unsqueeze, masked and indexed writes, retain_grad and hooks on sharded intermediates,
# a sharded leaf's .grad, torch.no_grad updates of a sharded parameter, the nodes a
# write to one shard (or by an op with no sharding rule) leaves, and the errors torch
# raises (an output of a split along the split dim written, a view made under no_grad).
# `shard`, `full` and `W` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch


def attempt(f):
    """What f returns, or the error it raises, in torch's words."""
    try:
        return f()
    except RuntimeError as e:
        return "RuntimeError: " + str(e)


torch.manual_seed(13)
a = torch.randn(6, 4, requires_grad=True)
s = shard(a * 1, 0)
h = s * 2
h[1:5, 1].mul_(3)
h[:, :2] += 1
h.t()[3].sub_(h[:, 0].detach())
h.unsqueeze(1)[2:4, 0].clamp_(min=0.0)
print(h.grad_fn.name(), h.requires_grad, h.is_leaf, full(h.detach()))
h.retain_grad()
seen = []
h.register_hook(lambda g: seen.append(round(g.abs().sum().item(), 4)))
y = (h.exp() * torch.linspace(0, 1, 4)).sum()
y.backward()
print(a.grad, full(h.grad), seen)

b = torch.randn(6, 3, requires_grad=True)
sb = shard(b * 1, 1)
sb[sb < 0] = 0.0
sb[torch.tensor([0, 2, 5])] *= 2
r = sb.tanh()
r.retain_grad()
(r * sb).sum().backward()
print(full(sb.detach()), b.grad, full(r.grad))

leaf = shard(torch.randn(4, 3), 0).requires_grad_()
print(leaf.is_leaf, leaf.requires_grad, leaf.grad_fn)
(leaf.pow(2) * 0.5).sum().backward()
print(full(leaf.grad))
with torch.no_grad():
    leaf.sub_(leaf.grad * 0.1)
    leaf[0].fill_(1.0)
    leaf.t()[:, 3].mul_(2)
    rows = leaf[1:3]
print(rows.requires_grad, rows.is_leaf, attempt(lambda: rows.mul_(2)))
leaf.grad.zero_()
(leaf * torch.arange(3.)).sum().backward()
print(full(leaf.detach()), full(leaf.grad), leaf._version)
print(attempt(lambda: leaf.mul_(2)))
print(attempt(lambda: leaf[1:].add_(1)))
c = shard(torch.randn(4, 2, requires_grad=True) * 1, 0)
e = c.sin()
c.add_(1)
print(attempt(lambda: e.sum().backward()))
d = shard(torch.randn(4, 2, requires_grad=True) * 1, 0)
parts = d.unbind(1)
print(attempt(lambda: parts[0].mul_(2)))
print(attempt(lambda: d.split(1)[2].mul_(2)), attempt(lambda: d.unbind(0)[3].zero_()))
rows = d[1:3]
d[3, 1].mul_(2)
print(d.grad_fn.name(), rows.grad_fn.name(), d.cummax(0).values.grad_fn.name())
d[torch.tensor([0, 3])] = 0.5
print(d.grad_fn.name(), d._version, full(rows.detach()))
p = torch.randn(4, 4, requires_grad=True)
q = shard(p * 1, 1)
q.diagonal().mul_(0)
q.t_()
q.unsqueeze_(0)
print(q.shape, full(q.detach())[0, 0])
(q.squeeze(0) @ p).sum().backward()
print(p.grad)
print("done")
