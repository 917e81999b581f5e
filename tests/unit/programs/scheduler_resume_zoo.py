# Every lr_scheduler class through a short training run of a worker-placed model, saved
# mid-run (model, optimizer and scheduler state through torch.save into a BytesIO) and
# resumed into fresh objects that must continue identically; momentum cycling of
# OneCycleLR/CyclicLR on Adam's betas and SGD's momentum; LambdaLR/MultiplicativeLR state
# of callable objects; the warnings torch gives (scheduler.step before optimizer.step, the
# epoch argument, get_lr outside step, a replaced optimizer.step) caught with
# catch_warnings; and the errors of bad scheduler options (`W`: the runner's).
import io
import warnings
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
O, S = torch.optim, torch.optim.lr_scheduler
torch.manual_seed(21)
x, y = torch.randn(12, 4).to(W[0]), torch.randn(12, 1).to(W[0])


class Warm:
    def __init__(self, n):
        self.n = n

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.n)


def build(make_sched, opt_name="SGD"):
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).to(W[0])
    kw = dict(momentum=0.9) if opt_name == "SGD" else {}
    opt = getattr(O, opt_name)([{"params": model[0].parameters()},
                                {"params": model[2].parameters(), "lr": 0.05}], lr=0.1, **kw)
    return model, opt, make_sched(opt)


def run(model, opt, sched, steps, plateau=False):
    lrs = []
    for step in steps:
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        if plateau:
            sched.step(round(loss.item(), 3))
        else:
            sched.step()
        group = opt.param_groups[1]
        lrs.append((round(float(group["lr"]), 6), round(group["betas"][0], 4) if "betas" in group
                    else round(group.get("momentum", 0), 4)))
    return lrs


schedules = {
    "StepLR": lambda o: S.StepLR(o, step_size=2, gamma=0.5),
    "MultiStepLR": lambda o: S.MultiStepLR(o, milestones=[1, 3, 3], gamma=0.3),
    "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.8),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=3, eta_min=0.01),
    "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=1e-3),
    "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=[0.3, 0.2], total_steps=8, three_phase=True),
    "CyclicLR": lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=[0.2, 0.1], step_size_up=2, mode="exp_range", gamma=0.9),
    "LambdaLR": lambda o: S.LambdaLR(o, [Warm(3), lambda e: 0.9 ** e]),
    "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, Warm(2)),
    "LinearLR": lambda o: S.LinearLR(o, start_factor=0.2, total_iters=3),
    "ConstantLR": lambda o: S.ConstantLR(o, factor=0.4, total_iters=2),
    "PolynomialLR": lambda o: S.PolynomialLR(o, total_iters=5, power=1.5),
    "SequentialLR": lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=2), S.ExponentialLR(o, 0.7)], milestones=[2]),
    "ChainedScheduler": lambda o: S.ChainedScheduler([S.ConstantLR(o, 0.5, total_iters=2), S.ExponentialLR(o, 0.9)]),
    "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=0, threshold=0.5, threshold_mode="abs", cooldown=1,
                                                        min_lr=[0.0, 0.02]),
}
for name, make in schedules.items():
    for opt_name in (("SGD", "Adam") if name in ("OneCycleLR", "CyclicLR") else ("SGD",)):
        plateau = name == "ReduceLROnPlateau"
        model, opt, sched = build(make, opt_name)
        first = run(model, opt, sched, range(3), plateau)
        buf = io.BytesIO()
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
        rest = run(model, opt, sched, range(3, 6), plateau)
        buf.seek(0)
        ckpt = torch.load(buf, weights_only=False)
        model2, opt2, sched2 = build(make, opt_name)
        model2.load_state_dict(ckpt["model"])
        opt2.load_state_dict(ckpt["opt"])
        sched2.load_state_dict(ckpt["sched"])
        again = run(model2, opt2, sched2, range(3, 6), plateau)
        print(name, opt_name, first + rest, again == rest, torch.equal(model[2].bias, model2[2].bias))
        print("  ", sorted(k for k in ckpt["sched"] if not k.startswith("_")), model2[2].bias.grad.cpu())

# the warnings torch gives
model, opt, sched = build(lambda o: S.StepLR(o, 2))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    sched.step()            # before any optimizer.step()
    opt.step()
    sched.step(3)           # the epoch argument
    sched.get_lr()          # outside step
    sched2 = S.ExponentialLR(opt, 0.5)
    opt.step = lambda closure=None: None   # replaced after the scheduler wrapped it
    sched2.step()
print([(c.category.__name__, str(c.message)[:70]) for c in caught], sched.last_epoch, sched.get_last_lr())

# the errors of bad options
_, opt, _ = build(lambda o: None)
for make in (lambda: S.StepLR(opt, step_size=2, last_epoch=3),
             lambda: S.LinearLR(opt, start_factor=0.0),
             lambda: S.ConstantLR(opt, factor=2.0),
             lambda: S.CosineAnnealingWarmRestarts(opt, T_0=2.5),
             lambda: S.OneCycleLR(opt, max_lr=0.1),
             lambda: S.OneCycleLR(opt, max_lr=[0.1], total_steps=5),
             lambda: S.CyclicLR(opt, 0.01, 0.1, mode="bogus"),
             lambda: S.CyclicLR(O.Adagrad(nn.Linear(2, 2).parameters()), 0.01, 0.1),
             lambda: S.ReduceLROnPlateau(opt, factor=1.0),
             lambda: S.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2, 0.3]),
             lambda: S.SequentialLR(opt, [S.StepLR(opt, 2)], milestones=[1]),
             lambda: S.SequentialLR(opt, [S.StepLR(opt, 2), S.ReduceLROnPlateau(opt)], milestones=[2]),
             lambda: S.ChainedScheduler([]),
             lambda: S.LambdaLR(opt, [lambda e: 1.0] * 3)):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make()
        print("no error")
    except (ValueError, KeyError, TypeError) as e:
        print(type(e).__name__, str(e)[:110])
print("done")
