# Checkpointing and resuming: AdamW with parameter groups (no weight decay on biases and
# norms, a smaller lr for the embedding), a group added midway with add_param_group, a
# warmup LambdaLR, CosineAnnealingWarmRestarts stepped with fractional epochs, CyclicLR,
# OneCycleLR over two groups; model, optimizer and scheduler state saved with torch.save
# into a BytesIO, loaded into fresh objects, and training resumed to the same numbers.
import io
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
sched_lib = torch.optim.lr_scheduler
torch.manual_seed(83)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 6)
        self.norm = nn.LayerNorm(6)
        self.fc = nn.Linear(6, 3)
        self.extra = nn.Linear(6, 3, bias=False)

    def forward(self, tokens):
        h = self.norm(self.emb(tokens).mean(1))
        return self.fc(h) + self.extra(h)


def groups(model):
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and "norm" not in n and "emb" not in n and "extra" not in n]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "norm" in n]
    return [{"params": decay, "weight_decay": 0.1},
            {"params": no_decay, "weight_decay": 0.0},
            {"params": [model.emb.weight], "lr": 1e-3, "weight_decay": 0.01}]


def build(model):
    opt = torch.optim.AdamW(groups(model), lr=1e-2, betas=(0.8, 0.95))
    warm = sched_lib.LambdaLR(opt, [lambda s: min(1.0, (s + 1) / 3)] * 3)
    return opt, warm


tokens, labels = torch.randint(0, 10, (16, 4)), torch.randint(0, 3, (16,))


def train(model, opt, sched, steps, tag):
    for step in steps:
        loss = F.cross_entropy(model(tokens), labels)
        opt.zero_grad(set_to_none=(step % 2 == 0))
        loss.backward()
        opt.step()
        sched.step()
        print(tag, step, round(loss.item(), 5), [round(lr, 6) for lr in sched.get_last_lr()])


model = Net()
opt, sched = build(model)
print([(len(g["params"]), g["lr"], g["weight_decay"], g["initial_lr"]) for g in opt.param_groups])
train(model, opt, sched, range(3), "a")
buf = io.BytesIO()
torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": 3}, buf)
train(model, opt, sched, range(3, 5), "a")
buf.seek(0)
ckpt = torch.load(buf, weights_only=False)
print(sorted(ckpt), ckpt["opt"]["param_groups"][2], sorted(ckpt["opt"]["state"][0]), ckpt["sched"]["last_epoch"])
model2 = Net()
opt2, sched2 = build(model2)
model2.load_state_dict(ckpt["model"])
opt2.load_state_dict(ckpt["opt"])
sched2.load_state_dict(ckpt["sched"])
train(model2, opt2, sched2, range(ckpt["step"], 5), "b")
print(torch.equal(model.fc.weight, model2.fc.weight), opt2.state[model2.fc.weight]["step"], model2.fc.weight.grad)

opt.add_param_group({"params": [nn.Parameter(torch.ones(2))], "lr": 0.5})
print(len(opt.param_groups), opt.param_groups[3]["betas"], opt.param_groups[3]["weight_decay"], sorted(opt.param_groups[3]))
sgd = torch.optim.SGD([{"params": model.fc.parameters()}, {"params": model.extra.parameters(), "lr": 0.02}], lr=0.1, momentum=0.9)
restarts = sched_lib.CosineAnnealingWarmRestarts(sgd, T_0=2, T_mult=2, eta_min=1e-3)
lrs = []
for epoch in range(3):
    for i in range(4):
        sgd.step()
        restarts.step(epoch + i / 4)
        lrs.append(round(restarts.get_last_lr()[1], 6))
print(lrs, restarts.T_cur, restarts.T_i, sorted(restarts.state_dict()))
cyc = sched_lib.CyclicLR(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), base_lr=0.01, max_lr=0.1, step_size_up=2, mode="triangular2")
one = sched_lib.OneCycleLR(torch.optim.SGD([{"params": [model.fc.bias]}, {"params": [model.fc.weight]}], lr=0.1, momentum=0.9),
                           max_lr=[0.1, 0.3], total_steps=8, pct_start=0.25, anneal_strategy="linear", three_phase=True)
for step in range(7):
    cyc.optimizer.step(); cyc.step(); one.optimizer.step(); one.step()
    print(step, [round(x, 6) for x in cyc.get_last_lr()[:1] + one.get_last_lr()], round(one.optimizer.param_groups[1]["momentum"], 6))
state = one.state_dict()
print(sorted(k for k in state if not k.startswith("_")), state["total_steps"], math.isclose(state["_last_lr"][1], one.get_last_lr()[1]))
print(model2.norm, opt2.defaults)
print("done")
