# The bookkeeping around a model that training scripts do: a parameter group added to an
# optimizer (and the error for a parameter in two groups), its state_dict loaded into
# optimizers with other groupings, a cosine schedule's state round-tripped, get_submodule/
# get_parameter/register_buffer with torch's errors, named_parameters with a prefix,
# requires_grad_(False) on the whole model, ModuleList insert/extend, a ParameterDict given
# a plain tensor, extra_repr, and load_state_dict's strict errors.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def attempt(f):
    try:
        r = f()
        return r
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
opt = torch.optim.SGD(m[0].parameters(), lr=0.1, momentum=0.9)
opt.add_param_group({"params": m[2].parameters(), "lr": 0.01})
print(attempt(lambda: opt.add_param_group({"params": m[0].weight})))
m(torch.ones(4, 2)).sum().backward()
opt.step()
sd = opt.state_dict()
print([g["params"] for g in sd["param_groups"]], [g["lr"] for g in sd["param_groups"]], sorted(sd["state"]))
opt2 = torch.optim.SGD(m.parameters(), lr=0.1)
print(attempt(lambda: opt2.load_state_dict(sd)))
opt3 = torch.optim.SGD([{"params": m[0].parameters()}, {"params": [m[2].weight]}], lr=0.1)
print(attempt(lambda: opt3.load_state_dict(sd)))
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
for _ in range(2):
    opt.step()
    sched.step()
ssd = sched.state_dict()
print(sorted(ssd)[:5], ssd["last_epoch"], [round(l, 5) for l in ssd["_last_lr"]])
s2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
s2.load_state_dict(ssd)
print(s2.last_epoch, [round(l, 5) for l in s2.get_last_lr()])
print(attempt(lambda: m.get_submodule("0.weight")), attempt(lambda: m.get_submodule("5")))
print(attempt(lambda: m.get_parameter("2.weight").shape), attempt(lambda: m.get_parameter("1.weight")))
print(attempt(lambda: m.register_buffer("0", torch.ones(1))), attempt(lambda: m.register_buffer("a.b", torch.ones(1))))
print([n for n, _ in m.named_parameters(prefix="net")], [n for n, _ in m.named_children()])
m.requires_grad_(False)
print([p.requires_grad for p in m.parameters()], m[0].weight.grad is not None)
ml = nn.ModuleList([nn.Linear(1, 1)])
ml.insert(0, nn.Tanh())
ml.extend([nn.ReLU()])
print(ml, len(ml), attempt(lambda: ml[5]))
pd = nn.ParameterDict({"a": nn.Parameter(torch.ones(2))})
pd["b"] = torch.zeros(3)
print(pd, type(pd["b"]).__name__, pd["b"].requires_grad)


class WithRepr(nn.Module):
    def __init__(self):
        super().__init__()
        self.k = 3
        self.inner = nn.Linear(1, 1, bias=False)

    def extra_repr(self):
        return f"k={self.k}"


print(WithRepr())
print(attempt(lambda: nn.Linear(2, 2).load_state_dict({"weight": torch.ones(2, 2)})))
print(attempt(lambda: nn.Linear(2, 2).load_state_dict({"weight": torch.ones(2, 2), "bias": torch.ones(2), "x": torch.ones(1)})))
print(attempt(lambda: nn.Linear(2, 2).load_state_dict({"weight": torch.ones(3, 2), "bias": torch.ones(2)})))
print("done")
