# The tensor model's corners on a worker and sharded over two: in-place shape ops on a
# graph's tensor, then a write through a view of it; writes through row views and a
# column of them; .data and detach() writes against the version counter; a write through a
# flat view and a row; a view made under no_grad written in and out of it; retain_grad on
# a view; and the refusal of a write into an expanded tensor.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(0)
def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"

for where in ("w", "s"):
    place = (lambda t: t.to(W[1])) if where == "w" else (lambda t: shard(t, 0))
    back = (lambda t: t.cpu()) if where == "w" else full
    x = place(torch.randn(4, 6)).requires_grad_()
    y = x * 1
    print(where, attempt(lambda: y.t_().shape), y.grad_fn.name())
    y.unsqueeze_(0); print(y.shape, y.grad_fn.name(), y._version)
    y.squeeze_(0); print(y.shape, y.grad_fn.name(), y._version)
    z = y[1]
    z.mul_(2)
    print(y.grad_fn.name(), z.grad_fn.name(), z._version, y._version)
    (y * y).sum().backward()
    print(back(x.grad)[:2])
    a = place(torch.arange(12.).reshape(4, 3))
    b = a[1:3]
    b.add_(100)
    b[:, 1] = -5
    print(back(a), a._version, b._version, b.storage_offset())
    g = place(torch.randn(4, 3)).requires_grad_()
    gd = g.data
    gd.mul_(0)
    print(back(g.detach()).sum().item(), g._version, gd._version)
    h = g.detach()
    h.add_(1)
    print(back(g.detach()).sum().item(), g._version, h._version)
    m = place(torch.randn(4, 3)).requires_grad_()
    mm = m.clone()
    mv = mm.view(-1)
    mv[2] = 5.0
    mm[1].zero_()
    print(mm.grad_fn.name(), mv.grad_fn.name(), mm._version, mv._version)
    mv.sum().backward()
    print(back(m.grad))
    n = place(torch.randn(4, 2)).requires_grad_()
    with torch.no_grad():
        nv = n[:2]
    print(attempt(lambda: nv.mul_(2)))
    with torch.no_grad():
        nv.mul_(2)
    print(n._version, nv._version, back(n.detach()))
    r = place(torch.randn(4, 2)).requires_grad_()
    rv = r[1:3]
    rv.retain_grad()
    (rv * 3).sum().backward()
    print(back(rv.grad), back(r.grad))
    e = place(torch.zeros(4, 1)).expand(4, 3)
    print(attempt(lambda: e.add_(1)))
print("done")
