# nn.Module machinery a training script leans on, with the model placed on a worker and
# wrapped by ddp(): forward pre-hooks and hooks with kwargs, a full backward hook on a
# module with an in-place ReLU (torch's error) and without, a backward pre-hook,
# orthogonal and weight_norm parametrizations, tied weights in named_parameters, frozen
# parts, apply(init), a non-persistent buffer, and to(dtype) of the placed model.
import distgrad as torch  # PyTorch: import torch
nn = torch.nn
parametrize = torch.nn.utils.parametrize
torch.manual_seed(17)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class Block(nn.Module):
    def __init__(self, inplace):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU(inplace=inplace)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("scratch", torch.ones(2), persistent=False)

    def forward(self, x, scale=1.0):
        self.steps += 1
        return self.act(self.fc(x)) * scale


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(6, 4)
        self.block = Block(False)
        self.head = nn.Linear(4, 6, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        return self.head(self.block(self.embed(ids), scale=0.5))


def init(m):
    if isinstance(m, nn.Linear):
        nn.init.constant_(m.weight, 0.1)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


model = Tied()
print([n for n, _ in model.named_parameters()])
print([n for n, _ in model.named_parameters(remove_duplicate=False)])
print(sorted(model.state_dict().keys()))
model.block.apply(init)
print("after apply", model.block.fc.weight[0], model.block.fc.weight._version)

events = []
model.block.register_forward_pre_hook(
    lambda m, args, kwargs: events.append(("pre", kwargs)) or (args, {"scale": 2.0}),
    with_kwargs=True)
model.block.register_forward_hook(
    lambda m, args, kwargs, out: events.append(("fwd", tuple(out.shape), kwargs)),
    with_kwargs=True)
model.block.register_full_backward_pre_hook(
    lambda m, gout: events.append(("bwd pre", tuple(gout[0].shape))))
model.block.register_full_backward_hook(
    lambda m, gin, gout: events.append(("bwd", gin[0] is None, tuple(gout[0].shape))))
ids = torch.tensor([[0, 3, 5], [1, 1, 2]])
logits = model(ids)
logits.sum().backward()
print(events)
print("tied grad", model.embed.weight.grad.sum().item(), model.head.weight.grad is model.embed.weight.grad)
print("steps", model.block.steps, model.block.steps._version)

bad = Block(True)
bad.register_full_backward_hook(lambda m, gin, gout: None)
x = torch.randn(2, 4, requires_grad=True)
print(attempt(lambda: bad(x)))

lin = nn.Linear(3, 3)
parametrize.register_parametrization(lin, "weight", nn.utils.parametrizations.orthogonal(nn.Linear(3, 3)).parametrizations.weight[0])
w = lin.weight
print("orth", (w @ w.T).diagonal(), parametrize.is_parametrized(lin), type(w).__name__)
print([n for n, _ in lin.named_parameters()])
wn = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2))
print([n for n, _ in wn.named_parameters()], wn.weight.grad_fn.name())
out = wn(torch.ones(1, 3)).sum()
out.backward()
print("g grad", wn.parametrizations.weight.original0.grad.view(-1))

for p in model.embed.parameters():
    p.requires_grad_(False)
print("frozen", [(n, p.requires_grad) for n, p in model.named_parameters()])

placed = Block(False).to(W[1])
print("placed", placed.fc.weight._version, placed.fc.weight.is_leaf)
half = placed.to(torch.float64)
print("to f64", half is placed, placed.fc.weight.dtype, placed.steps.dtype, placed.scratch.dtype)
print(sorted(placed.state_dict().keys()))
wrapped = ddp(placed)
y = wrapped(torch.randn(3, 4, dtype=torch.float64).to(W[1]))
y.pow(2).sum().backward()
g = placed.fc.weight.grad
print("ddp grad", g.dtype, g.shape, g.is_contiguous(), placed.fc.bias.grad.shape)
print("steps", placed.steps.item())
print("done")
