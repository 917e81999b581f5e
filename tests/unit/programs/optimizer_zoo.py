# Every optimizer a user might reach for on one small problem, as a benchmark script of
# optimizers writes it: the same seeded model trained by each (with their less common
# options: maximize, foreach off, amsgrad, nesterov, decoupled weight decay, capturable-off
# defaults, Rprop's etas, ASGD's averaging, Adadelta's rho, RAdam's decoupled decay,
# NAdam's momentum decay), a parameter group added mid-run, state_dict round trips into a
# fresh optimizer that then continues identically, zero_grad(set_to_none=False), a
# parameter with no gradient skipped, LBFGS with a closure and strong-Wolfe line search,
# gradient clipping by value, and the schedulers' state saved and restored.
import copy

import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
optim = torch.optim

xs = torch.linspace(-2, 2, 24)[:, None]
ys = torch.sin(2 * xs) + 0.3 * xs


def make_model():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(1, 12), nn.Tanh(), nn.Linear(12, 1))


def loss_of(model):
    return F.mse_loss(model(xs), ys)


recipes = {
    "SGD": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3),
    "SGD nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, foreach=False),
    "Adam amsgrad": lambda p: optim.Adam(p, lr=0.02, amsgrad=True, weight_decay=1e-2),
    "Adam maximize": lambda p: optim.Adam(p, lr=0.02, maximize=True),
    "AdamW": lambda p: optim.AdamW(p, lr=0.02, betas=(0.8, 0.95), eps=1e-6),
    "Adamax": lambda p: optim.Adamax(p, lr=0.05, weight_decay=1e-3),
    "NAdam": lambda p: optim.NAdam(p, lr=0.02, momentum_decay=3e-3, decoupled_weight_decay=True,
                                   weight_decay=1e-2),
    "RAdam": lambda p: optim.RAdam(p, lr=0.02, decoupled_weight_decay=True, weight_decay=1e-2),
    "Adagrad": lambda p: optim.Adagrad(p, lr=0.1, lr_decay=1e-2, initial_accumulator_value=0.1),
    "Adadelta": lambda p: optim.Adadelta(p, lr=1.0, rho=0.8),
    "RMSprop centered": lambda p: optim.RMSprop(p, lr=0.01, centered=True, momentum=0.5),
    "Rprop": lambda p: optim.Rprop(p, lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-5, 1.0)),
    "ASGD": lambda p: optim.ASGD(p, lr=0.05, t0=2, lambd=1e-3),
}
for name, make in recipes.items():
    model = make_model()
    opt = make(model.parameters())
    sign = -1.0 if "maximize" in name else 1.0
    for step in range(5):
        opt.zero_grad()
        loss = sign * loss_of(model)
        loss.backward()
        opt.step()
    state = opt.state[model[0].weight]
    keys = sorted(k for k in state if k != "step")
    print(f"{name:16s}", round(loss_of(model).item(), 5), keys, float(state["step"])
          if "step" in state else None, round(model[2].bias.item(), 5))

# state_dict round trip: a fresh optimizer loaded from it continues as the original does
model_a = make_model()
opt_a = optim.Adam(model_a.parameters(), lr=0.02, amsgrad=True)
for _ in range(3):
    opt_a.zero_grad()
    loss_of(model_a).backward()
    opt_a.step()
model_b = copy.deepcopy(model_a)
opt_b = optim.Adam(model_b.parameters(), lr=0.5)
saved = opt_a.state_dict()
opt_b.load_state_dict(saved)
print("loaded", opt_b.param_groups[0]["lr"], sorted(saved["state"][0].keys()),
      saved["param_groups"][0]["params"])
for model, opt in ((model_a, opt_a), (model_b, opt_b)):
    for _ in range(2):
        opt.zero_grad(set_to_none=False)
        loss_of(model).backward()
        opt.step()
print("continued", torch.equal(model_a[0].weight, model_b[0].weight),
      model_a[0].weight.grad.abs().sum().item() > 0)

# a group added mid-run, and a parameter that never gets a gradient
model = make_model()
extra = nn.Parameter(torch.ones(3))
unused = nn.Parameter(torch.zeros(2))
opt = optim.SGD(model[0].parameters(), lr=0.1, momentum=0.9)
for step in range(4):
    if step == 2:
        opt.add_param_group({"params": [*model[2].parameters(), extra, unused], "lr": 0.01})
    opt.zero_grad()
    (loss_of(model) + (extra ** 2).sum() * 0.1).backward()
    nn.utils.clip_grad_value_(model.parameters(), 0.5)
    opt.step()
print("groups", len(opt.param_groups), [g["lr"] for g in opt.param_groups], extra.detach(),
      unused.grad, unused in opt.state, "momentum_buffer" in opt.state[extra])

# LBFGS with a closure
model = make_model()
lbfgs = optim.LBFGS(model.parameters(), lr=1, max_iter=8, history_size=5,
                    line_search_fn="strong_wolfe")
calls = []


def closure():
    lbfgs.zero_grad()
    loss = loss_of(model)
    loss.backward()
    calls.append(round(loss.item(), 5))
    return loss


for _ in range(2):
    out = lbfgs.step(closure)
print("lbfgs", round(out.item(), 5), len(calls), calls[:3],
      lbfgs.state[model[0].weight]["func_evals"], lbfgs.state[model[0].weight]["n_iter"])

# schedulers' state saved and restored mid-run
model = make_model()
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6, eta_min=1e-3)
for step in range(3):
    opt.step()
    sched.step()
snapshot = (copy.deepcopy(opt.state_dict()), sched.state_dict())
lrs = []
for step in range(3):
    opt.step()
    sched.step()
    lrs.append(round(sched.get_last_lr()[0], 6))
opt2 = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
opt2.load_state_dict(snapshot[0])
sched2 = optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=6, eta_min=1e-3)
sched2.load_state_dict(snapshot[1])
lrs2 = []
for step in range(3):
    opt2.step()
    sched2.step()
    lrs2.append(round(sched2.get_last_lr()[0], 6))
print("schedule", lrs, lrs == lrs2, sched2.last_epoch, snapshot[1]["_last_lr"])
print("done")
