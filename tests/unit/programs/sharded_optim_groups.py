# Sharded, placed and driver parameters trained together (distgrad: split over two
# workers / on a worker; torch: the CPU): SGD with momentum, nesterov and weight decay over
# param groups, Adam/AdamW/RMSprop state on sharded leaves, clip_grad_norm_ and
# clip_grad_value_ over the mix (the total norm, foreach, error_if_nonfinite), the
# optimizer's state_dict round trip into a fresh optimizer, a scheduler, zero_grad with and
# without set_to_none, and the errors users hit. `W`, `shard`, `full` are the runner's.
import copy
import io
import distgrad as torch  # PyTorch: import torch
nn = torch.nn
torch.manual_seed(41)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def show(t):
    return full(t.detach()).cpu() if t is not None else None


def params():
    torch.manual_seed(2)
    a = shard(torch.randn(4, 3), 0).requires_grad_()
    b = torch.randn(3, 2).to(W[1]).requires_grad_()
    c = torch.randn(2, requires_grad=True)
    d = shard(torch.randn(2, 4), 1).requires_grad_()
    return a, b, c, d


def loss_of(a, b, c, d, x):
    h = torch.tanh(full(x @ a))
    return ((h @ b.cpu() + c) @ full(d)).pow(2).mean()


x = shard(torch.randn(5, 4), 0)
a, b, c, d = params()
opt = torch.optim.SGD([{"params": [a, b], "lr": 0.05, "momentum": 0.9, "nesterov": True},
                       {"params": [c, d], "weight_decay": 0.1}], lr=0.1, momentum=0.5,
                      dampening=0.1)
print([sorted(k for k in g if k != "params") for g in opt.param_groups][0])
for step in range(3):
    opt.zero_grad()
    loss = loss_of(a, b, c, d, x)
    loss.backward()
    print(step, round(loss.item(), 5), a.grad.shape, b.grad.device == b.device)
    opt.step()
print(show(a), show(b), c, show(d), sep="\n")
sd = opt.state_dict()
print(sorted(sd), sd["param_groups"][1]["params"], sorted(sd["state"][0]))
print(show(sd["state"][0]["momentum_buffer"]))
buf = io.BytesIO()
torch.save({"opt": sd, "a": a.detach(), "b": b.detach()}, buf)
buf.seek(0)
loaded = torch.load(buf)
print(show(loaded["a"]), show(loaded["opt"]["state"][3]["momentum_buffer"]))
a2, b2, c2, d2 = params()
with torch.no_grad():
    for new, old in zip((a2, b2, c2, d2), (a, b, c, d)):
        new.copy_(old)
opt2 = torch.optim.SGD([{"params": [a2, b2], "lr": 0.05, "momentum": 0.9, "nesterov": True},
                        {"params": [c2, d2], "weight_decay": 0.1}], lr=0.1, momentum=0.5,
                       dampening=0.1)
opt2.load_state_dict(loaded["opt"])
for o, ps in ((opt, (a, b, c, d)), (opt2, (a2, b2, c2, d2))):
    o.zero_grad()
    loss_of(*ps, x).backward()
    o.step()
print(show(a2 - a), show(d2), show(d))
print(attempt(lambda: opt2.load_state_dict({"state": {}, "param_groups": []})))

# -- clipping over a mix of sharded, placed and driver gradients -----------------------------
for p in (a, b, c, d):
    p.grad = None
loss_of(a, b, c, d, x).mul(40).backward()
grads = [show(p.grad).clone() for p in (a, b, c, d)]
total = nn.utils.clip_grad_norm_([a, b, c, d], max_norm=1.0)
print(total.shape, total.dtype, round(total.item(), 4))
print(round(sum(show(p.grad).pow(2).sum().item() for p in (a, b, c, d)) ** 0.5, 4))
print(show(a.grad), show(d.grad))
nn.utils.clip_grad_value_([a, b, c, d], clip_value=0.05)
print(show(a.grad).abs().max(), show(b.grad), c.grad)
inf_norm = nn.utils.clip_grad_norm_([a, b, d], max_norm=0.01, norm_type="inf")
print(round(inf_norm.item(), 5), show(d.grad).abs().max())
print(round(nn.utils.clip_grad_norm_([a, c], 5.0, norm_type=1.0, foreach=True).item(), 5))
print(round(nn.utils.get_total_norm([g for g in grads], norm_type=3).item(), 4))
with torch.no_grad():
    c.grad[0] = float("nan")
print(attempt(lambda: nn.utils.clip_grad_norm_([a, c], 1.0, error_if_nonfinite=True)))
print(nn.utils.clip_grad_norm_([a, c], 1.0).isnan().item(), show(a.grad).isnan().any().item())

# -- Adam / AdamW / RMSprop on sharded leaves, zero_grad, a scheduler --------------------------
for cls, kw in ((torch.optim.Adam, {"weight_decay": 0.01, "amsgrad": True}),
                (torch.optim.AdamW, {"weight_decay": 0.1}),
                (torch.optim.RMSprop, {"momentum": 0.5, "centered": True, "weight_decay": 0.01})):
    a, b, c, d = params()
    o = cls([a, b, c, d], lr=0.01, **kw)
    sched = torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)
    for step in range(4):
        o.zero_grad(set_to_none=step % 2 == 0)
        loss = loss_of(a, b, c, d, x)
        loss.backward()
        o.step()
        sched.step()
    st = o.state_dict()["state"]
    print(cls.__name__, round(loss.item(), 5), sched.get_last_lr(), sorted(st[0]),
          st[0]["step"].item(), show(a), show(d)[1], sep="\n")
    print(show(o.state[a]["exp_avg_sq" if "exp_avg_sq" in o.state[a] else "square_avg"])[0])
    o.zero_grad(set_to_none=False)
    print(show(a.grad).abs().sum().item(), b.grad.device == b.device)
print(attempt(lambda: torch.optim.SGD([a, a], lr=0.1)))
print(attempt(lambda: torch.optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)))
print(attempt(lambda: torch.optim.SGD([a], lr=-1)))
print(attempt(lambda: torch.optim.SGD([a], lr=0.1, nesterov=True)))
print(attempt(lambda: torch.optim.Adam([a.detach() * 2], lr=0.1).step()))
print("done")
