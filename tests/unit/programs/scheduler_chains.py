# Learning-rate schedules as recipes chain them: linear warmup into cosine restarts by
# SequentialLR, a ChainedScheduler of a multiplicative decay and a step decay, OneCycleLR
# cycling Adam's betas (three phases, linear annealing), CyclicLR with momentum cycling
# and exp_range, ReduceLROnPlateau in max mode with cooldown and per-group min_lr, and
# CosineAnnealingWarmRestarts stepped with fractional epochs; each printing get_last_lr(),
# its state_dict round trip into a fresh scheduler, and a model on a worker trained with it.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
S = torch.optim.lr_scheduler
torch.manual_seed(21)


def r(xs):
    return [round(x, 6) for x in xs]


model = nn.Linear(3, 2).to(W[0])
x, y = torch.randn(8, 3).to(W[0]), torch.randn(8, 2).to(W[0])


def train_step(opt):
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


opt = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias], "lr": 0.2}], lr=0.1, momentum=0.9)
warm = S.LinearLR(opt, start_factor=0.25, total_iters=3)
cos = S.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
seq = S.SequentialLR(opt, [warm, cos], milestones=[3])
for i in range(8):
    loss = train_step(opt)
    seq.step()
    print("seq", i, round(loss, 5), r(seq.get_last_lr()), cos.T_cur, cos.T_i)
sd = seq.state_dict()
print(sorted(sd), sd["_milestones"], sd["last_epoch"], len(sd["_schedulers"]))
opt2 = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias], "lr": 0.2}], lr=0.1)
seq2 = S.SequentialLR(opt2, [S.LinearLR(opt2, 0.25, total_iters=3),
                             S.CosineAnnealingWarmRestarts(opt2, T_0=3, T_mult=2, eta_min=0.001)], [3])
seq2.load_state_dict(sd)
print(r(seq2.get_last_lr()), seq2.last_epoch, r([g["lr"] for g in opt2.param_groups]))

opt = torch.optim.SGD(model.parameters(), lr=1.0)
chain = S.ChainedScheduler([S.MultiplicativeLR(opt, lambda e: 0.9), S.StepLR(opt, step_size=2, gamma=0.5),
                            S.ConstantLR(opt, factor=0.5, total_iters=2)])
for i in range(5):
    train_step(opt)
    chain.step()
    print("chain", i, r(chain.get_last_lr()), opt.param_groups[0]["initial_lr"])

opt = torch.optim.Adam([{"params": [model.weight]}, {"params": [model.bias]}], lr=0.01, betas=(0.9, 0.99))
one = S.OneCycleLR(opt, max_lr=[0.1, 0.05], total_steps=9, pct_start=0.3, anneal_strategy="linear",
                   three_phase=True, base_momentum=0.8, max_momentum=0.95, div_factor=10, final_div_factor=100)
for i in range(9):
    loss = train_step(opt)
    one.step()
    print("one", i, r(one.get_last_lr()), [round(g["betas"][0], 5) for g in opt.param_groups], round(loss, 5))
try:
    one.step()
except ValueError as e:
    print(type(e).__name__, e)
print(sorted(k for k in one.state_dict() if not k.startswith("_")))

opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
cyc = S.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=3, mode="exp_range",
                 gamma=0.9, cycle_momentum=True, base_momentum=0.8, max_momentum=0.9)
for i in range(6):
    train_step(opt)
    cyc.step()
    print("cyc", i, r(cyc.get_last_lr()), round(opt.param_groups[0]["momentum"], 6))
try:
    S.CyclicLR(torch.optim.Adagrad(model.parameters()), 0.01, 0.1)
except ValueError as e:
    print(type(e).__name__, e)

opt = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias], "lr": 0.5}], lr=0.4)
plateau = S.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=1, threshold=0.1,
                              threshold_mode="abs", cooldown=1, min_lr=[0.05, 0.2])
for i, acc in enumerate([0.5, 0.55, 0.58, 0.59, 0.7, 0.71, 0.72, 0.2, 0.1, 0.1]):
    plateau.step(acc)
    print("plateau", i, r(plateau.get_last_lr()), plateau.num_bad_epochs, plateau.cooldown_counter, plateau.best)
psd = plateau.state_dict()
print(sorted(psd), psd["best"], psd["mode"])
try:
    S.ReduceLROnPlateau(opt, min_lr=[0.1])
except ValueError as e:
    print(type(e).__name__, e)

opt = torch.optim.SGD(model.parameters(), lr=0.1)
warm = S.CosineAnnealingWarmRestarts(opt, T_0=4, eta_min=0.01)
for epoch in range(2):
    for b in range(3):
        train_step(opt)
        warm.step(epoch + b / 3)
        print("warm", epoch, b, r(warm.get_last_lr()), warm.T_cur, warm.last_epoch)
try:
    S.CosineAnnealingWarmRestarts(opt, T_0=0)
except ValueError as e:
    print(type(e).__name__, e)
print(model.weight.detach().cpu(), model.bias.grad.cpu())
print("done")
