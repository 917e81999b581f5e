# The torch.func "neural tangent kernels" tutorial in small: a CNN's parameters split out
# with detach, the empirical NTK by vmap(jacrev(functional_call)) over single examples
# (full, trace and diagonal modes by einsum), the same kernel by vmap(vjp(jvp)) products,
# and per-sample gradients by vmap(grad) with the model's buffers; then the model-
# ensembling tutorial's minibatch-per-model variant (in_dims=(0, 0, 0)) and a vmap over
# a function using randomness="different" / "same" with the seeded generator.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
from_func = torch.func
torch.manual_seed(47)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, (3, 3))
        self.conv2 = nn.Conv2d(4, 4, (3, 3))
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = self.conv1(x)
        x = x.relu()
        x = self.conv2(x)
        x = x.relu()
        x = x.mean(dim=(-1, -2))
        return self.fc(x)


net = CNN()
x_train, x_test = torch.randn(5, 2, 6, 6), torch.randn(4, 2, 6, 6)
params = {k: v.detach() for k, v in net.named_parameters()}


def fnet_single(params, x):
    return from_func.functional_call(net, params, (x.unsqueeze(0),)).squeeze(0)


def empirical_ntk_jacobian_contraction(fnet_single, params, x1, x2, compute="full"):
    jac1 = from_func.vmap(from_func.jacrev(fnet_single), (None, 0))(params, x1)
    jac1 = jac1.values()
    jac1 = [j.flatten(2) for j in jac1]
    jac2 = from_func.vmap(from_func.jacrev(fnet_single), (None, 0))(params, x2)
    jac2 = [j.flatten(2) for j in jac2.values()]
    einsum_expr = {"full": "Naf,Mbf->NMab", "trace": "Naf,Maf->NM", "diagonal": "Naf,Maf->NMa"}[compute]
    result = torch.stack([torch.einsum(einsum_expr, j1, j2) for j1, j2 in zip(jac1, jac2)])
    return result.sum(0)


def empirical_ntk_ntk_vps(func, params, x1, x2, compute="full"):
    def get_ntk(x1, x2):
        def func_x1(params):
            return func(params, x1)

        def func_x2(params):
            return func(params, x2)

        output, vjp_fn = from_func.vjp(func_x1, params)

        def get_ntk_slice(vec):
            vjps = vjp_fn(vec)
            _, jvps = from_func.jvp(func_x2, (params,), vjps)
            return jvps

        basis = torch.eye(output.numel(), dtype=output.dtype, device=output.device).view(output.numel(), -1)
        return from_func.vmap(get_ntk_slice)(basis)

    result = from_func.vmap(from_func.vmap(get_ntk, (None, 0)), (0, None))(x1, x2)
    if compute == "full":
        return result
    if compute == "trace":
        return torch.einsum("NMKK->NM", result)
    return torch.einsum("NMKK->NMK", result)


full = empirical_ntk_jacobian_contraction(fnet_single, params, x_train, x_test)
print(full.shape, full[0, 0])
trace = empirical_ntk_jacobian_contraction(fnet_single, params, x_train, x_test, "trace")
diag = empirical_ntk_jacobian_contraction(fnet_single, params, x_train, x_test, "diagonal")
print(trace[:2], torch.allclose(diag.sum(-1), trace, atol=1e-5))
full_vps = empirical_ntk_ntk_vps(fnet_single, params, x_train[:3], x_test[:2])
print(full_vps.shape, torch.allclose(full_vps, full[:3, :2], atol=1e-5))

model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)).eval()
ps = {k: v.detach() for k, v in model.named_parameters()}
bs = {k: v.detach() for k, v in model.named_buffers()}


def loss_fn(ps, bs, sample, target):
    out = from_func.functional_call(model, (ps, bs), (sample.unsqueeze(0),))
    return F.cross_entropy(out, target.unsqueeze(0))


xs, ys = torch.randn(6, 4), torch.randint(0, 2, (6,))
per_sample = from_func.vmap(from_func.grad(loss_fn), in_dims=(None, None, 0, 0))(ps, bs, xs, ys)
model.zero_grad()
F.cross_entropy(model(xs), ys, reduction="sum").backward()
print({k: tuple(v.shape) for k, v in per_sample.items()})
print(all(torch.allclose(per_sample[k].sum(0), p.grad, atol=1e-5) for k, p in model.named_parameters()))

models = [nn.Sequential(nn.Linear(4, 5), nn.GELU(), nn.Linear(5, 2)) for _ in range(3)]
stacked, sbufs = from_func.stack_module_state(models)
base = copy.deepcopy(models[0]).to("meta")
minibatches = torch.randn(3, 7, 4)
preds = from_func.vmap(lambda p, b, x: from_func.functional_call(base, (p, b), (x,)))(stacked, sbufs, minibatches)
print(preds.shape, torch.allclose(preds[1], models[1](minibatches[1]), atol=1e-6))


def noisy(x):
    return x + torch.rand(()) * 0 + F.dropout(torch.ones(3), 0.5, training=True).sum() * 0 + x.sum()


torch.manual_seed(1)
print(from_func.vmap(noisy, randomness="same")(torch.arange(6.0).view(2, 3)))
try:
    from_func.vmap(noisy)(torch.ones(2, 3))
except RuntimeError as e:
    print("RuntimeError:", str(e)[:80])
print("done")
