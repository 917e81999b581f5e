# Storage-level code: data_ptr and untyped_storage to tell views from copies, set_ and
# resize_, .data and detach() sharing memory, clone/contiguous/reshape deciding to copy,
# writes through unfold, diagonal, as_strided and expand (the error), views of views kept
# in step after a write, and versions through it all.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(0)

a = torch.arange(12.0).reshape(3, 4)
views = {"t": a.t(), "row": a[1], "col": a[:, 2], "flat": a.view(-1), "narrow": a.narrow(1, 1, 2),
         "diag": a.diagonal(), "unfold": a.unfold(1, 2, 2), "reshape_c": a.reshape(4, 3),
         "reshape_t": a.t().reshape(12), "contig_t": a.t().contiguous(), "clone": a.clone(),
         "detach": a.detach(), "data": a.data, "flatten": a.flatten(), "ravel_t": a.t().ravel()}
base_ptr = a.untyped_storage().data_ptr()
for name, v in views.items():
    shares = v.untyped_storage().data_ptr() == base_ptr
    print(f"{name:10s} shares={shares} offset={v.storage_offset()} stride={v.stride()} "
          f"contig={v.is_contiguous()} view={v._base is not None}")

a[1, 2] = 100.0
print(views["row"], views["col"], views["diag"], views["contig_t"][2, 1].item())
views["unfold"][0, 0, 1] = -1.0
views["diag"].mul_(2)
print(a)
print(a._version, views["diag"]._version, views["clone"]._version)
try:
    a[0].expand(2, 4).add_(1)
except RuntimeError as e:
    print("expand write:", str(e)[:110])
try:
    a.as_strided((2, 2), (0, 1)).add_(1)
except RuntimeError as e:
    print("overlap write:", str(e)[:110])
s = a.as_strided((2, 3), (4, 1), 5)
s.zero_()
print(a)

b = torch.zeros(2, 3)
c = torch.arange(6.0)
b.set_(c.untyped_storage(), 1, (2, 2), (2, 1))
print(b, b.storage_offset(), b.is_set_to(c))
c[3] = 33.0
print(b)
r = torch.arange(6.0)
r.resize_(2, 2)
print(r, r.shape)
r.resize_(3, 3)
print(r.shape, r[:2, :2].flatten()[:2])

# .data and detach() share memory but not history
x = torch.randn(3, requires_grad=True)
y = x * 2
d = x.detach()
d.zero_()
print(x, x._version, d._version)
x.data.add_(1)
print(x, x._version)
z = (x * x).sum()
z.backward()
print(x.grad)

# autograd through views written in place
p = torch.randn(4, 4, requires_grad=True)
q = p.clone()
q.diagonal().mul_(3)
q[:, 0].add_(q[:, 1])
u = q.unfold(0, 2, 2)
u[..., 0].sub_(1)
(q.sum(0) ** 2).sum().backward()
print(p.grad)
print(q.grad_fn.name(), u.grad_fn.name(), q._version)
print("done")
