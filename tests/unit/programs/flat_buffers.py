# Parameters living in one flat buffer, as fused optimizers and sharded data parallel lay
# them out: each parameter's .data set to a view of the flat buffer, its .grad to a
# view of a flat gradient buffer, the optimizer stepping the flat buffer, writes to the
# buffer under no_grad, the versions each handle counts (a parameter given .data keeps
# its own counter), a graph that saved a parameter, and the buffer and the model's
# state saved and loaded together (views of one memory come back sharing it); on the
# CPU, on a worker and split over two; then a compiled Adam step over a flat buffer on
# a worker (distgrad: two workers, the step recorded then replayed; torch: the CPU).
# `W`, `shard`, `full` and `compiled` are the runner's (test_programs.py).
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(8)


def attempt(f):
    try:
        return f()
    except RuntimeError as e:
        return "RuntimeError: " + str(e)


def flatten_into(params, flat, flat_grad):
    offset = 0
    for p in params:
        n = p.numel()
        with torch.no_grad():
            flat[offset:offset + n].copy_(p.data.view(-1))
        p.data = flat[offset:offset + n].view_as(p)
        p.grad = flat_grad[offset:offset + n].view_as(p)
        offset += n


for name, place in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])), ("sharded", lambda t: shard(t, 0))):
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    if name == "worker":
        net.to(W[0])
    params = list(net.parameters())
    total = sum(p.numel() for p in params)
    flat, flat_grad = place(torch.zeros(total)), place(torch.zeros(total))
    flatten_into(params, flat, flat_grad)
    print(name, total, [p._version for p in params], flat._version, [p.is_leaf for p in params], params[1].shape)
    opt = torch.optim.SGD([flat], lr=0.1, momentum=0.9)
    x, y = torch.randn(6, 3), torch.randn(6, 2)
    if name == "worker":
        x, y = x.to(W[0]), y.to(W[0])
    for step in range(3):
        loss = F.mse_loss(net(x), y)
        loss.backward()
        flat.grad = flat_grad
        opt.step()
        print(step, round(loss.item(), 5), full(flat_grad).cpu()[:3], full(params[2].grad).cpu()[0])
        flat_grad.zero_()
        print(full(params[2].detach()).cpu()[0], flat._version, params[2]._version, flat_grad._version, params[0].grad._version)
    with torch.no_grad():
        flat.mul_(0.5)
    print(full(net[0].bias.detach()).cpu(), net[0].bias._version, flat._version)
    saved = (net[0].weight ** 2).sum()
    with torch.no_grad():
        flat[:3].zero_()
    print(net[0].weight._version, attempt(lambda: saved.backward()), full(net[0].weight.grad).cpu()[0])
    buf = io.BytesIO()
    torch.save({"flat": flat, "model": net.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf)
    print(sorted(ck["model"]), ck["model"]["2.bias"].shape, ck["model"]["0.weight"]._version)
    if name != "sharded":  # (distgrad saves a sharded tensor whole, apart from its views)
        ck["flat"][-2:].fill_(7.0)
        print(ck["model"]["2.bias"].cpu(), ck["model"]["2.bias"]._version, ck["flat"]._version)
    fresh = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    fresh.load_state_dict(ck["model"])
    print(torch.equal(fresh[2].weight, full(net[2].weight).cpu()), fresh[2].weight._version)

net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(W[0])
params = list(net.parameters())
flat, flat_grad = torch.zeros(26).to(W[0]), torch.zeros(26).to(W[0])
flatten_into(params, flat, flat_grad)
flat.grad = flat_grad
opt = torch.optim.Adam([flat], lr=0.05)


@compiled
def train_step(x, y):
    loss = F.mse_loss(net(x), y)
    loss.backward()
    opt.step()
    flat_grad.zero_()
    return loss.detach()


x, y = torch.randn(6, 3).to(W[0]), torch.randn(6, 2).to(W[0])
for step in range(5):
    loss = train_step(x, y)
    with torch.no_grad():
        x.mul_(0.9)
    print(step, round(loss.item(), 5), flat._version, flat_grad._version, params[0]._version, params[0].grad._version, x._version)
    print(flat.cpu()[:4], net[2].bias.detach().cpu(), opt.state[flat]["exp_avg"].cpu()[:2])
print("done")
