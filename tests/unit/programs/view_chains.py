# Views of views of tensors on a worker or split over two (narrow, select, a transpose
# unfolded, expand, as_strided, reshape and unfold across the split dim, which are copies
# standing for views), written in place under no_grad and with grad: each one's shape,
# strides, storage offset, contiguity and version (a view's is its base's), the history
# torch regenerates for the others (AsStridedBackward0), the version error naming the
# saved view, and gradients through them; then compiled steps that write their
# arguments, views of them and state in place, called again with the arguments written
# between calls (distgrad: recorded, then replayed; the versions count the replayed
# writes); and a DistributedDataParallel model whose parameters are written through views
# under no_grad between steps (each worker's copy takes the write). `W`, `shard`, `full`,
# `compiled` and `ddp` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(21)


def attempt(f):
    try:
        return f()
    except RuntimeError as e:
        return "RuntimeError: " + str(e)


def describe(t):
    return tuple(t.shape), t.stride(), t.storage_offset(), t.is_contiguous(), t._version


for name, place in (("worker", lambda t: t.to(W[1])), ("shard", lambda t: shard(t, 0)),
                    ("shard1", lambda t: shard(t, 1))):
    a = torch.randn(6, 4, requires_grad=True)
    b = place(a * 1)
    n = b.narrow(0, 1, 4)
    s = n.select(1, 2)
    u = b.t().unfold(1, 2, 2)
    e = b[0].expand(3, 4)
    st = b.as_strided((2, 2), (4, 1), 5)
    print(name, [describe(v) for v in (n, s, u, e, st)])
    if name == "worker":
        print(n._base is b, s._base is b, u._base is b, e._base is b, st._base is b)
    with torch.no_grad():
        s.mul_(10)
    print(b._version, n._version, s._version, u._version, full(b.detach()).cpu()[:, 2])
    print(n.grad_fn.name(), s.grad_fn.name(), u.grad_fn.name(), e.grad_fn.name())
    n[1:3].add_(1)
    if name == "worker":
        st.mul_(-1)
    print(b.grad_fn.name(), n.grad_fn.name(), st.grad_fn.name(), b._version, u._version, e._version)
    print(full(u.detach()).cpu()[1], full(e.detach()).cpu()[2])
    weights = torch.arange(4.)
    (b * (weights.to(W[1]) if name == "worker" else weights)).sum().backward()
    print(a.grad)

for dim in (0, 1):
    a = torch.randn(4, 6, requires_grad=True)
    b = shard(a * 1, dim)
    f = b.reshape(-1)
    g = b.t().reshape(-1)
    u = b.unfold(1, 3, 3)
    print(f._version, g._version, u._version, f.is_contiguous(), f.stride(), u.stride())
    print(f.grad_fn.name(), g.grad_fn.name(), u.grad_fn.name())
    f[2:5].mul_(2)
    print(b._version, f._version, g._version, u._version, full(u.detach())[0].cpu())
    print(f.grad_fn.name(), g.grad_fn.name(), u.grad_fn.name())
    with torch.no_grad():
        b[1].zero_()
    print(b._version, f._version, u._version, full(f.detach())[4:8].cpu())
    z = u.sin()
    b.add_(1)
    print(u._version, attempt(lambda: z.sum().backward()))
    (f * torch.arange(24.)).sum().backward()
    print(a.grad[:2], b.grad_fn.name(), f.grad_fn.name())

w = torch.randn(4, 3).to(W[0]).requires_grad_()
buf = torch.zeros(4, 3).to(W[0])


@compiled
def step(x, scale):
    y = x @ w.t()
    y.narrow(1, 0, 2).mul_(scale[0])
    y.t()[3].add_(1)
    loss = y.tanh().pow(2).sum()
    loss.backward()
    with torch.no_grad():
        w.sub_(w.grad * 0.1)
        w.grad.zero_()
        buf[1:3].add_(x[1:3, :3])
        x[0].zero_()
    return loss.detach(), y.detach()


x = torch.randn(5, 3).to(W[0])
scale = torch.tensor([2.0]).to(W[0])
for i in range(4):
    xv = x[1:]
    x.mul_(1.5)
    scale.add_(0.5)
    loss, y = step(x, scale)
    print(i, round(loss.item(), 5), y.cpu()[0], x._version, xv._version, scale._version, w._version, buf._version)
    print(x.cpu()[:2], buf.cpu()[1], w.detach().cpu()[0])


@compiled
def accumulate(xs, acc):
    y = xs * 2
    acc.add_(y.sum(0).to(W[0]))
    xs[1:3].mul_(0.5)
    xs.t()[0].sub_(1)
    return y.detach()


xs = shard(torch.randn(4, 3), 0)
acc = torch.zeros(3).to(W[0])
for i in range(4):
    xs.add_(1)
    y = accumulate(xs, acc)
    print(i, xs._version, acc._version, full(xs).cpu()[2], acc.cpu(), full(y).cpu()[0])

nn, F = torch.nn, torch.nn.functional
net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
model = ddp(net)
sgd = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(8, 3), torch.randn(8, 2)
for step in range(3):
    sgd.zero_grad(set_to_none=False)
    loss = F.mse_loss(model(x), y)
    loss.backward()
    sgd.step()
    with torch.no_grad():
        net[3].weight[0].zero_()
        net[3].weight.t()[1].mul_(2)
        net[0].bias[1:].clamp_(min=0.0)
        net[1].running_var.fill_(1.0)
    print(step, round(loss.item(), 5), full(net[3].weight.grad).cpu()[1], full(net[1].running_mean).cpu())
print(full(net[3].weight.detach()).cpu(), full(net[0].bias.detach()).cpu(), F.mse_loss(model(x), y).item())
print("done")
