# Tensor surgery as research code writes it: an expanded leaf copied and viewed by unfold
# and movedim, a window written in place through the unfolded view, the *_scatter ops
# (select_scatter into a vector, slice_scatter, diagonal_scatter) next to a narrow view
# written in place, out= arguments with and without grad, writes to one of several views
# (split, unbind) refused, an as_strided window scaled in place, reshape that views or
# copies, and boolean/advanced index assignment, with versions, grad_fn names and the
# leaves' gradients (distgrad: some on a worker; torch: the CPU). `W` is the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(53)


def attempt(f):
    try:
        r = f()
        return "ok" if r is None else r
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


# -- an expanded leaf, unfolded windows written in place ------------------------------------------
a = torch.randn(2, 3, requires_grad=True)
b = a.unsqueeze(0).expand(4, 2, 3)
c = b * 1
print(attempt(lambda: b.mul_(2)))
e = c.unfold(2, 2, 1)
print(e.shape, e.stride(), e._is_view(), e.grad_fn.name())
e.mul_(2)
m = c.movedim(0, 2)
m[0, 0].add_(1)
print(c._version, m.grad_fn.name(), c.grad_fn.name(), m.shape, m.stride())
(c * torch.arange(3.)).sum().backward()
print(a.grad)

# -- the scatter ops next to a narrow view written in place ---------------------------------------
x = torch.randn(5, requires_grad=True)
for where in ("cpu", W[1]):
    x.grad = None
    y = x.to(where) * 1
    z = y.narrow(0, 1, 3)
    w = torch.select_scatter(y, torch.tensor(9.).to(where), 0, 0)
    s = torch.slice_scatter(y, torch.zeros(2).to(where), 0, 3, 5)
    z.exp_()
    print(y._version, z._version, w.grad_fn.name(), s.grad_fn.name(), w.cpu()[:2])
    print(attempt(lambda: (w.sum() + s.sum()).backward()))
    d = torch.diagonal_scatter(torch.zeros(5, 5).to(where), x.to(where) * 2, 0)
    d.sum().backward()
    print(x.grad, d.grad_fn.name(), d.cpu().diagonal())

# -- out= arguments --------------------------------------------------------------------------------
p = torch.randn(3, 4, requires_grad=True)
out = torch.empty(3, 4)
print(attempt(lambda: torch.mul(p, 2, out=out)))
with torch.no_grad():
    torch.mul(p, 2, out=out)
print(out._version, out.requires_grad, out[0])
grown = torch.empty(0)
torch.add(torch.ones(2), 1, out=grown)
print(grown, grown._version, grown.shape)

# -- one of several views -------------------------------------------------------------------------
q = torch.randn(4, 4, requires_grad=True)
r = q + 0
parts = r.split([1, 3])
print(attempt(lambda: parts[0].add_(1)))
rows = r.unbind(0)
print(attempt(lambda: rows[1].zero_()))
with torch.no_grad():
    rows[1].zero_()
print(r._version, rows[1]._version, attempt(lambda: rows[2].sum().backward()))
print(attempt(lambda: r.sum().backward()), q.grad)

# -- as_strided windows and reshape ---------------------------------------------------------------
k = torch.randn(3, 3, requires_grad=True)
kk = k.clone()
win = kk.as_strided((2, 2), (3, 1), 1)
win.mul_(3)
print(kk.grad_fn.name(), win.grad_fn.name(), kk._version, win._base is kk)
kk.sum().backward()
print(k.grad)
flat = k.detach().clone()
every = flat.view(9)[::2]
every.fill_(0)
print(flat, flat._version, every._version, every.is_contiguous(), every.stride())
t = k.t()
t.retain_grad()
tr = t.reshape(9)
print(tr._is_view(), tr.grad_fn.name(), torch.ones(2, 3).t().reshape(6)._is_view())
(tr * torch.arange(9.)).sum().backward()
print(t.grad, attempt(lambda: k.t().view(9)))

# -- index assignment ------------------------------------------------------------------------------
g = torch.zeros(3, 4, requires_grad=True)
h = g * 1
h[h == 0] = 2.0
h[:, [0, 2]] += torch.ones(3, 2)
h[torch.tensor([0, 0]), torch.tensor([1, 1])] += 5
print(h, h._version, h.grad_fn.name())
h.sum().backward()
print(g.grad)
ints = torch.zeros(5, dtype=torch.long)
ints[1:3] = 7
ints.add_(1)
print(ints, ints._version, attempt(lambda: ints.mul_(0.5)))
f = torch.ones(3)
f += torch.tensor([1, 2, 3])
print(f, f.dtype, attempt(lambda: torch.ones(3, dtype=torch.long).add_(torch.ones(3))))
print("done")
