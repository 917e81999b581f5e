# Parameter surgery on a model placed on a worker, as fine-tuning and model-merging scripts
# do it: a simple parametrization (a scaled weight, a symmetric one from triu) registered on
# placed layers and trained (original's gradient, parametrized weight recomputed per access
# and cached in parametrize.cached()), assignment through right_inverse, buffers
# registered (persistent or not) and moved, parameters_to_vector / vector_to_parameters
# over the placed parameters (the parameters written in place, versions, a view taken
# before seeing the write), state_dict / load_state_dict(strict=False) from a driver model
# with missing and unexpected keys, and remove_parametrizations (distgrad: a worker;
# torch: the CPU). `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
P = torch.nn.utils.parametrize
p2v, v2p = torch.nn.utils.parameters_to_vector, torch.nn.utils.vector_to_parameters
torch.manual_seed(53)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"


class Scaled(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.register_buffer("s", torch.tensor(s))

    def forward(self, w):
        return w * self.s

    def right_inverse(self, w):
        return w / self.s


class Symmetric(nn.Module):
    def forward(self, w):
        return w.triu() + w.triu(1).mT


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 2)
        self.register_buffer("mean", torch.zeros(4))
        self.register_buffer("scratch", torch.ones(2), persistent=False)

    def forward(self, x):
        return self.b(torch.relu(self.a(x - self.mean))) * self.scratch


net = Net()
P.register_parametrization(net.a, "weight", Symmetric())
P.register_parametrization(net.b, "weight", Scaled(2.0))
net.to(W[0])
print([n for n, _ in net.named_parameters()], list(net.state_dict())[:5])
print(net.mean.device == torch.device(W[0]), net.scratch.device == torch.device(W[0]),
      P.is_parametrized(net.a), P.is_parametrized(net.b, "bias"))
wa = net.a.weight
print(torch.equal(wa.cpu(), wa.cpu().t()), wa.grad_fn.name(), wa.is_leaf, net.a.weight is wa)
orig = net.a.parametrizations.weight.original
x, y = torch.randn(6, 4).to(W[0]), torch.randn(6, 2).to(W[0])
opt = torch.optim.SGD(net.parameters(), lr=0.1)
for step in range(2):
    opt.zero_grad()
    loss = F.mse_loss(net(x), y)
    loss.backward()
    print(step, round(loss.item(), 5), orig.grad.cpu().tril(-1).abs().sum().item(),
          net.b.parametrizations.weight.original.grad.cpu()[0])
    opt.step()
with P.cached():
    w1, w2 = net.a.weight, net.a.weight
    print(w1 is w2, torch.equal(w1.cpu(), w1.cpu().t()))
print(net.a.weight is net.a.weight, orig._version)
with torch.no_grad():
    net.b.weight = torch.full((2, 4), 3.0).to(W[0])
print(net.b.parametrizations.weight.original.cpu()[0], net.b.weight.cpu()[0])

# flat vectors over the placed parameters
vec = p2v(net.parameters())
print(vec.shape, vec.grad_fn.name(), vec.device == torch.device(W[0]))
bias_row = net.a.bias[:2]
versions = [p._version for p in net.parameters()]
v2p(vec.detach() * 0 + torch.arange(float(vec.numel())).to(W[0]), net.parameters())
print([p._version - v for p, v in zip(net.parameters(), versions)], bias_row.detach().cpu(),
      net.a.bias.is_leaf, net.a.bias.requires_grad)
print(net.a.weight.detach().cpu()[1], net.b.bias.detach().cpu())
print(attempt(lambda: v2p(vec[:5], net.parameters())))

# a driver model's weights into the placed one, keys that do not match
sd = {"a.bias": torch.full((4,), 0.5), "mean": torch.ones(4), "extra": torch.zeros(1)}
res = net.load_state_dict(sd, strict=False)
print(sorted(res.missing_keys), res.unexpected_keys, net.mean.cpu(), net.a.bias.detach().cpu())
print(net.a.bias.device == torch.device(W[0]), net.mean.device == torch.device(W[0]))
print(attempt(lambda: net.load_state_dict(sd)))
print(attempt(lambda: net.load_state_dict({"a.bias": torch.zeros(3)}, strict=False)))
print(net.scratch.cpu(), "scratch" in net.state_dict())

# the parametrizations removed: plain parameters with the current values
P.remove_parametrizations(net.a, "weight")
P.remove_parametrizations(net.b, "weight", leave_parametrized=False)
print([n for n, _ in net.named_parameters()], net.a.weight.is_leaf, type(net.a.weight).__name__)
print(net.b.weight.cpu()[0], net.a.weight.device == torch.device(W[0]))
out = net(x)
out.sum().backward()
print(out.grad_fn.name(), net.a.weight.grad.cpu()[0], net.b.weight.grad.shape)
print("done")
