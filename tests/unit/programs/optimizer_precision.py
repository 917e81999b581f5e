# Optimizers over parameters of every floating dtype, as mixed-precision scripts hold them:
# float16 and bfloat16 weights stepped by each optimizer (the update rounded once, as
# torch's kernels do), float64 beside float32 in one group with foreach and fused on, a
# float32 state_dict loaded into half-precision parameters, a user's clipping helper that
# asks dtype.is_complex, a master-weights loop (float32 copies stepped, float16 model
# refreshed), the errors capturable=True steps raise off the devices torch captures on,
# a weight decay given as a tensor, and a float16 model on a worker (`W`: the runner's, test_programs.py).
import warnings
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
O = torch.optim
torch.manual_seed(0)

recipes = {
    "SGD": lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "Adam": lambda ps: O.Adam(ps, lr=0.1),
    "Adam amsgrad": lambda ps: O.Adam(ps, lr=0.1, amsgrad=True, weight_decay=0.01),
    "AdamW": lambda ps: O.AdamW(ps, lr=0.1),
    "RMSprop": lambda ps: O.RMSprop(ps, lr=0.01, centered=True),
    "Adagrad": lambda ps: O.Adagrad(ps, lr=0.1, lr_decay=0.05),
    "Adadelta": lambda ps: O.Adadelta(ps, lr=1.0),
    "Adamax": lambda ps: O.Adamax(ps, lr=0.1),
    "NAdam": lambda ps: O.NAdam(ps, lr=0.1),
    "RAdam": lambda ps: O.RAdam(ps, lr=0.1),
    "ASGD": lambda ps: O.ASGD(ps, lr=0.1),
    "Rprop": lambda ps: O.Rprop(ps, lr=0.1),
}


def clip_real_grads(params, limit):
    """A user's helper: clips the gradients of real parameters, skips complex ones."""
    for p in params:
        if p.grad is not None and not p.dtype.is_complex:
            p.grad.clamp_(-limit, limit)


for dtype in (torch.float16, torch.bfloat16, torch.float64):
    for name, make in recipes.items():
        torch.manual_seed(1)
        p = nn.Parameter(torch.randn(4, dtype=dtype))
        opt = make([p])
        for _ in range(3):
            opt.zero_grad()
            (p * p).sum().backward()
            clip_real_grads([p], 1.5)
            opt.step()
        kinds = sorted(f"{k}:{str(v.dtype)[6:]}" for k, v in opt.state[p].items() if torch.is_tensor(v))
        print(str(dtype)[6:], name, p.detach(), kinds)

# float64 and float32 in one group, with foreach and fused on
for flags in (dict(foreach=True), dict(fused=True), dict(foreach=False)):
    for name in ("SGD", "Adam", "AdamW", "Adagrad"):
        torch.manual_seed(1)
        ps = [nn.Parameter(torch.randn(3)), nn.Parameter(torch.randn(2, dtype=torch.float64))]
        opt = getattr(O, name)(ps, lr=0.1, **flags)
        for _ in range(2):
            opt.zero_grad()
            sum((q * q).sum() for q in ps).backward()
            opt.step()
        print(flags, name, [q.detach() for q in ps], opt.param_groups[0]["foreach"], opt.param_groups[0]["fused"])

# a float32 optimizer's state loaded for float16 parameters: the moments take their dtype
p32 = nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
a = O.Adam([p32], lr=0.1)
p32.grad = torch.tensor([0.3, -0.2, 0.1])
a.step()
p16 = nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float16))
b = O.Adam([p16], lr=0.1)
b.load_state_dict(a.state_dict())
print({k: str(v.dtype) for k, v in b.state[p16].items()})
p16.grad = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float16)
b.step()
print(p16, b.state[p16]["exp_avg_sq"])

# master weights: the float32 copy is stepped, the float16 model refreshed from it
torch.manual_seed(5)
model = nn.Linear(4, 2).half()
master = [q.detach().float().requires_grad_() for q in model.parameters()]
opt = O.AdamW(master, lr=0.05)
x = torch.randn(8, 4).half()
target = torch.randn(8, 2).half()
for step in range(3):
    model.zero_grad()
    loss = F.mse_loss(model(x).float(), target.float())
    loss.backward()
    for m, q in zip(master, model.parameters()):
        m.grad = q.grad.float()
    opt.step()
    with torch.no_grad():
        for m, q in zip(master, model.parameters()):
            q.copy_(m)
    print("master", step, round(loss.item(), 4), model.bias.detach(), model.weight.grad.dtype)

# capturable steps are refused off cuda/xpu/hpu (the state is made first, no step counted)
for name, flags in (("Adam", {}), ("Adam", dict(foreach=True)), ("AdamW", {}), ("RMSprop", dict(foreach=True)),
                    ("NAdam", {}), ("NAdam", dict(foreach=True)), ("RAdam", {}), ("Adamax", dict(foreach=True)),
                    ("ASGD", {}), ("ASGD", dict(foreach=True)), ("Rprop", {}), ("Adadelta", {})):
    p = nn.Parameter(torch.ones(2))
    opt = getattr(O, name)([p], lr=0.1, capturable=True, **flags)
    p.grad = torch.ones(2)
    try:
        opt.step()
    except AssertionError as e:
        print(name, flags, type(e).__name__, e)
    print("  ", sorted(opt.state[p]), opt.state[p]["step"], p.detach(), opt.param_groups[0]["capturable"])
opt = O.Adam([nn.Parameter(torch.ones(2))], lr=0.1, capturable=True)
print(opt.step(), "(no gradient: nothing refused)")

# a weight decay given as a tensor: a 0-dim one is a number; torch's grad.add(p, alpha=wd)
# refuses one of shape [1] or one that requires grad (AdamW decays p itself, and takes both)
for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam"):
    for wd in (torch.tensor(0.1), torch.tensor([0.1]), torch.tensor(0.1, requires_grad=True)):
        p = nn.Parameter(torch.tensor([1.0, -2.0]))
        opt = getattr(O, name)([p], lr=0.1, weight_decay=wd)
        try:
            for _ in range(2):
                p.grad = torch.tensor([0.5, 0.25])
                opt.step()
            print(name, wd.shape, p.detach())
        except TypeError as e:
            print(name, wd.shape, type(e).__name__, e)

# half precision on a worker
torch.manual_seed(2)
w = nn.Parameter(torch.randn(4, dtype=torch.float16).to(W[0]))
opt = O.Adam([w], lr=0.1)
for _ in range(3):
    opt.zero_grad()
    (w * w).sum().backward()
    opt.step()
print("placed", w.detach().cpu(), opt.state[w]["exp_avg"].dtype)
print("done")
