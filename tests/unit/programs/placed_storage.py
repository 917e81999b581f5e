# Storage-level code on workers: views of a worker tensor share its memory there (writes
# through them are seen), a copy sent to another worker is a copy, copy_ between workers,
# resize_ on a worker, and a backward through writes into views of a worker tensor whose
# leaf lives on the driver, moved on to another worker and written there too; the addresses
# of a worker's memory (data_ptr) compared as code tells views from copies, its bytes read,
# and set_ onto a worker's memory (a tensor's, a storage's region); the same addresses and
# storages for views of a tensor sharded over the workers.
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
start = a.untyped_storage().data_ptr()
for name, t in v.items():
    shares = t.untyped_storage().data_ptr() == start
    print(name, shares, t.data_ptr() - start if shares else None)
print(a.untyped_storage().nbytes(), a.t().contiguous().untyped_storage().tolist()[4:8],
      torch.zeros(0, device=W[1]).data_ptr(), a[1:1].data_ptr())

s = torch.zeros(2, device=W[0])
s.set_(a)
a[2, 3] = 123.0
print(s.cpu(), s._version, s.data_ptr() == a.data_ptr(), s._base is None)
region = torch.zeros(1, device=W[0]).set_(a.untyped_storage(), 1, (2, 3), (4, 1))
region.mul_(-1)
print(region.cpu(), region.stride(), region.storage_offset(), a[0].tolist())
bits = torch.empty(0, dtype=torch.int32, device=W[0]).set_(a.untyped_storage(), 4, (2,))
print(bits.cpu(), torch.ones(2, device=W[0]).set_().shape)
w = torch.ones(3, requires_grad=True)
y = (w.to(W[1]) * 2)
y.set_(b.t())
print(y.grad_fn.name(), y.requires_grad, y.shape, y.stride())
try:
    y.sum().backward()
except RuntimeError as e:
    print("RuntimeError:", e)
try:
    torch.zeros(3, device=W[0]).set_(torch.zeros(3, dtype=torch.float64, device=W[0]))
except RuntimeError as e:
    print("RuntimeError:", e)
x = shard(torch.arange(24.0).reshape(4, 6), 0)
start = x.untyped_storage().data_ptr()
sv = {"row": x[1], "col": x[:, 2], "t": x.t(), "slice": x[1:3], "view": x.view(2, 12),
      "narrow": x.narrow(1, 2, 3), "clone": x.clone(), "contig_t": x.t().contiguous()}
for name, t in sv.items():
    same = t.untyped_storage().data_ptr() == start
    print(name, t.storage_offset(), t.untyped_storage().nbytes(), same,
          t.data_ptr() - start if same else None, t.untyped_storage().tolist()[24:28])
print("done")
