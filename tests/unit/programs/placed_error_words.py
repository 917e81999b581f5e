# The errors a user meets, on tensors in the driver, on a worker, and split over workers,
# each printed in torch's words: backward twice without retain_graph, an implicit gradient
# of a non-scalar, an in-place write to a leaf and to a view of a leaf, a saved tensor
# modified in place (its versions in the message), grad_outputs of the wrong shape and
# dtype, requires_grad on an integer tensor, and grad of an input not in the graph
# (distgrad: two workers; torch: the CPU). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(23)


def attempt(f):
    try:
        r = f()
        return "ok" if r is None else r
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def place(t, where):
    if where == "cpu":
        return t
    if where == "shard":
        return shard(t, 0)
    return t.to(W[1])


for where in ("cpu", "worker", "shard"):
    print("==", where)
    leaf = place(torch.randn(4, 3), where).requires_grad_()
    y = (leaf * leaf).sum()
    y.backward()
    print(attempt(lambda: y.backward()))
    z = leaf.exp()
    print(attempt(lambda: z.backward()))
    print(attempt(lambda: torch.autograd.grad(z, leaf)))
    print(attempt(lambda: leaf.add_(1)))
    print(attempt(lambda: leaf[0].mul_(2)))
    print(attempt(lambda: leaf.t().zero_()))
    print(attempt(lambda: leaf.view(-1).fill_(0)))
    mid = leaf * 1
    s = mid.sigmoid()
    mid.add_(1)
    mid.mul_(2)
    print(mid._version, attempt(lambda: s.sum().backward()))
    t = leaf.tanh()
    u = t.pow(2)
    t[1].zero_()
    print(t._version, attempt(lambda: u.sum().backward()))
    v = leaf * 3
    print(attempt(lambda: v.backward(torch.ones(3, 4))))
    r = torch.autograd.grad(v, leaf, torch.ones(4, 3, dtype=torch.float64), retain_graph=True)
    print(r[0].dtype, r[0].sum().item(), r[0].shape)
    print(attempt(lambda: torch.autograd.grad(v, leaf, torch.ones(4))))
    print(attempt(lambda: torch.autograd.grad([v, v], [leaf], [torch.ones(4, 3)])))
    v = leaf * 3
    other = place(torch.randn(4, 3), where).requires_grad_()
    print(attempt(lambda: torch.autograd.grad(v.sum(), [leaf, other])))
    v = leaf * 3
    g = torch.autograd.grad(v.sum(), [leaf, other], allow_unused=True, materialize_grads=True)
    print(g[1].abs().sum().item(), g[0].shape)
    ints = place(torch.arange(12).view(4, 3), where)
    print(attempt(lambda: ints.requires_grad_()), ints.requires_grad, ints.dtype)
    print(attempt(lambda: ints.float().requires_grad_().is_leaf))
    nonleaf = leaf * 2
    print(attempt(lambda: nonleaf.requires_grad_(False)))
    print(attempt(lambda: nonleaf.detach().add_(1) is None), nonleaf._version)
    print(attempt(lambda: leaf.sum().item()) != 0, leaf.grad is not None)
print("done")
