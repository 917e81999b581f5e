# LoRA fine-tuning as tutorials write it: a pretrained model frozen with requires_grad_(False),
# low-rank adapters added as a parametrization on one layer and as a wrapper module on
# another, the trainable parameters filtered into AdamW groups (no decay on biases), a
# checkpointed block (use_reentrant False and True), clip_grad_norm_ and clip_grad_value_,
# SequentialLR chaining a LinearLR warmup into a CosineAnnealingLR, then ReduceLROnPlateau
# on an lr given as a tensor; the adapters' state_dict loaded with strict=False into a
# fresh model, and the adapter merged into the weight under no_grad through weight.data
# and a view of it; then a compiled
# step on a worker's adapted model returning its clipped norm, with OneCycleLR and an EMA
# of the adapter by _foreach_lerp_ (`W`, `compiled`: the runner's, test_programs.py).
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
parametrize = torch.nn.utils.parametrize
checkpoint = torch.utils.checkpoint.checkpoint
sched_lib = torch.optim.lr_scheduler
torch.manual_seed(29)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm, self.up, self.down = nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.Linear(2 * d, d)

    def forward(self, x):
        return x + self.down(F.gelu(self.up(self.norm(x))))


class Net(nn.Module):
    def __init__(self, d=6, reentrant=False):
        super().__init__()
        self.inp, self.block, self.head = nn.Linear(4, d), Block(d), nn.Linear(d, 3)
        self.reentrant = reentrant

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        h = checkpoint(self.block, h, use_reentrant=self.reentrant)
        return self.head(h)


class LoRAParam(nn.Module):
    """W + B @ A * scale, as a parametrization of an existing weight."""

    def __init__(self, out_f, in_f, rank=2, alpha=4.0):
        super().__init__()
        self.A = nn.Parameter(torch.randn(rank, in_f) * 0.1)
        self.B = nn.Parameter(torch.zeros(out_f, rank))
        self.scale = alpha / rank

    def forward(self, W):
        return W + (self.B @ self.A) * self.scale


class LoRALinear(nn.Module):
    """A wrapper around a frozen Linear: base(x) + dropout-free low-rank path."""

    def __init__(self, base, rank=2):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * 2.0


def add_adapters(model):
    model.requires_grad_(False)
    parametrize.register_parametrization(model.block.up, "weight", LoRAParam(12, 6))
    model.head = LoRALinear(model.head)
    model.block.norm.requires_grad_(True)
    return model


x, y = torch.randn(12, 4), torch.randint(0, 3, (12,))
pre = Net()
with torch.no_grad():
    for p in pre.parameters():
        p.add_(torch.randn_like(p) * 0.05)
base_state = {k: v.clone() for k, v in pre.state_dict().items()}
model = add_adapters(pre)
trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
print([n for n, _ in trainable])
print(sum(p.numel() for _, p in trainable), sum(p.numel() for p in model.parameters()))
groups = [{"params": [p for n, p in trainable if not n.endswith("bias")], "weight_decay": 0.01},
          {"params": [p for n, p in trainable if n.endswith("bias")], "weight_decay": 0.0, "lr": 5e-3}]
opt = torch.optim.AdamW(groups, lr=2e-2)
warm = sched_lib.LinearLR(opt, start_factor=0.25, total_iters=2)
cos = sched_lib.CosineAnnealingLR(opt, T_max=4, eta_min=1e-4)
sched = sched_lib.SequentialLR(opt, [warm, cos], milestones=[2])
grad_norms = []
try:
    model.block.up.parametrizations.weight.original.register_hook(print)
except RuntimeError as e:
    print(e)
model.block.up.parametrizations.weight[0].B.register_hook(lambda g: grad_norms.append(round(g.norm().item(), 5)))
for step in range(6):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    total = nn.utils.clip_grad_norm_([p for _, p in trainable], max_norm=0.5)
    nn.utils.clip_grad_value_(model.head.parameters(), 0.02)
    opt.step()
    sched.step()
    print(step, round(loss.item(), 5), round(total.item(), 5), [round(lr, 6) for lr in sched.get_last_lr()])
