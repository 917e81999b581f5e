# torch.autograd.functional as a user's sensitivity analysis calls it: jacobian and hessian
# with vectorize=True and strategy="forward-mode", vjp/jvp/hvp/vhp with create_graph, a
# function of two inputs (a tuple of Jacobians), an output not depending on an input
# (strict=True's error, zeros without), inputs placed on workers, and the second-order
# result fed into a backward (distgrad: two workers; torch: the CPU). `W` is the runner's.
import distgrad as torch  # PyTorch: import torch
AF = torch.autograd.functional
torch.manual_seed(7)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def energy(x):
    return (x.sin() * x).sum() + (x[:-1] * x[1:]).sum()


def field(x, y):
    return torch.stack([x[0] * y[1], x.pow(2).sum() - y[0], (x * y).sum().exp() / 10])


x = torch.randn(4).to(W[0])
y = torch.randn(2).to(W[0])
for vec in (False, True):
    J = AF.jacobian(field, (x[:2], y), vectorize=vec)
    print("jac", vec, type(J).__name__, [j.shape for j in J], J[0].cpu(), J[1].cpu())
Jf = AF.jacobian(field, (x[:2], y), vectorize=True, strategy="forward-mode")
print("fwd", Jf[0].cpu().sub(J[0].cpu()).abs().max() < 1e-6, Jf[1].requires_grad)
print(attempt(lambda: AF.jacobian(field, (x[:2], y), strategy="forward-mode")))

H = AF.hessian(energy, x)
Hv = AF.hessian(energy, x, vectorize=True, outer_jacobian_strategy="forward-mode")
print("hess", H.shape, H.cpu(), (H - Hv).abs().max().item() < 1e-6, H.requires_grad)

v = torch.ones(4).to(W[0])
out, vjp = AF.vjp(energy, x, torch.tensor(2.0).to(W[0]))
print("vjp", round(out.item(), 5), vjp.cpu(), out.requires_grad)
out, jvp = AF.jvp(energy, x, v)
print("jvp", round(out.item(), 5), round(jvp.item(), 5))
out, hvp = AF.hvp(energy, x, v)
out2, vhp = AF.vhp(energy, x, v)
print("hvp", hvp.cpu(), (hvp - vhp).abs().max().item() < 1e-6)

xr = x.clone().requires_grad_()
_, hvp_g = AF.hvp(energy, xr, v, create_graph=True)
print("create_graph", hvp_g.requires_grad, hvp_g.grad_fn is not None)
hvp_g.pow(2).sum().backward()
print("xr.grad", xr.grad.cpu(), xr.grad.device == xr.device)


def partial(a, b):
    return a * 2


a = torch.randn(3).to(W[1])
b = torch.randn(3).to(W[1])
print(attempt(lambda: AF.jacobian(partial, (a, b), strict=True)))
Jp = AF.jacobian(partial, (a, b))
print("unused", Jp[1].abs().sum().item(), Jp[1].shape, Jp[0].diagonal().cpu())
print(attempt(lambda: AF.vjp(partial, (a, b), torch.ones(3).to(W[1]), strict=True)))
print(attempt(lambda: [t.cpu() for t in AF.vjp(energy, x)]))
print(attempt(lambda: AF.jvp(field, (x[:2], y), (torch.ones(2), ))))
print(attempt(lambda: AF.hessian(field, (x[:2], y))))

# a Jacobian of a model's output with respect to its input, on a worker
lin = torch.nn.Linear(4, 2).to(W[1])
xin = torch.randn(4).to(W[1])
Jm = AF.jacobian(lambda t: torch.tanh(lin(t)), xin)
print("model", Jm.shape, Jm.cpu(), lin.weight.grad)
print("done")
