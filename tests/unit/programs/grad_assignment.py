# .grad set by hand, as gradient-surgery and federated code does: assigned a tensor of
# the right shape (kept as given, then accumulated into by backward), of a wrong shape,
# dtype or device (torch's errors), a non-contiguous or expanded one, set on a non-leaf,
# set to None between accumulations, edited through a view, and on a worker and on a
# sharded leaf (distgrad: two workers; torch: the CPU and a copy). `W`, `shard` and
# `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(79)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def set_grad(t, g):
    t.grad = g
    return "ok"


p = torch.randn(3, 4, requires_grad=True)
g = torch.ones(3, 4)
p.grad = g
(p * 2).sum().backward()
print(p.grad is g, p.grad[0], g[0], g._version)
print(attempt(lambda: set_grad(p, torch.ones(4, 3))))
print(attempt(lambda: set_grad(p, torch.ones(3, 4, dtype=torch.float64))))
print(attempt(lambda: set_grad(p, torch.ones(3, 4, dtype=torch.int64))))
print(attempt(lambda: set_grad(p, [1.0])))
gt = torch.zeros(4, 3).t()
p.grad = gt
(p ** 2).sum().backward()
print(p.grad is gt, p.grad.stride(), p.grad.is_contiguous(), gt[0])
ge = torch.zeros(4).expand(3, 4)
p.grad = ge
print(attempt(lambda: (p * 1).sum().backward()), p.grad.stride(), p.grad is ge)
p.grad = None
y = p * 3
print(attempt(lambda: set_grad(y, torch.ones(3, 4))), y.grad)
p.grad = torch.zeros(3, 4)
p.grad[1:].add_(5)
p.grad.t()[0].fill_(-1)
y.sum().backward()
print(p.grad)

for name, put in (("worker", lambda t: t.to(W[1])), ("shard", lambda t: shard(t, 0))):
    q = put(torch.randn(4, 2)).requires_grad_()
    (q * q).sum().backward()
    first = full(q.grad).clone()
    q.grad = None
    (q * 3).sum().backward()
    print(name, full(q.grad)[0], first.shape)
    q.grad.mul_(2)
    q.grad[0].zero_()
    (q * 1).sum().backward()
    print(full(q.grad)[:2], q.grad.requires_grad, q.grad.grad_fn)
    print(attempt(lambda: set_grad(q, put(torch.ones(2, 4)))))
    with torch.no_grad():
        q.sub_(q.grad * 0.1)
    print(q._version, full(q.detach())[3])
print("done")
