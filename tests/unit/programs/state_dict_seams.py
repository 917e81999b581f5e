# A training script's bookkeeping: a model with a shared (tied) parameter, a buffer that is
# not saved (persistent=False), its state_dict and an optimizer's round-tripped through
# clones, load_state_dict(strict=False) reporting missing and unexpected keys, a parameter
# replaced by assignment mid-training, module.apply re-initialising under manual_seed,
# named_modules / named_parameters with the shared one listed once (or not), and the model
# cast to float64 mid-training with its optimizer carrying on (distgrad: the model's head
# on a worker; torch: the CPU). `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(13)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(6, 4)
        self.mix = nn.Linear(4, 4)
        self.head = nn.Linear(4, 6, bias=False)
        self.head.weight = self.emb.weight
        self.register_buffer("scale", torch.tensor(0.5))
        self.register_buffer("cache", torch.zeros(3), persistent=False)

    def forward(self, idx):
        h = torch.tanh(self.mix(self.emb(idx))) * self.scale
        self.cache.add_(1)
        return self.head(h)


model = Tied()
print([n for n, _ in model.named_parameters()])
print([n for n, _ in model.named_parameters(remove_duplicate=False)])
print([n for n, _ in model.named_modules()], list(model.state_dict().keys()))
print([n for n, b in model.named_buffers()], model.cache.requires_grad)
opt = torch.optim.Adam(model.parameters(), lr=0.05)
idx = torch.tensor([0, 2, 4, 1])
tgt = torch.tensor([1, 3, 5, 0])
for it in range(2):
    opt.zero_grad()
    loss = F.cross_entropy(model(idx), tgt)
    loss.backward()
    opt.step()
    print(it, round(loss.item(), 5), model.emb.weight._version, model.cache)

sd = {k: v.clone() for k, v in model.state_dict().items()}
osd = opt.state_dict()
print(sorted(osd["state"].keys()), osd["param_groups"][0]["params"], osd["state"][0]["step"])
fresh = Tied()
res = fresh.load_state_dict(sd)
print(res, fresh.head.weight is fresh.emb.weight, torch.equal(fresh.mix.bias, model.mix.bias))
partial = {k: v for k, v in sd.items() if not k.startswith("mix")}
partial["extra.weight"] = torch.ones(1)
res = fresh.load_state_dict(partial, strict=False)
print(res.missing_keys, res.unexpected_keys)
print(attempt(lambda: fresh.load_state_dict(partial)))
bad = dict(sd)
bad["mix.weight"] = torch.zeros(4, 3)
print(attempt(lambda: fresh.load_state_dict(bad)))
opt2 = torch.optim.Adam(fresh.parameters(), lr=0.05)
opt2.load_state_dict(osd)
print(opt2.state_dict()["state"][1]["exp_avg"].shape, opt2.param_groups[0]["lr"])

# a parameter replaced by assignment: the optimizer still holds the old one
old = model.mix.weight
model.mix.weight = nn.Parameter(torch.eye(4))
print(old is model.mix.weight, any(p is model.mix.weight for g in opt.param_groups
                                   for p in g["params"]))
opt.zero_grad()
F.cross_entropy(model(idx), tgt).backward()
print(model.mix.weight.grad.abs().sum().item() > 0, old.grad)
opt.step()
print(model.mix.weight.diagonal(), model.mix.weight._version)
print(attempt(lambda: setattr(model.mix, "weight", torch.ones(4, 4))))


def init(m):
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0.1)


torch.manual_seed(0)
model.apply(init)
print(model.mix.weight[0], model.mix.bias, model.head.weight is model.emb.weight)

# cast to float64 mid-training, the head's work on a worker
model.double()
print(model.scale.dtype, model.cache.dtype, model.mix.weight.dtype, model.emb.weight.is_leaf)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
idx_w = idx.to(W[0])
model.to(W[0])
logits = model(idx_w)
loss = F.cross_entropy(logits, tgt.to(W[0]))
loss.backward()
opt.step()
print(logits.dtype, round(loss.item(), 5), model.emb.weight.grad.dtype,
      model.emb.weight.cpu()[0], model.cache.cpu())
print("done")
