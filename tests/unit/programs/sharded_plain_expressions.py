# Tensors split over workers mixed with plain ones in the expressions a script writes: a
# sharded activation plus a driver bias, a replicated result of an op that broadcasts a
# shard, in-place writes through views of the sharded tensor (and of the mixed results),
# reductions over the split dim and across it, gathering with full() mid-graph, and the
# gradients read and zeroed through views of .grad after backward (distgrad: two workers;
# torch: a copy). `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(59)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def name(t):
    return t.grad_fn.name() if t.grad_fn is not None else None


w = shard(torch.randn(6, 4), 0).requires_grad_()
bias = torch.randn(4, requires_grad=True)
scale = torch.tensor(1.5, requires_grad=True)
col = torch.randn(6, 1, requires_grad=True)
print(w.is_leaf, w.requires_grad, w.shape, w.stride(), w.is_contiguous(), w._version)

h = w * scale + bias  # sharded with a 0-dim and a row: placed as w
g = h - col  # a column broadcast against the split rows
print(name(h), name(g), h.shape, g.shape, h._version)
row_sum = g.sum(0)  # across the split dim
col_sum = g.sum(1, keepdim=True)  # along it
print(name(row_sum), name(col_sum), row_sum.shape, col_sum.shape)
g[:, 0].mul_(2)
g[1:3].add_(col_sum[1:3])
g.t()[3].clamp_(min=-0.5, max=0.5)
print(name(g), g._version, h._version, full(g.detach())[:, 3].abs().max().item() <= 0.5)
mixed = full(g) @ torch.ones(4, 2) + torch.arange(2.)
mixed[0].zero_()
loss = mixed.pow(2).sum() + row_sum.sum() * 0.1
loss.backward()
print(round(loss.item(), 4), scale.grad, bias.grad, col.grad.view(-1))
print(full(w.grad), w.grad.shape, w.grad._version)

# -- the gradient edited through views, then a second backward accumulating into it ----------------
gw = w.grad
gw[0].zero_()
gw.t()[1].mul_(0.5)
print(gw._version, full(gw)[0].abs().sum().item(), full(gw)[:, 1])
(w * w).sum().backward()
print(full(w.grad)[:2], w.grad is gw)
with torch.no_grad():
    w.grad.view(-1)[::5].fill_(7.0)
print(full(w.grad).view(-1)[::5], w.grad._version)

# -- a replicated result, written in place, read back ---------------------------------------------
v = shard(torch.arange(8.).view(4, 2), 0)
r = v.sum(0)  # reduced over the split dim: the same on every worker
rr = r + torch.tensor([10.0, 20.0])
rr.mul_(2)
rr[1] = -1.0
print(full(r), full(rr), rr.shape, rr._version, name(rr))
k = torch.randn(4, 2, requires_grad=True)
s = shard(k * 1, 0)
t = s.mean(0) * s  # a reduction broadcast back over the split rows
t.diagonal().fill_(0.0)
(full(t) * torch.arange(8.).view(4, 2)).sum().backward()
print(k.grad, name(t), t._version)

# -- errors a script hits -----------------------------------------------------------------------------
print(attempt(lambda: w.add_(1)))
print(attempt(lambda: (shard(torch.ones(4, 3), 0) + torch.ones(2, 3))))
print(attempt(lambda: full(shard(torch.ones(4, 3), 0).view(3, 4).mul_(torch.ones(4)))))
u = shard(torch.ones(4, 3), 1).requires_grad_()
e = u.exp()
with torch.no_grad():
    u[0, 0] = 2.0
print(u._version, attempt(lambda: full(e).sum().backward()))
print("done")
