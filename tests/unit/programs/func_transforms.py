# torch.func as libraries use it: per-sample gradients by vmap(grad(...)) over a model's
# functional_call with parameters and buffers split out, per-sample gradient norms for
# clipping (a DP-SGD step), jacrev/jacfwd of a small net, hessian of a loss in its
# parameters, vmap with in_dims/out_dims and chunk_size, and grad with has_aux.
import distgrad as torch  # PyTorch: import torch
TF = torch.func
functional_call, grad, hessian, jacfwd, jacrev, vmap = TF.functional_call, TF.grad, TF.hessian, TF.jacfwd, TF.jacrev, TF.vmap
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(37)
model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
params = {k: v.detach() for k, v in model.named_parameters()}
x, y = torch.randn(6, 5), torch.randint(0, 3, (6,))


def loss_one(p, xi, yi):
    logits = functional_call(model, p, (xi.unsqueeze(0),))
    return F.cross_entropy(logits, yi.unsqueeze(0))


per_sample = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, y)
print({k: tuple(v.shape) for k, v in per_sample.items()})
full = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
print([torch.allclose(per_sample[k].mean(0), g, atol=1e-6) for k, g in zip(params, full)])

norms = torch.stack([g.flatten(1).norm(dim=1) for g in per_sample.values()]).norm(dim=0)
clip = (1.0 / (norms + 1e-6)).clamp(max=1.0)
noisy = {k: (g * clip.view(-1, *[1] * (g.dim() - 1))).sum(0) + 0.01 * torch.randn_like(g[0])
         for k, g in per_sample.items()}
with torch.no_grad():
    for name, p in model.named_parameters():
        p -= 0.5 * noisy[name] / x.size(0)
print(norms, clip.min().item(), model[2].bias)


def net(inp):
    return model(inp).softmax(-1)


j1 = jacrev(net)(x[0])
j2 = jacfwd(net)(x[0])
print(j1.shape, torch.allclose(j1, j2, atol=1e-6), j1.sum(0).abs().max() < 1e-6, j1.grad_fn is not None)
batched_j = vmap(jacrev(net))(x[:3])
print(batched_j.shape, batched_j[1, 0])


def loss_in_last(w, b):
    return F.cross_entropy(F.linear(torch.tanh(model[0](x)), w, b), y)


H = hessian(loss_in_last, argnums=1)(model[2].weight, model[2].bias)
print(H, torch.allclose(H, H.T, atol=1e-6))
Hww = hessian(loss_in_last)(model[2].weight.detach(), model[2].bias.detach())
print(Hww.shape, Hww.flatten(0, 1).flatten(1).diagonal()[:4])


def loss_aux(w):
    out = x @ w
    return out.pow(2).mean(), out.abs().max()


g, aux = grad(loss_aux, has_aux=True)(torch.ones(5, 2))
print(g, aux)
pairwise = vmap(vmap(torch.dot, in_dims=(None, 0)), in_dims=(0, None))(x[:2], x[2:5])
print(pairwise, (x[:2] @ x[2:5].T - pairwise).abs().max() < 1e-5)
chunked = vmap(lambda r: r.sin().sum(), chunk_size=2)(x)
print(chunked, vmap(lambda r: torch.stack([r.sum(), r.max()]), out_dims=1)(x).shape)
print("done")
