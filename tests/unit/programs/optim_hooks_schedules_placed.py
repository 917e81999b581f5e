# Optimizers and schedules as training scripts chain them, over parameters on a worker, a
# sharded one and a ddp model (torch: the CPU, a copy, the module): AdamW with amsgrad,
# RMSprop centered, Adagrad and SGD nesterov with weight decay, step pre/post hooks that
# read the gradients and the step count, zero_grad(set_to_none=False) and the versions
# writes (of the plain leaves' gradients: ddp's reducer writes its own), SequentialLR, ChainedScheduler and LambdaLR, and a state_dict round trip.
# `W`, `shard`, `full`, `ddp` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, optim = torch.nn, torch.optim
sched = optim.lr_scheduler
torch.manual_seed(5)

net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
model = ddp(net)
table = shard(torch.randn(4, 3), 0).detach().requires_grad_()
scale = torch.ones(3).to(W[0]).requires_grad_()
x, y = torch.randn(8, 3), torch.randn(8, 1)

opts = {
    "adamw": optim.AdamW(net[0].parameters(), lr=0.05, amsgrad=True, weight_decay=0.1),
    "rms": optim.RMSprop(net[2].parameters(), lr=0.01, centered=True, momentum=0.5),
    "adagrad": optim.Adagrad([table], lr=0.1, lr_decay=0.01),
    "sgd": optim.SGD([scale], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
}
seen = []
for name, opt in opts.items():
    opt.register_step_pre_hook(
        lambda o, a, k, name=name: seen.append((name, "pre", len(o.state))))
    opt.register_step_post_hook(
        lambda o, a, k, name=name: seen.append((name, "post", round(o.param_groups[0]["lr"], 6))))

warm = sched.LinearLR(opts["adamw"], start_factor=0.5, total_iters=2)
decay = sched.ExponentialLR(opts["adamw"], gamma=0.9)
seq = sched.SequentialLR(opts["adamw"], [warm, decay], milestones=[2])
chain = sched.ChainedScheduler([sched.StepLR(opts["rms"], 2, gamma=0.5),
                                sched.ConstantLR(opts["rms"], factor=0.5, total_iters=3)])
lam = sched.LambdaLR(opts["adagrad"], lambda e: 1.0 / (1 + e))

for step in range(4):
    for opt in opts.values():
        opt.zero_grad(set_to_none=step % 2 == 0)
    loss = (model(x * full(scale)) - y).pow(2).mean() + full(table.pow(2)).sum() * 0.01
    loss.backward()
    if step == 1:
        print("versions after zero_grad(set_to_none=False):",
              scale.grad._version, table.grad._version, full(table.grad).abs().sum().item() > 0)
    for opt in opts.values():
        opt.step()
    seq.step(), chain.step(), lam.step()
    print(step, round(loss.item(), 5), [round(o.param_groups[0]["lr"], 6) for o in opts.values()])
print(seen[:8], len(seen))
print([p._version for p in net.parameters()], table._version, scale._version)
st = opts["adamw"].state[net[0].weight]
print(sorted(st), st["step"].item(), st["max_exp_avg_sq"].shape, st["exp_avg"].dtype)
print(sorted(opts["rms"].state[net[2].weight]), opts["adagrad"].state[table]["step"].item())
print(full(table.detach()), scale.detach().cpu(), net[2].bias.tolist())

saved = opts["adamw"].state_dict()
fresh = optim.AdamW(net[0].parameters(), lr=0.05, amsgrad=True, weight_decay=0.1)
fresh.load_state_dict(saved)
print(fresh.param_groups[0]["lr"], fresh.param_groups[0]["amsgrad"], sorted(saved["state"][0]))
print(seq.last_epoch, seq.get_last_lr(), [round(v, 6) for v in chain.get_last_lr()], lam.get_last_lr())
try:
    optim.SGD([scale], lr=0.1, nesterov=True)
except Exception as e:
    print(type(e).__name__, e)
print("done")
