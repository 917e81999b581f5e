# A compiled step whose zero_grad sets the gradients to None makes new ones at each call.
# Between calls the caller holds, or does, one thing to a gradient: nothing, the gradient
# itself, a detach() of it, a view of it, its .data, a weak reference to it, an attribute
# of its own on it, an in-place transpose or a write into it, a read of its version. What
# it held keeps its values after the following calls; the new gradient is a fresh one
# (its version, strides, attributes), as the eager step's. (`compiled`, `W` are the
# runner's.)
import weakref

import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)

model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2))
model[0].to(W[0])
model[2].to(W[1])
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
weight = model[0].weight


@compiled
def step(x, y):
    opt.zero_grad()
    loss = F.mse_loss(model[2](model[0](x).tanh().to(W[1])), y)
    loss.backward()
    opt.step()
    return loss


def grad_now(tag):
    g = weight.grad
    print(tag, g._version, g.stride(), hasattr(g, "note"), g.sum().item())


held, ref = [], None
for call, hold in enumerate(["nothing", "nothing", "nothing", "grad", "nothing", "detach",
                             "view", "data", "nothing", "weakref", "attribute", "transpose",
                             "write", "version", "nothing", "nothing"]):
    x, y = torch.randn(4, 3).to(W[0]), torch.randn(4, 2).to(W[1])
    print(call, hold, step(x, y).item())
    grad_now("  grad")
    if ref is not None:  # (taken at the call before)
        print("  weakref alive", ref() is not None)
        ref = None
    g = weight.grad
    if hold == "grad":
        held.append(("grad", g))
    elif hold == "detach":
        held.append(("detach", g.detach()))
    elif hold == "view":
        held.append(("view", g[1]))
    elif hold == "data":
        held.append(("data", g.data))
    elif hold == "weakref":
        ref = weakref.ref(g)
    elif hold == "attribute":
        g.note = "mine"
    elif hold == "transpose":
        g.t_()
    elif hold == "write":
        g.mul_(2)
    elif hold == "version":
        print("  version", g._version)
    del g
    for what, t in held:
        print("  held", what, t._version, t.sum().item())
print("done")
