# Views made under no_grad and inference_mode of tensors on a worker and split over
# workers, then used in grad mode the ways scripts use them: written in place (torch's
# errors for a view made in no_grad of a tensor requiring grad, an inference tensor outside
# inference_mode), their base written instead, requires_grad_ and detach_ on them, a
# leaf's .data view written, a view of a parameter made in no_grad and read after an
# optimizer step, and is_inference / requires_grad / grad_fn / _version through it all
# (distgrad: two workers; torch: the CPU and a copy). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(67)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def name(t):
    return t.grad_fn.name() if t.grad_fn is not None else None


places = (("worker", lambda t: t.to(W[1]), lambda t: t.cpu()), ("shard", lambda t: shard(t, 0), full))
for where, put, back in places:
    a = torch.randn(4, 3, requires_grad=True)
    x = put(a * 1)
    with torch.no_grad():
        v = x[1:3]
        row = x.select(0, 0)
    print(where, v.requires_grad, v.is_leaf, name(v), v._is_view(), v._base is x)
    print(attempt(lambda: v.mul_(2)))
    print(attempt(lambda: row.zero_()))
    x[1:3].mul_(2)  # the same write through a view made in grad mode
    print(name(x), x._version, v._version, v.requires_grad, attempt(lambda: name(v)))
    with torch.no_grad():
        v.add_(100)  # under no_grad: allowed, counted
    print(x._version, back(x.detach())[1, 0].item() > 50)
    (back(x) * torch.arange(12.).view(4, 3)).sum().backward()
    print(a.grad)

    leaf = put(torch.randn(3, 2)).requires_grad_()
    with torch.no_grad():
        lv = leaf.t()
    print(lv.requires_grad, lv.is_leaf, attempt(lambda: lv.add_(1)), leaf._version)
    print(attempt(lambda: lv.detach_()), attempt(lambda: lv.requires_grad_(False).requires_grad),
          (lv * 2).requires_grad, leaf.requires_grad)
    dv = leaf.data[0]
    dv.fill_(5.0)
    print(leaf._version, dv._version, back(leaf.detach())[0], dv.requires_grad)

    with torch.inference_mode():
        inf = put(torch.ones(2, 3))
        inf_view = inf[0]
        inf_view.add_(1)
    print(inf.is_inference(), inf_view.is_inference(), inf.requires_grad, back(inf))
    print(attempt(lambda: inf_view.mul_(2)))
    print(attempt(lambda: inf.add_(1)))
    print(attempt(lambda: (inf * put(torch.ones(2, 3, requires_grad=True))).sum().backward()))
    c = inf.clone()
    c.add_(1)
    print(c.is_inference(), c._version, back(c))

# -- a view of a parameter made under no_grad, read after optimizer steps -------------------------------
lin = torch.nn.Linear(2, 3).to(W[0])
with torch.no_grad():
    first_row = lin.weight[0]
    snapshot = lin.weight[0].clone()
opt = torch.optim.SGD(lin.parameters(), lr=0.5)
for _ in range(2):
    opt.zero_grad()
    lin(torch.ones(4, 2).to(W[0])).pow(2).sum().backward()
    opt.step()
print(first_row._version, lin.weight._version, torch.equal(first_row.detach().cpu(), lin.weight[0].detach().cpu()),
      torch.equal(first_row.detach().cpu(), snapshot.cpu()), first_row.requires_grad, attempt(lambda: name(first_row)))
print(attempt(lambda: first_row.mul_(0)))
print("done")
