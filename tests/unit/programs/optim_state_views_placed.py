# Optimizer state watched the way debugging scripts watch it, over a parameter on the driver,
# one on a worker and one split over the workers: views of the parameters and of Adam's
# moments taken before the steps (they see each step; their _version counts each write the
# step makes: AdamW's decay, the moments' updates), gradients written through views between
# steps, zero_grad(set_to_none=False), clip_grad_norm_ with foreach, add_param_group mid-run
# (a new parameter with its own lr), a LambdaLR, the state_dict saved with torch.save into a
# BytesIO and loaded into a fresh optimizer that steps on identically (distgrad: two workers;
# torch: the CPU and a copy). `W`, `shard` and `full` are the runner's (test_programs.py).
import io
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(83)


def host(t):
    return full(t).detach().cpu()


def make():
    torch.manual_seed(84)
    return [torch.randn(3, 2).requires_grad_(), torch.randn(4).to(W[1]).requires_grad_(),
            shard(torch.randn(4, 3), 0).requires_grad_()]


def loss_of(ps, k):
    a, b, c = ps
    return (a.sum() * k + (b.to("cpu") * torch.arange(4.0)).sum() + full(c).pow(2).sum() * 0.5
            + a[0, 0] * b.to("cpu")[0])


params = make()
row_views = [p[0] for p in params]
opt = torch.optim.AdamW(params, lr=0.1, weight_decay=0.5)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1 + e))
for step in range(2):
    loss_of(params, step + 1).backward()
    if step == 1:
        params[0].grad[1].zero_()
        params[2].grad.t()[0].mul_(3)
    norm = torch.nn.utils.clip_grad_norm_(params, 5.0, foreach=True)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=False)
    print(step, norm.cpu(), [p._version for p in params], [v._version for v in row_views],
          sched.get_last_lr())
state = opt.state[params[2]]
m_row = state["exp_avg"][1]
print(sorted(state), state["step"].item(), state["exp_avg"]._version, state["exp_avg_sq"]._version,
      m_row._base is state["exp_avg"], host(m_row))
print([host(v) for v in row_views], [host(p.grad).abs().sum().item() for p in params])

# a parameter added mid-run with its own lr, then steps over both groups
extra = torch.zeros(2).to(W[0]).requires_grad_()
opt.add_param_group({"params": [extra], "lr": 0.5, "weight_decay": 0.0})
print(len(opt.param_groups), opt.param_groups[1]["lr"], opt.param_groups[1]["betas"],
      sched.base_lrs)
for step in range(2):
    (loss_of(params, 1.0) + (extra.to("cpu") - 1).pow(2).sum()).backward()
    opt.step()
    opt.zero_grad()
    print(host(extra), extra._version, opt.state[extra]["exp_avg_sq"]._version, host(m_row))

# the state saved to bytes and loaded into a fresh optimizer over fresh parameters
buf = io.BytesIO()
torch.save(opt.state_dict(), buf)
buf.seek(0)
loaded = torch.load(buf)
print(sorted(loaded["state"]), loaded["param_groups"][0]["lr"], loaded["param_groups"][1]["params"],
      loaded["state"][0]["exp_avg"].dtype)
fresh = make()
with torch.no_grad():
    for f, p in zip(fresh, params):
        f.copy_(p)
fresh_extra = extra.detach().clone().requires_grad_()
opt2 = torch.optim.AdamW(fresh, lr=0.1, weight_decay=0.5)
opt2.add_param_group({"params": [fresh_extra], "lr": 0.5, "weight_decay": 0.0})
opt2.load_state_dict(loaded)
print(opt2.state[fresh[1]]["exp_avg"].device == fresh[1].device, opt2.param_groups[0]["lr"])
for o, ps, e in ((opt, params, extra), (opt2, fresh, fresh_extra)):
    (loss_of(ps, 2.0) + e.to("cpu").sum()).backward()
    o.step()
    o.zero_grad()
print(all(torch.allclose(host(a), host(b)) for a, b in zip(params + [extra], fresh + [fresh_extra])),
      [p._version for p in fresh], host(fresh[2])[0])
try:
    opt2.add_param_group({"params": [fresh[0]]})
except ValueError as e:
    print(type(e).__name__, e)
print("done")
