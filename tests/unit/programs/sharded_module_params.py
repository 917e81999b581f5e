# A model whose parameters are split over workers as users split them by hand
# (distgrad: nn.Parameter(shard(...)); torch: a copy): the layers' weights replaced with
# sharded Parameters, named_parameters / state_dict / load_state_dict round trips with
# plain CPU tensors in and out, requires_grad_(False) freezing, zero_grad, parameters
# written under no_grad, a buffer sharded, copy.deepcopy of the model, parameter counts,
# grads accumulated over micro-batches, and hooks on a sharded weight's gradient.
# `shard`, `full` are the runner's (test_programs.py).
import copy
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 6), nn.Linear(6, 3)
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 6))

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)) * self.scale)


model = MLP()
with torch.no_grad():
    model.fc1.weight = nn.Parameter(shard(model.fc1.weight.detach(), 0))
    model.fc2.weight = nn.Parameter(shard(model.fc2.weight.detach(), 1))
    model.scale = shard(model.scale, 0)
print([(n, tuple(p.shape), p.requires_grad, p.is_leaf) for n, p in model.named_parameters()])
print(sum(p.numel() for p in model.parameters()), type(model.fc1.weight).__name__)
print(sorted(model.state_dict()), [n for n, _ in model.named_buffers()])

seen = []
model.fc1.weight.register_hook(lambda g: seen.append(round(full(g).abs().sum().item(), 4)))
data = torch.randn(8, 4)
target = torch.randint(0, 3, (8,))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for step in range(2):
    opt.zero_grad()
    for k in range(2):  # two micro-batches
        out = model(data[4 * k:4 * k + 4])
        loss = F.cross_entropy(out, target[4 * k:4 * k + 4]) / 2
        loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), full(model.fc1.weight.grad)[0], model.fc2.bias.grad)
print(seen)
print(full(model.fc2.weight.detach())[:, :2])

# -- the state dict: out as plain tensors, in from plain tensors ---------------------------
sd = {k: full(v.detach()).clone() for k, v in model.state_dict().items()}
print({k: tuple(v.shape) for k, v in sd.items()})
buf = io.BytesIO()
torch.save(sd, buf)
buf.seek(0)
plain = MLP()
print(plain.load_state_dict(torch.load(buf)))
with torch.no_grad():
    print(torch.allclose(plain(data), model(data)), plain.fc1.weight.requires_grad)
fresh = MLP()
with torch.no_grad():
    fresh.fc1.weight = nn.Parameter(shard(torch.zeros(6, 4), 0))
print(fresh.load_state_dict(sd), full(fresh.fc1.weight.detach())[1])
print(fresh.fc1.weight.is_leaf, fresh.fc1.weight.requires_grad, fresh.fc1.weight._version)
bad = dict(sd)
bad["fc1.weight"] = torch.zeros(4, 6)
print(attempt(lambda: fresh.load_state_dict(bad)))

# -- freezing, writes under no_grad, a deep copy --------------------------------------------
model.fc1.requires_grad_(False)
opt.zero_grad(set_to_none=True)
F.cross_entropy(model(data), target).backward()
print(model.fc1.weight.grad, model.fc2.weight.grad is not None, model.fc1.weight.requires_grad)
with torch.no_grad():
    model.fc2.weight.mul_(0.5)
    model.fc2.weight[0].zero_()
    model.fc1.weight.clamp_(-0.1, 0.1)
print(model.fc2.weight._version, full(model.fc2.weight.detach())[:, 0], full(model.fc1.weight)[2])
twin = copy.deepcopy(model)
with torch.no_grad():
    print(torch.equal(full(twin(data)), full(model(data))), twin.fc1.weight.requires_grad)
print(attempt(lambda: model.fc2.weight.mul_(2)))
print(attempt(lambda: model.fc2.weight.view(-1).zero_()))
print("done")