print(grad_norms, model.head.base.weight.grad, model.block.up.parametrizations.weight.original.grad)
print(model.head.lora_B.weight.grad.abs().max().item() <= 0.02, model.block.norm.weight.grad[:3])
sd = opt.state_dict()
print([{k: v for k, v in g.items() if k != "initial_lr"} for g in sd["param_groups"]])
print(sorted(sd["state"][0]), sd["state"][0]["step"], sd["state"][0]["exp_avg"].shape)

adapters = {k: v for k, v in model.state_dict().items() if "lora" in k or "parametrizations.weight.0" in k or "norm" in k}
print(sorted(adapters))
fresh = Net()
fresh.load_state_dict(base_state)
fresh = add_adapters(fresh)
result = fresh.load_state_dict(adapters, strict=False)
print(sorted(result.missing_keys)[:4], len(result.missing_keys), result.unexpected_keys)
extra = dict(adapters, bogus=torch.zeros(1))
result = fresh.load_state_dict(extra, strict=False)
print(result.unexpected_keys, len(result.missing_keys))
try:
    fresh.load_state_dict(adapters)
except RuntimeError as e:
    print("strict:", str(e).splitlines()[0])
with torch.no_grad():
    print(torch.allclose(fresh(x), model(x)))

with torch.no_grad():
    lora = model.head
    delta = lora.lora_B.weight @ lora.lora_A.weight * 2.0
    lora.base.weight.data.add_(delta)
    merged_head = lora.base
    up = model.block.up
    merged = up.weight.clone()
    parametrize.remove_parametrizations(up, "weight", leave_parametrized=False)
    up.weight[:6].add_((merged - up.weight)[:6])
    up.weight.data[6:] += (merged - up.weight)[6:]
    model.head = merged_head
    print(torch.allclose(model(x), fresh(x), atol=1e-6), type(up.weight).__name__, up.weight.requires_grad)
print(sorted(model.state_dict())[:5], model.head)

re = Net(reentrant=True)
re.load_state_dict(model.state_dict())
re.requires_grad_(False)
re.block.down.weight.requires_grad_(True)
xin = x.clone().requires_grad_(True)
out = re(xin)
out.sum().backward()
print(re.block.down.weight.grad.norm().item(), xin.grad is None or xin.grad.abs().sum().item())
plateau_opt = torch.optim.SGD([re.block.down.weight], lr=torch.tensor(0.1), momentum=0.9)
held_lr = plateau_opt.param_groups[0]["lr"]
plateau = sched_lib.ReduceLROnPlateau(plateau_opt, mode="min", factor=0.5, patience=1, threshold=1e-3)
for epoch, metric in enumerate([1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.61]):
    plateau_opt.step()
    plateau.step(metric)
    print(epoch, plateau.get_last_lr(), plateau.num_bad_epochs, round(plateau.best, 4))
print(math.isclose(plateau_opt.param_groups[0]["lr"], 0.025), plateau.state_dict()["cooldown_counter"], held_lr)
print(plateau_opt.param_groups[0]["lr"] is held_lr, plateau.get_last_lr()[0] is held_lr)

placed = Net().to(W[0])
placed.requires_grad_(False)
parametrize.register_parametrization(placed.inp, "weight", LoRAParam(6, 4).to(W[0]))
adapter = [p for p in placed.parameters() if p.requires_grad]
adam = torch.optim.Adam(adapter, lr=0.05)
one = sched_lib.OneCycleLR(adam, max_lr=0.1, total_steps=10)
ema = [p.detach().clone() for p in adapter]
xw, yw = x.to(W[0]), y.to(W[0])


@compiled
def lora_step(xb, yb):
    adam.zero_grad()
    loss = F.cross_entropy(placed(xb), yb)
    loss.backward()
    norm = nn.utils.clip_grad_norm_(adapter, 0.5)
    adam.step()
    with torch.no_grad():
        torch._foreach_lerp_(ema, [p.detach() for p in adapter], 0.1)
    return loss.detach(), norm


for step in range(4):
    loss, norm = lora_step(xw, yw)
    one.step()
    print(step, round(loss.item(), 4), round(norm.item(), 4), [round(lr, 6) for lr in one.get_last_lr()], ema[1].cpu()[0])
print("done")
