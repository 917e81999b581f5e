# nn.Module's bookkeeping as fine-tuning scripts use it: named_modules with prefixes and
# duplicates, apply() for initialisation, buffers with persistent=False, state_dict with a
# prefix and keep_vars, load_state_dict(strict=False) and its missing/unexpected keys, the
# errors of a strict load, to(dtype)/half()/double(), zero_grad(set_to_none=False), frozen
# layers and param groups with per-group lr and weight decay, get_submodule/get_parameter,
# extra state, with the model placed on a worker.
import collections
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.register_buffer("scale", torch.full((d,), 0.5))
        self.register_buffer("cache", torch.zeros(d), persistent=False)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        self.cache = x.detach().mean(0)
        return x + self.scale * F.gelu(self.norm(self.lin(x)))

    def extra_repr(self):
        return f"calls={self.calls}"

    def get_extra_state(self):
        return {"calls": self.calls}

    def set_extra_state(self, state):
        self.calls = state["calls"]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, 4)
        self.blocks = nn.ModuleList([Block(4), Block(4)])
        self.head = nn.Linear(4, 2)
        self.shared = self.blocks[0]

    def forward(self, x):
        h = self.embed(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h)


net = Net()
print([n for n, _ in net.named_modules()])
print([n for n, _ in net.named_modules(prefix="model", remove_duplicate=False)])
print([n for n, _ in net.named_children()], len(list(net.modules())), len(list(net.parameters())))
print([n for n, _ in net.named_buffers()], [n for n, _ in net.named_parameters(prefix="p", recurse=False)])


@torch.no_grad()
def init(m):
    if isinstance(m, nn.Linear):
        nn.init.constant_(m.bias, 0.1)
        m.weight.mul_(0.5)


print(net.apply(init) is net, net.head.bias)
sd = net.state_dict()
print(type(sd).__name__, list(sd.keys()))
print(list(net.blocks.state_dict(prefix="blocks.").keys())[:4], sd["blocks.0.scale"].requires_grad,
      net.state_dict(keep_vars=True)["head.bias"].requires_grad)
x = torch.randn(5, 3)
print(net(x), net.blocks[0])
fresh = Net()
res = fresh.load_state_dict(sd)
print(res, fresh.blocks[1].calls, torch.equal(fresh.head.weight, net.head.weight))
partial = {k: v for k, v in sd.items() if not k.startswith("head")}
partial["extra.weight"] = torch.ones(1)
res = fresh.load_state_dict(partial, strict=False)
print(res, res.missing_keys, res.unexpected_keys, type(res).__name__)
for bad in ({**sd, "head.weight": torch.ones(3, 4)}, partial):
    try:
        Net().load_state_dict(bad)
    except RuntimeError as e:
        print(type(e).__name__, str(e).replace("\t", " "))
try:
    net.get_submodule("blocks.2")
except AttributeError as e:
    print(type(e).__name__, e)
print(net.get_submodule("blocks.1.norm"), net.get_parameter("blocks.1.lin.bias").shape,
      net.get_buffer("blocks.0.scale"))
try:
    net.get_parameter("blocks.0.scale")
except AttributeError as e:
    print(type(e).__name__, e)

d = Net().double()
print(d.head.weight.dtype, d.blocks[0].scale.dtype, d(x.double()).dtype)
h = Net().half().float()
print(h.head.weight.dtype, h.embed.weight[0])
h.to(torch.bfloat16)
print(h.blocks[1].norm.weight.dtype, h.blocks[1].cache.dtype)

net.to(W[0])
xw = x.to(W[0])
for p in net.embed.parameters():
    p.requires_grad_(False)
groups = [
    {"params": [p for n, p in net.named_parameters() if n.endswith("bias") and p.requires_grad], "weight_decay": 0.0},
    {"params": [p for n, p in net.named_parameters() if n.endswith("weight") and p.requires_grad], "lr": 0.05},
]
opt = torch.optim.AdamW(groups, lr=0.01, weight_decay=0.1)
print([len(g["params"]) for g in opt.param_groups], [(g["lr"], g["weight_decay"]) for g in opt.param_groups])
for step in range(3):
    opt.zero_grad(set_to_none=step != 1)
    out = net(xw)
    loss = out.pow(2).mean()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), net.embed.weight.grad, net.head.bias.grad.cpu(), out.grad_fn.name())
net.zero_grad(set_to_none=False)
print(net.head.weight.grad.cpu(), net.blocks[0].cache.cpu(), net.blocks[0])
counts = collections.Counter(type(m).__name__ for m in net.modules())
print(sorted(counts.items()), sum(p.numel() for p in net.parameters() if p.requires_grad))
back = Net()
back.load_state_dict(net.state_dict())
print(back.blocks[0].calls, back(x)[0], net.embed.weight.requires_grad, back.embed.weight.requires_grad)
print(opt.state_dict()["param_groups"][1]["params"], list(opt.state_dict()["state"].keys()))
print("done")
