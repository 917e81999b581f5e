# Tensors copied between devices the ways scripts copy them (.to(W[k], copy=True),
# non_blocking=True, .to(device, dtype), .to(other_tensor), .type_as, new_* and *_like on a
# placed tensor's device), each copy's views written in place on both sides, what the copies
# share (storage data_ptr equalities, _base, _is_view), their version counters, grad_fn
# names and the gradients that flow back through the moves (distgrad: two workers; torch:
# the CPU twice). `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(7)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def ptr(t):
    return t.untyped_storage().data_ptr()


def show(name, t):
    print(name, tuple(t.shape), t.stride(), t.dtype, t.is_contiguous(), t._version,
          t.is_leaf, t.requires_grad, t._is_view(),
          t.grad_fn.name() if t.grad_fn is not None else None)


# -- copies of a leaf, then views of the copies written ----------------------------------------
a = torch.randn(3, 4, requires_grad=True)
b = a.to(W[0], copy=True)
c = b.to(W[1], copy=True, non_blocking=True)
d = a.to(W[1], torch.float64)
show("b", b), show("c", c), show("d", d)
print(ptr(b) == ptr(a), ptr(c) == ptr(b), b._base is None, c._base is None)
row = b[1]
col = c.t()[2]
print(row._base is b, col._base is c, ptr(row) == ptr(b), ptr(col) == ptr(c))
row.mul_(2)
col.add_(10)
show("row", row), show("col", col), show("b", b), show("c", c)
print(b._version, c._version, a._version, b.detach().cpu()[1], c.detach().cpu()[:, 2])
(b.sum().cpu() + (c * c).sum().cpu() + d.sum().float().cpu()).backward()
print(a.grad)

# -- a moved copy of a no-grad buffer, written on both sides under no_grad ----------------------
buf = torch.arange(8.).reshape(2, 4)
moved = buf.to(W[0], copy=True)
with torch.no_grad():
    moved.view(8)[::3].fill_(-1)
    buf.narrow(1, 1, 2).zero_()
print(buf, moved.cpu(), buf._version, moved._version, ptr(moved.view(8)) == ptr(moved))
back = moved.to("cpu", copy=True)
back[0, 0] = 100.0
print(moved[0, 0].item(), back[0, 0].item(), back._version)

# -- dtype moves with gradients -------------------------------------------------------------------
p = torch.randn(2, 3, requires_grad=True)
q = p.to(W[1]).to(torch.float64)
r = q.unsqueeze(0).expand(2, 2, 3)
show("q", q), show("r", r)
print(attempt(lambda: r.add_(1)))
s = q.clone()
s.t().mul_(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64).to(W[1]).unsqueeze(1))
show("s", s)
(s.sum() * 2).backward()
print(p.grad, p.grad.dtype)

# -- allocation on a placed tensor's device ----------------------------------------------------------
t = torch.randn(2, 2).to(W[1])
made = {"new_zeros": t.new_zeros(3), "new_full": t.new_full((2,), 5.0),
        "new_tensor": t.new_tensor([1, 2]), "zeros_like": torch.zeros_like(t, dtype=torch.int64),
        "empty_like": torch.empty_like(t).fill_(2), "type_as": torch.ones(2).type_as(t),
        "to_other": torch.ones(2, dtype=torch.float64).to(t), "full": torch.full((2,), 3, device=t.device)}
for name, m in made.items():
    print(name, m.device == t.device, m.dtype, m.shape, m.sum().item())
u = t.new_ones(2, 2, requires_grad=True)
(u * t).sum().backward()
print(u.is_leaf, u.grad.device == t.device, torch.allclose(u.grad.cpu(), t.cpu()))
print(attempt(lambda: u.to(W[0], copy=True).add_(1).detach().cpu()), attempt(lambda: u.add_(1)))
print("done")
