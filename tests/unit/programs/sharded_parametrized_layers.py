# Tensor-parallel layers carrying parametrizations and buffers, as model-surgery scripts
# build them: a Linear whose weight is split over the workers by rows and then parametrized
# (a learned per-row scale applied to a unit-norm direction, and a simple doubling), the
# original's version after registering and removing it, a running-mean buffer split over
# the workers updated in place under no_grad in forward, SGD steps, the gradients clamped
# through .data and zeroed through a row view, clip_grad_value_, the state_dict saved with
# torch.save to bytes and loaded with strict=False into a fresh model, and the
# parametrizations removed at the end (distgrad: two workers; torch: a copy). `shard`
# and `full` are the runner's (test_programs.py).
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
P = torch.nn.utils.parametrize
torch.manual_seed(101)


class Doubled(nn.Module):
    def forward(self, w):
        return w * 2

    def right_inverse(self, w):
        return w / 2


class UnitRows(nn.Module):
    def forward(self, w):
        return w / w.norm(dim=1, keepdim=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(3, 6)
        self.down = nn.Linear(6, 2)
        self.up.weight = nn.Parameter(shard(self.up.weight.detach().clone(), 0))
        self.register_buffer("running", shard(torch.zeros(6), 0))
        self.gain = nn.Parameter(torch.ones(6, 1))

    def forward(self, x):
        h = F.linear(x, self.up.weight * self.gain, self.up.bias)
        with torch.no_grad():
            self.running.mul_(0.5).add_(full(h).mean(0), alpha=0.5)
        return self.down(torch.tanh(full(h)))


net = Net()
orig = net.up.weight
v0 = orig._version
P.register_parametrization(net.up, "weight", UnitRows())
P.register_parametrization(net.up, "weight", Doubled())
print([n for n, _ in net.named_parameters()], orig._version - v0,
      net.up.parametrizations.weight.original is orig)
print(full(net.up.weight).norm(dim=1), net.up.weight.shape, net.up.weight.grad_fn.name())
x, y = torch.randn(5, 3), torch.randn(5, 2)
opt = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.5)
for step in range(3):
    loss = F.mse_loss(net(x), y)
    loss.backward()
    g = orig.grad
    g.data.clamp_(-0.2, 0.2)
    g[0].zero_()
    torch.nn.utils.clip_grad_value_(net.parameters(), 0.15)
    print(step, round(loss.item(), 5), full(g)[:2], net.gain.grad.view(-1)[:3], full(net.running)[:3],
          net.running._version)
    opt.step()
    opt.zero_grad()
print(full(orig)[0], orig._version, full(net.up.weight).norm(dim=1)[:3])

# the state dict through bytes, into a fresh model with a key left out
buf = io.BytesIO()
sd = net.state_dict()
print(list(sd))
torch.save({k: full(v).detach() for k, v in sd.items() if k != "gain"}, buf)
buf.seek(0)
fresh = Net()
P.register_parametrization(fresh.up, "weight", UnitRows())
P.register_parametrization(fresh.up, "weight", Doubled())
res = fresh.load_state_dict(torch.load(buf), strict=False)
print(res.missing_keys, res.unexpected_keys, full(fresh.running)[:3])
fo = fresh.up.parametrizations.weight.original
print(torch.allclose(full(fo), full(orig)), fo._version > 0, fresh.gain.view(-1)[:2])

# removed: the parametrized values kept as the weight
v1 = orig._version
P.remove_parametrizations(net.up, "weight")
print([n for n, _ in net.named_parameters()], net.up.weight is orig, orig._version - v1)
print(full(net.up.weight).norm(dim=1)[:3], net.up.weight.is_leaf, net.up.weight.requires_grad)
F.mse_loss(net(x), y).backward()
print(full(net.up.weight.grad)[1], net.up.weight.grad.shape)
print("done")
