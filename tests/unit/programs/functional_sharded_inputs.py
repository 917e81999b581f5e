# torch.autograd.functional and torch.func as a sensitivity study calls them when its state
# is split over the workers or sits on a worker next to driver constants: vjp/jvp/hvp of an
# energy of a sharded state (results placed as the input), jacobian of a map whose input is
# a view of a sharded tensor, hessian with create_graph fed into a backward that reaches a
# sharded leaf, a function that writes a clone of its input in place through views,
# torch.func.grad and vmap of a function of a placed tensor and a driver one, and the
# gradients of the leaves afterwards (distgrad: two workers; torch: a copy). `W`, `shard`,
# `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
AF = torch.autograd.functional
func = torch.func
torch.manual_seed(73)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"


coupling = torch.tensor([0.5, -0.25, 1.0, 0.75, 0.1, -0.6])


def energy(s):
    return (s.pow(2) * coupling).sum() + (s.sin() * s.roll(1)).sum() * 0.5


def stepped(s):
    t = s.clone()
    t[1:] += t[:-1] * 0.5
    t.view(2, 3)[:, 0].mul_(2)
    return t.tanh()


base = torch.randn(6)
s = shard(base.clone(), 0)
print(s.shape, s.is_leaf, s.requires_grad, round(full(s).sum().item(), 5))
e, g = AF.vjp(energy, s)
e0, g0 = AF.vjp(energy, base)
print(round(e.item(), 5), torch.allclose(full(g), g0, atol=1e-6), g.requires_grad, g.shape)
v = torch.linspace(-1, 1, 6)
_, jv = AF.jvp(energy, s, shard(v, 0))
_, jv0 = AF.jvp(energy, base, v)
print(round(jv.item(), 5), round(jv0.item(), 5))
_, hv = AF.hvp(energy, s, shard(v, 0))
_, hv0 = AF.hvp(energy, base, v)
print(torch.allclose(full(hv), hv0, atol=1e-5), full(hv))

J = AF.jacobian(stepped, s)
J0 = AF.jacobian(stepped, base)
print(J.shape, torch.allclose(full(J), J0, atol=1e-6), full(J).diagonal())
H = AF.hessian(energy, base)
print(H.shape, torch.allclose(H, H.t()), H.diagonal())

# a hessian with create_graph, its result reaching a sharded leaf by backward
leaf = shard(torch.randn(6), 0).requires_grad_()
Hc = AF.hessian(lambda t: (t.pow(3) * leaf.detach()).sum() + (t * leaf).sum().pow(2), full(leaf),
                create_graph=True)
print(Hc.requires_grad, Hc.grad_fn is not None, Hc.shape)
Hc.trace().backward()
print(full(leaf.grad), leaf.grad.shape)

# on a worker with driver constants moved there
x = torch.randn(3, 4).to(W[1])
wdr = torch.randn(4)


def loss(w, x):
    return torch.nn.functional.softplus(x @ w).mean()


gw = func.grad(loss)(wdr.to(W[1]), x)
print(gw.device == x.device, gw.cpu())
per_row = func.vmap(func.grad(loss), in_dims=(None, 0))(wdr.to(W[1]), x.unsqueeze(1))
print(per_row.shape, torch.allclose(per_row.mean(0).cpu(), gw.cpu(), atol=1e-6))
val, vjp_fn = func.vjp(lambda w: torch.tanh(x @ w), wdr.to(W[1]))
(gv,) = vjp_fn(torch.ones(3).to(W[1]))
print(val.cpu(), gv.cpu())
print(attempt(lambda: AF.vjp(energy, s, torch.ones(2))))

# the placed leaf's own gradient after the functional calls (they leave it alone)
wl = wdr.clone().to(W[1]).requires_grad_()
_, g1 = AF.vjp(lambda w: loss(w, x), wl)
print(wl.grad, g1.requires_grad, g1.cpu())
loss(wl, x).backward()
print(torch.allclose(wl.grad.cpu(), g1.cpu()), wl.grad.device == x.device)
print("done")
