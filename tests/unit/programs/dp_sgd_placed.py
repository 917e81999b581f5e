# A DP-SGD step as Opacus-free research code writes it, with the model's parameters on a
# worker: per-sample gradients by vmap(grad(loss)) over functional_call, checked against a
# loop of autograd.grad on one sample at a time, per-sample norms clipped, seeded Gaussian
# noise added, the sum written into p.grad (assigned, then through a view), an optimizer
# step; per-sample gradients of a model that writes a temporary in place; vmap's
# in_dims/out_dims over placed tensors; jacrev and hessian of a placed loss; and the
# error of a grad over a non-scalar, and slices written in place under vmap (distgrad: a worker;
# torch: the CPU). `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
func = torch.func
torch.manual_seed(47)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"


model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(W[0])
params = {k: v.detach() for k, v in model.named_parameters()}
x, y = torch.randn(5, 3).to(W[0]), torch.tensor([0, 1, 1, 0, 1]).to(W[0])


def loss_one(p, xi, yi):
    out = func.functional_call(model, p, (xi.unsqueeze(0),))
    return F.cross_entropy(out, yi.unsqueeze(0))


per = func.vmap(func.grad(loss_one), in_dims=(None, 0, 0))(params, x, y)
print({k: tuple(v.shape) for k, v in per.items()}, per["2.bias"].device == x.device)
print(per["2.bias"].cpu(), per["0.weight"].grad_fn)
for i in (0, 3):
    gi = torch.autograd.grad(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), model[0].weight)[0]
    print(i, torch.allclose(gi.cpu(), per["0.weight"][i].cpu(), atol=1e-6))

# clip each sample's gradient to norm 1, add noise, average, write into .grad
norms = torch.stack([v.flatten(1).norm(dim=1) for v in per.values()], 1).norm(dim=1)
factor = (1.0 / (norms + 1e-6)).clamp(max=1.0)
print(norms.cpu(), factor.cpu())
gen = torch.Generator().manual_seed(3)
opt = torch.optim.SGD(model.parameters(), lr=0.5)
for name, p in model.named_parameters():
    clipped = (per[name] * factor.view(-1, *[1] * (per[name].dim() - 1))).sum(0)
    noise = torch.randn(clipped.shape, generator=gen).to(W[0]) * 0.1
    p.grad = (clipped + noise) / len(x)
print(model[2].bias.grad.cpu(), model[2].bias.grad.is_leaf, model[2].bias.grad.requires_grad)
gv = model[0].weight.grad.view(-1)
gv[:4].zero_()
print(model[0].weight.grad.cpu()[0], gv._base is model[0].weight.grad)
opt.step()
print(model[2].bias.detach().cpu(), model[0].weight._version)

# a forward that writes a temporary in place, per sample
def loss_inplace(p, xi):
    h = func.functional_call(model, p, (xi,))
    h = h.clone()
    h[0] = h[0] * 2
    h.relu_()
    return h.pow(2).sum()


ps = func.vmap(func.grad(loss_inplace), in_dims=(None, 0))(params, x)
print(ps["2.weight"].shape, ps["2.weight"].cpu()[1])
ref = torch.autograd.grad(loss_inplace(dict(model.named_parameters()), x[1]), model[2].weight)[0]
print(torch.allclose(ref.cpu(), ps["2.weight"].cpu()[1], atol=1e-6))

# vmap's dims and a jacobian/hessian of a placed loss
t = torch.randn(3, 4).to(W[0])
print(func.vmap(lambda r: r.sum(), in_dims=1)(t).cpu(), func.vmap(torch.outer, out_dims=1)(t, t).shape)
print(func.vmap(lambda a, b: a * b, in_dims=(0, None))(t, t[0]).cpu()[2])
wv = torch.randn(4).to(W[0])
f = lambda v: (torch.tanh(t @ v) ** 2).sum()
j = func.jacrev(f)(wv)
hs = func.hessian(f)(wv)
print(j.cpu(), hs.shape, torch.allclose(hs.cpu(), hs.cpu().t(), atol=1e-5), hs.device == t.device)
print(attempt(lambda: func.grad(lambda v: t @ v)(wv)))
tc = t.clone()
res = func.vmap(lambda r: r.mul_(2).add_(wv))(tc)
print(torch.allclose(tc.cpu(), res.cpu()), (tc - 2 * t - wv).abs().max().cpu() < 1e-6)
print("done")
