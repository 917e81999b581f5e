# An optimizer's life in a fine-tuning script over placed, sharded and driver parameters
# (distgrad: a worker and split over two; torch: the CPU and a copy): zero_grad(set_to_none=
# False) keeping the gradient tensors (their storage and version counters), gradients written
# through views of .grad, clip_grad_norm_ with foreach over the mix, a parameter group added
# mid-run with its own lr and the scheduler that then steps every group, the optimizer's
# state_dict saved with torch.save into a BytesIO and loaded into a fresh optimizer that
# carries on with the same numbers. `W`, `shard`, `full` are the runner's.
import io

import distgrad as torch  # PyTorch: import torch
nn = torch.nn
torch.manual_seed(29)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def ptr(t):
    return t.untyped_storage().data_ptr()


enc = nn.Linear(4, 3).to(W[0])
w_big = shard(torch.randn(3, 3), 0).requires_grad_()
bias = torch.zeros(3, requires_grad=True)
head = nn.Linear(3, 2)  # joins later
x = torch.randn(5, 4)
opt = torch.optim.Adam([{"params": enc.parameters()}, {"params": [w_big], "lr": 0.05}],
                       lr=0.02, betas=(0.8, 0.95))
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)


def loss_fn(with_head):
    h = enc(x.to(W[0])).cpu()
    h = full(shard(h, 0) @ w_big) + bias
    out = head(h.tanh()) if with_head else h
    return out.pow(2).mean()


kept = {}
for step in range(4):
    if step == 2:
        opt.add_param_group({"params": [bias, *head.parameters()], "lr": 0.1})
        print("groups", len(opt.param_groups), [g["lr"] for g in opt.param_groups],
              [g["initial_lr"] if "initial_lr" in g else None for g in opt.param_groups])
    opt.zero_grad(set_to_none=False)
    loss = loss_fn(step >= 2)
    loss.backward()
    g = enc.weight.grad
    if step == 0:
        kept["ptr"], kept["g"] = ptr(g), g
    g[0].zero_()
    g.t()[1].mul_(0.5)
    full(w_big.grad)  # (read: unchanged)
    total = torch.nn.utils.clip_grad_norm_([enc.weight, enc.bias, w_big, bias], 0.5, foreach=True)
    opt.step()
    sched.step()
    print(step, round(loss.item(), 5), round(total.item(), 5), g is kept["g"], ptr(g) == kept["ptr"],
          g._version, bias.grad is None or round(bias.grad.abs().sum().item(), 5),
          [round(p["lr"], 5) for p in opt.param_groups])
print(enc.weight.detach().cpu(), full(w_big.detach()), bias)

# -- the state saved and loaded into a new optimizer over the same parameters ---------------------
buf = io.BytesIO()
torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
buf.seek(0)
saved = torch.load(buf)
state = saved["opt"]["state"]
print(sorted(state), [sorted(s) for s in state.values()][:1], saved["opt"]["param_groups"][2]["params"],
      saved["sched"]["last_epoch"])
opt2 = torch.optim.Adam([{"params": enc.parameters()}, {"params": [w_big], "lr": 0.05}], lr=0.02)
print(attempt(lambda: opt2.load_state_dict(saved["opt"])))
opt2.add_param_group({"params": [bias, *head.parameters()], "lr": 0.1})
opt2.load_state_dict(saved["opt"])
sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
sched2.load_state_dict(saved["sched"])
print([g["lr"] for g in opt2.param_groups], opt2.param_groups[0]["betas"],
      opt2.state[enc.weight]["exp_avg"].device == enc.weight.device,
      opt2.state[enc.weight]["step"].item(), opt2.state[bias]["exp_avg_sq"].dtype)
for step in range(2):
    opt2.zero_grad()
    loss = loss_fn(True)
    loss.backward()
    opt2.step()
    sched2.step()
    print("resumed", step, round(loss.item(), 5), [round(g["lr"], 5) for g in opt2.param_groups])
print(enc.bias.detach().cpu(), head.weight, opt2.state[w_big]["step"].item())
print(attempt(lambda: opt2.add_param_group({"params": [bias]})))
print(attempt(lambda: opt2.add_param_group({"params": bias * 2})))
print("done")
