# Sharded and gathered tensors mixed with plain ones the way model-parallel code mixes them:
# a sharded activation plus a driver bias and a gathered (full) statistic in one expression,
# a write through a view of the sharded result, reads after backward; .to()/.cpu()/
# .clone()/.contiguous() of placed views and which results stay views; and the gradient of
# each leaf (distgrad: two workers; torch: copies). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(43)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


x = torch.randn(4, 6, requires_grad=True)
bias = torch.randn(6, requires_grad=True)
gate = torch.randn(4, 1, requires_grad=True)
for dim in (0, 1):
    x.grad = bias.grad = gate.grad = None
    xs = shard(x * 1, dim)
    stat = full(xs.pow(2).mean(0, keepdim=True))
    h = xs * gate.sigmoid() + bias - stat
    print(dim, tuple(h.shape), h.requires_grad, h.is_leaf, h.dtype)
    v = h[:, 1:4]
    v.mul_(2.0)
    h.t()[0].zero_()
    print(h._version, v._version, full(h.detach())[0])
    out = (full(h) * torch.arange(6.)).sum()
    out.backward()
    print(x.grad[1], bias.grad, gate.grad.squeeze(1))
    print(v.requires_grad, v.grad_fn is not None, full(v.detach()).shape)

# a leaf placed on a worker, its views moved and copied
p = torch.arange(12.).view(3, 4).to(W[1]).requires_grad_()
view = p[1:, ::2]
print(view._is_view(), view.is_contiguous(), view.stride(), view.storage_offset())
moved = view.cpu()
copied = view.clone()
dense = view.contiguous()
same = view.to(W[1])
print(copied._is_view(), dense._is_view(), same._is_view(), same is view, moved.shape)
print(copied.stride(), dense.stride(), copied.is_contiguous(), moved.dtype)
print(copied.grad_fn.name(), dense.grad_fn.name(), moved.requires_grad)
dd = p.t().contiguous()
print(dd.stride(), dd._is_view(), p.t().stride())
(moved.sum() + copied.pow(2).sum() + dense.exp().sum() * 0 + dd[0].sum()).backward()
print(p.grad.cpu())
with torch.no_grad():
    view.mul_(10)
print(p.cpu()[2], p._version, view._version, copied.detach().cpu()[1])
print(attempt(lambda: view.add_(1)))
q = torch.ones(2, 3).to(W[1])
print(attempt(lambda: (q + p[:2, :3]).detach().cpu()))
r = p.detach()[0].to(W[1])
print((q[0] + r[:3]).cpu(), r._is_view(), r.is_contiguous(), r._version)

# a sharded leaf written through a view of a non-leaf made from it
leaf = shard(torch.randn(6, 2), 0).requires_grad_()
tmp = leaf * 3
tmp[2:5].sub_(1.0)
tmp.view(-1)[::5].mul_(0.5)
(tmp ** 2).sum().backward()
print(full(leaf.grad).t(), tmp._version, full(tmp.detach()).is_contiguous())
print("done")
