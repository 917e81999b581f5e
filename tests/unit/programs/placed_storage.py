# Storage-level code on workers: views of a worker tensor share its memory there (writes
# through them are seen), a copy sent to another worker is a copy, copy_ between workers,
# resize_ on a worker, and a backward through writes into views of a worker tensor whose
# leaf lives on the driver, moved on to another worker and written there too.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(1)

a = torch.arange(12.0).reshape(3, 4).to(W[0])
v = {"t": a.t(), "row": a[1], "diag": a.diagonal(), "unfold": a.unfold(1, 2, 2),
     "clone": a.clone(), "moved": a.to(W[1], copy=True)}
for name, t in v.items():
    print(name, t.stride(), t.storage_offset(), t._base is not None, t.is_contiguous())
a[1, 1] = -5.0
v["unfold"][2, 1, 0] = 77.0
v["diag"].add_(0.5)
print(a.cpu(), v["row"].cpu(), v["moved"][1].tolist(), v["clone"].sum().item())
print(a._version, v["diag"]._version, v["moved"]._version)

b = torch.zeros(3, 4).to(W[1])
b.copy_(a)
b[0].fill_(9)
print(a[0].tolist(), b[0].tolist())
c = torch.empty(2, 6, device=W[0])
c.copy_(b.view(2, 6))
print(c.cpu())
r = torch.arange(6.0).to(W[1])
r.resize_(2, 3)
print(r.cpu(), r.is_contiguous(), r.stride())

leaf = torch.randn(4, 3, requires_grad=True)
h = (leaf.to(W[0]) * 2).t()
h[0].mul_(torch.arange(1.0, 5.0).to(W[0]))
h2 = h.to(W[1]).clone()
h2.diagonal().zero_()
loss = (h2 ** 2).sum()
loss.backward()
print(leaf.grad, h.grad_fn.name(), h2.grad_fn.name(), h._version, h2._version)
print("done")
