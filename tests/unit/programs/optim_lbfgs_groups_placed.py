# Optimizer bookkeeping of a placed and a sharded model: a param group added mid-training,
# optimizer state_dict round-tripped into a new optimizer, SGD with maximize, Adam with
# foreach=False, LBFGS with a closure, ReduceLROnPlateau and OneCycleLR side by side,
# clip_grad_value_, parameters_to_vector / vector_to_parameters (distgrad: two workers;
# torch: the CPU and a copy). `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn = torch.nn
utils = torch.nn.utils
torch.manual_seed(29)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


x = torch.randn(8, 3)
y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
xw, yw = x.to(W[0]), y.to(W[0])

body = nn.Linear(3, 4).to(W[0])
head = nn.Linear(4, 1).to(W[0])
opt = torch.optim.Adam(body.parameters(), lr=0.05, foreach=False, capturable=False)
sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
for step in range(4):
    if step == 2:
        opt.add_param_group({"params": head.parameters(), "lr": 0.01})
        print("groups", len(opt.param_groups), [g["lr"] for g in opt.param_groups])
    opt.zero_grad()
    loss = ((head(body(xw).relu()) - yw) ** 2).mean()
    loss.backward()
    utils.clip_grad_value_(body.parameters(), 0.1)
    print(step, round(loss.item(), 4), body.weight.grad.abs().max().item() <= 0.1,
          head.weight.grad is None)
    opt.step()
    sched.step(1.0)
    print("  lrs", [g["lr"] for g in opt.param_groups], body.weight._version)

state = opt.state_dict()
print("state keys", sorted(state["state"].keys()), state["param_groups"][1]["params"])
print("step", state["state"][0]["step"].item(), state["state"][0]["exp_avg"].shape)
fresh = torch.optim.Adam(list(body.parameters()) + list(head.parameters()), lr=1.0)
print(attempt(lambda: fresh.load_state_dict(state)))
fresh = torch.optim.Adam(body.parameters(), lr=1.0)
fresh.add_param_group({"params": head.parameters()})
fresh.load_state_dict(state)
print("loaded", [g["lr"] for g in fresh.param_groups],
      fresh.state[body.weight]["exp_avg"].device == body.weight.device)

flat = utils.parameters_to_vector(body.parameters())
print("flat", flat.shape, flat.requires_grad, flat.grad_fn.name(), flat.device == body.weight.device)
utils.vector_to_parameters(flat.detach() * 0 + 0.25, body.parameters())
print("vector back", body.weight[0].detach().cpu(), body.weight._version, body.bias.is_leaf)

w = shard(torch.randn(6, 3), 0).requires_grad_()
sgd = torch.optim.SGD([w], lr=0.1, maximize=True, momentum=0.9)
one = torch.optim.lr_scheduler.OneCycleLR(sgd, max_lr=0.5, total_steps=5)
for step in range(3):
    sgd.zero_grad()
    obj = -(w ** 2).sum()
    obj.backward()
    sgd.step()
    one.step()
    print("maximize", step, round(obj.item(), 4), one.get_last_lr(),
          round(sgd.param_groups[0]["momentum"], 4))
print("w", full(w.detach()).sum().item(), w.is_leaf, w._version)

v = torch.tensor([1.5, -0.5], requires_grad=True)
lbfgs = torch.optim.LBFGS([v], lr=1, max_iter=5, history_size=3)
calls = []


def closure():
    lbfgs.zero_grad()
    a, b = v[0], v[1]
    f = (1 - a) ** 2 + 5 * (b - a ** 2) ** 2
    f.backward()
    calls.append(round(f.item(), 4))
    return f


for _ in range(2):
    out = lbfgs.step(closure)
    print("lbfgs", round(out.item(), 4), v.detach(), len(calls))
print("lbfgs state", sorted(k for k in lbfgs.state[v].keys()), lbfgs.state[v]["n_iter"])
print("done")
