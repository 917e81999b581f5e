# A small classifier script with the model split over the workers by hand: a sharded
# first layer's weight, spectral_norm on a placed layer (its u/v buffers and power
# iterations in train and eval), layer norm over a sharded activation, buffers saved and
# not saved in state_dict, load_state_dict(strict=False) reports, requires_grad_(False)
# on a frozen norm mid-training, and a float64 copy of the model (distgrad: two
# workers; torch: the CPU and a copy). `W`, `shard` and `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn = torch.nn
F = torch.nn.functional
torch.manual_seed(83)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.norm = nn.LayerNorm(8)
        self.out = nn.utils.spectral_norm(nn.Linear(8, 3))
        self.register_buffer("seen", torch.zeros(3))
        self.register_buffer("cache", torch.zeros(8), persistent=False)

    def forward(self, x):
        h = self.norm(F.gelu(self.inp(x)))
        self.cache = h.detach().mean(0)
        return self.out(h)


net = Net()
print("keys", list(net.state_dict().keys()))
print("spectral", [n for n, _ in net.out.named_parameters()], [n for n, _ in net.out.named_buffers()])
with torch.no_grad():
    net.inp.weight.copy_(full(shard(net.inp.weight.detach(), 0)))
print("copied", net.inp.weight._version, net.inp.weight.is_leaf)

x = torch.randn(10, 6)
y = torch.tensor([0, 1, 2, 1, 0, 2, 2, 1, 0, 0])
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.5)
for step in range(3):
    if step == 2:
        net.norm.requires_grad_(False)
    opt.zero_grad()
    xs = shard(x, 0)
    logits = net(xs)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    net.seen += F.one_hot(y, 3).sum(0)
    opt.step()
    sigma = net.out.weight_orig.detach().flatten(1) @ net.out.weight_v
    print(step, round(loss.item(), 4), logits.shape, logits.grad_fn.name() is not None,
          net.norm.weight.grad is None, round((net.out.weight_u @ sigma).item(), 4))
print("u version", net.out.weight_u._version, net.out.weight_u.requires_grad)

net.eval()
with torch.no_grad():
    a = net(x)
    b = net(x)
print("eval stable", torch.equal(a, b), a.requires_grad, net.out.weight_u._version)

state = net.state_dict()
print("saved", sorted(state.keys()), state["seen"])
other = Net()
report = other.load_state_dict({k: v for k, v in state.items() if k != "seen"}, strict=False)
print("missing", report.missing_keys, "unexpected", report.unexpected_keys)
print("same out", torch.allclose(other.eval()(x), a, atol=1e-6))
try:
    other.load_state_dict({**state, "extra": torch.zeros(1)})
except RuntimeError as e:
    print(type(e).__name__, str(e).splitlines()[0])

wide = Net().to(torch.float64)
wide.load_state_dict(state)
print("float64", wide.inp.weight.dtype, wide.seen.dtype, wide.out.weight_u.dtype)
placed = Net().to(W[1])
placed.load_state_dict(state)
out = placed.eval()(x.to(W[1]))
print("placed eval", torch.allclose(out.cpu(), a, atol=1e-5), placed.seen.sum().item())
print("done")
