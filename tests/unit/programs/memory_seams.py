# The tensor model's corners as programs meet them: in-place view ops (t_, squeeze_,
# unsqueeze_, swapdims_) on a graph's tensors, writes through as_strided and unfold views,
# set_ and is_set_to, resize_, a dtype view, retain_grad on views, .data and detach()
# writes against the version counter, a view made under no_grad written in and out of it,
# and the errors torch gives for what it refuses there.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(0)
def attempt(f):
    try:
        r = f()
        return r
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"

x = torch.randn(4, 6, requires_grad=True)
y = x * 1
print(attempt(lambda: y.t_()), y.shape, y.grad_fn.name())
y.squeeze_(); y.unsqueeze_(0); print(y.shape, y.grad_fn.name(), y._version)
y.swapdims_(0, 1); print(y.shape, y.grad_fn.name(), y.is_contiguous(), y.stride())
z = y[0]
z.mul_(2)
print(y.grad_fn.name(), z.grad_fn.name(), z._version, y._version)
y.sum().backward()
print(x.grad)
a = torch.arange(12.).reshape(3, 4)
b = a.as_strided((2, 2), (4, 1), 1)
b.add_(100)
print(a, b.storage_offset(), a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr())
c = torch.zeros(3, 4)
c.set_(a)
print(c.is_set_to(a), c._version, a._version)
c[0, 0] = -1
print(a[0, 0].item(), a._version)
i = torch.tensor([1.5, -2.0, 3.25])
print(i.view(torch.int32), i.view(torch.int32).view(torch.float32))
w = torch.randn(3, 3, requires_grad=True)
u = w.unfold(0, 2, 1)
print(u.shape, u.grad_fn.name(), u.is_contiguous())
q = w.clone()
qu = q.unfold(1, 2, 1)
print(attempt(lambda: qu.mul_(2)))
k = w.clone()
kd = k[1:]
print(attempt(lambda: kd.detach_()))
print(attempt(lambda: k.requires_grad_(False)))
r = torch.randn(5, requires_grad=True)
rv = r[1:4]
rv.retain_grad()
s = rv * 3
rv2 = r.clone()[1:]
rv2.retain_grad()
(s.sum() + rv2.pow(2).sum()).backward()
print(rv.grad, rv2.grad, r.grad)
t = torch.zeros(2, 3)
t.resize_(3, 2)
print(t.shape, t._version)
t.resize_(4, 4)
print(t.shape, t[:2, :2])
e = torch.randn(3, 1).expand(3, 4)
print(attempt(lambda: e.add_(1)))
f = e.clone()
f += 1
print(f.is_contiguous(), f.stride())
g = torch.randn(3, 4, requires_grad=True)
gd = g.data
gd.mul_(0)
print(g.sum().item(), g._version, gd._version)
h = g.detach()
h.add_(1)
print(g.sum().item(), g._version)
print(attempt(lambda: (g * 2).sum().backward()), g.grad.sum().item())
m = torch.randn(2, 3, requires_grad=True)
mm = m.clone()
mv = mm.view(-1)
mv[2] = 5.0
mm[1].zero_()
print(mm.grad_fn.name(), mv.grad_fn.name(), mm._version, mv._version)
mv.sum().backward()
print(m.grad)
n = torch.randn(4, requires_grad=True)
with torch.no_grad():
    nv = n[:2]
print(attempt(lambda: nv.mul_(2)))
with torch.no_grad():
    nv.mul_(2)
print(n._version, nv._version, n)
o = torch.randn(3, 3)
ot = o.t()
print(attempt(lambda: ot.view(9)), ot.reshape(9).is_contiguous(), ot.contiguous().stride())
p = torch.randn(2, 2, requires_grad=True)
pc = p.clone()
pc.unsqueeze(0).squeeze(0)[0].copy_(torch.tensor([7.0, 8.0]))
print(pc, pc.grad_fn.name())
print("done")
