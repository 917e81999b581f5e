# Training tricks from tutorials: model ensembling with torch.func.stack_module_state and
# vmap over functional_call of a base copy, weight_norm/spectral_norm/orthogonal
# parametrizations trained and removed, stochastic weight averaging (AveragedModel with
# an EMA, SWALR, update_bn over a DataLoader), and clip_grad_value_ with
# parameters_to_vector / vector_to_parameters.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
P = torch.nn.utils.parametrizations
swa_utils = torch.optim.swa_utils
torch.manual_seed(61)
x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))

models = [nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)) for _ in range(3)]
params, buffers = torch.func.stack_module_state(models)
base = copy.deepcopy(models[0])


def run_one(p, b, inp):
    return torch.func.functional_call(base, (p, b), (inp,))


ensemble = torch.func.vmap(run_one, in_dims=(0, 0, None))(params, buffers, x)
loop = torch.stack([m(x) for m in models])
print(ensemble.shape, torch.allclose(ensemble, loop, atol=1e-6), {k: tuple(v.shape) for k, v in params.items()})
votes = ensemble.softmax(-1).mean(0).argmax(-1)
print(votes.tolist(), F.cross_entropy(ensemble.mean(0), y).item())

net = nn.Sequential(P.weight_norm(nn.Linear(4, 8)), nn.Tanh(), nn.Linear(8, 8),
                    nn.Tanh(), P.spectral_norm(nn.Linear(8, 3)))
P.orthogonal(net[2], "weight")
print(sorted(n for n, _ in net.named_parameters()))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
for step in range(4):
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_value_(net.parameters(), 0.05)
    opt.step()
    print(step, round(loss.item(), 5), net[0].parametrizations.weight.original0.grad.abs().max().item())
w = net[2].weight
print(torch.allclose(w @ w.T, torch.eye(8), atol=1e-5), torch.linalg.matrix_norm(net[4].weight, 2).item())
nn.utils.parametrize.remove_parametrizations(net[0], "weight")
print(type(net[0].weight).__name__, net[0].weight.shape, hasattr(net[0], "parametrizations"))

model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9))
swa = swa_utils.AveragedModel(model)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
swa_sched = swa_utils.SWALR(opt, swa_lr=0.02, anneal_epochs=2, anneal_strategy="cos")
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=5)
for epoch in range(4):
    for xb, yb in loader:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        ema.update_parameters(model)
    swa.update_parameters(model)
    swa_sched.step()
    print(epoch, round(opt.param_groups[0]["lr"], 6), swa.n_averaged.item(), ema.module[3].bias.detach())
swa_utils.update_bn(loader, swa)
print(swa.module[1].running_mean[:3], swa.module[1].momentum, model[1].momentum)
vec = nn.utils.parameters_to_vector(swa.parameters())
nn.utils.vector_to_parameters(vec * 0.5, model.parameters())
print(vec.shape, model[3].bias, vec.sum().item())
print("done")
