# torch.func as per-sample-gradient and meta-learning code calls it, on a model whose
# parameters sit on a worker: grad_and_value of a functional_call loss, vjp with has_aux,
# vmap over in_dims (None for the parameters) and out_dims, jacrev of functional_call with
# respect to a dict of parameters, hessian of a small function, and the errors for a
# non-scalar output and a wrong in_dims (distgrad: one worker; torch: the CPU). `W` is
# the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
functional_call, grad, grad_and_value, vjp, vmap = (
    torch.func.functional_call, torch.func.grad, torch.func.grad_and_value, torch.func.vjp,
    torch.func.vmap)
jacrev, jacfwd, hessian = torch.func.jacrev, torch.func.jacfwd, torch.func.hessian
torch.manual_seed(47)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(W[0])
params = {k: v.detach() for k, v in model.named_parameters()}
xs = torch.randn(5, 3).to(W[0])
ys = torch.randn(5, 1).to(W[0])


def loss_fn(p, x, y):
    out = functional_call(model, p, (x.unsqueeze(0),))
    return F.mse_loss(out, y.unsqueeze(0))


g, value = grad_and_value(loss_fn)(params, xs[0], ys[0])
print(sorted(g), round(value.item(), 5), g["0.weight"].shape, g["2.bias"].cpu())
per_sample = vmap(grad(loss_fn), in_dims=(None, 0, 0))(params, xs, ys)
print({k: tuple(v.shape) for k, v in per_sample.items()})
print(per_sample["2.bias"].cpu().squeeze(1), per_sample["0.bias"].cpu()[0])
mean_g = {k: v.mean(0) for k, v in per_sample.items()}
full_loss = sum(loss_fn(params, xs[i], ys[i]) for i in range(5)) / 5
print(all((mean_g[k] - grad(lambda p: sum(loss_fn(p, xs[i], ys[i]) for i in range(5)) / 5)(params)[k])
          .abs().max().item() < 1e-5 for k in params))


def with_aux(x):
    y = x.sin() * 2
    return y, {"norm": y.norm(), "first": x[0]}


out, vjp_fn, aux = vjp(with_aux, xs[0], has_aux=True)
(cot,) = vjp_fn(torch.ones(3).to(W[0]))
print(out.cpu(), cot.cpu(), round(aux["norm"].item(), 5), aux["first"].requires_grad)

batched = vmap(lambda a, b: (a * b).sum(-1), in_dims=(0, None), out_dims=0)(xs, xs[0])
print(batched.cpu(), batched.shape)
swapped = vmap(lambda r: r.exp(), in_dims=1, out_dims=1)(xs)
print(swapped.shape, (swapped - xs.exp()).abs().max().item())
pair = vmap(lambda r: (r.sum(), r * 2), out_dims=(0, 1))(xs)
print(pair[0].shape, pair[1].shape)

J = jacrev(lambda p, x: functional_call(model, p, (x,)).squeeze(-1), argnums=0)(params, xs[:2])
print({k: tuple(v.shape) for k, v in J.items()}, J["2.bias"].cpu().squeeze(-1))
Jf = jacfwd(lambda x: model(x).squeeze(-1))(xs[:2])
Jr = jacrev(lambda x: model(x).squeeze(-1))(xs[:2])
print(Jf.shape, (Jf - Jr).abs().max().item() < 1e-6)
H = hessian(lambda x: (x ** 3).sum() + x.prod())(xs[0])
print(H.cpu())

print(attempt(lambda: grad(lambda x: x * 2)(xs[0])))
print(attempt(lambda: vmap(lambda a: a, in_dims=2)(xs)))
print(attempt(lambda: grad(lambda x: x.sum(), argnums=1)(xs[0])))
print(attempt(lambda: vmap(lambda a, b: a + b, in_dims=(0, 0))(xs, xs[:2])))
print([p.grad for p in model.parameters()], model[0].weight.requires_grad)
print("done")
