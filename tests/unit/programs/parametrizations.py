# The parametrizations tutorial: register_parametrization with custom modules (a
# symmetric matrix from triu, a matrix exponential, a positive-definite one chained on
# top), right_inverse for assignment, caching with parametrize.cached(), original and
# parametrizations.weight.original in named_parameters and the state dict, a
# parametrization with unsafe=True that changes the shape; the older hook-based
# nn.utils.weight_norm / spectral_norm (weight_g, weight_v, weight_orig, u) trained and
# removed; and a loaded state dict into a parametrized copy.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
parametrize = nn.utils.parametrize
torch.manual_seed(41)


class Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)

    def right_inverse(self, A):
        return A.triu()


class MatrixExponential(nn.Module):
    def forward(self, X):
        return torch.matrix_exp(X)


class PositiveDefinite(nn.Module):
    def forward(self, X):
        return X @ X.T + 0.1 * torch.eye(X.size(0))


class NoiseFree(nn.Module):
    def forward(self, X):
        return X[:, :-1]

    def right_inverse(self, Y):
        return torch.cat([Y, torch.zeros(Y.size(0), 1)], 1)


layer = nn.Linear(3, 3)
parametrize.register_parametrization(layer, "weight", Symmetric())
A = layer.weight
print(torch.dist(A, A.T).item(), parametrize.is_parametrized(layer), parametrize.is_parametrized(layer, "bias"))
print(layer.parametrizations.weight.original.shape, sorted(layer.state_dict().keys()))
with torch.no_grad():
    layer.weight = torch.arange(9.0).view(3, 3)
print(layer.weight, layer.parametrizations.weight.original)

layer2 = nn.Linear(4, 4)
parametrize.register_parametrization(layer2, "weight", PositiveDefinite())
parametrize.register_parametrization(layer2, "weight", Symmetric())
print(type(layer2.parametrizations.weight).__name__, len(layer2.parametrizations.weight))
print(torch.linalg.eigvalsh(layer2.weight).min().item() > 0, layer2.weight.grad_fn is not None)

model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3))
parametrize.register_parametrization(model[0], "weight", MatrixExponential())
opt = torch.optim.Adam(model.parameters(), lr=0.05)
x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
for step in range(4):
    with parametrize.cached():
        out = model(x) + 0.01 * model[0].weight.sum()
        loss = F.cross_entropy(out, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), model[0].parametrizations.weight.original.grad.norm().item())
print(torch.linalg.det(model[0].weight).item(), [n for n, _ in model.named_parameters()])

wide = nn.Linear(3, 5)
parametrize.register_parametrization(wide, "weight", NoiseFree(), unsafe=True)
print(wide.weight.shape, wide.parametrizations.weight.original.shape, wide(torch.ones(2, 3)).shape)

copy_model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3))
parametrize.register_parametrization(copy_model[0], "weight", MatrixExponential())
print(copy_model.load_state_dict(model.state_dict()))
print(torch.allclose(copy_model(x), model(x)))
parametrize.remove_parametrizations(model[0], "weight", leave_parametrized=True)
print(type(model[0].weight).__name__, model[0].weight.requires_grad, parametrize.is_parametrized(model[0]))
parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
print(layer.weight)

net = nn.Sequential(nn.utils.weight_norm(nn.Linear(4, 6), dim=0), nn.ReLU(),
                    nn.utils.spectral_norm(nn.Linear(6, 3)))
print(sorted(n for n, _ in net.named_parameters()), sorted(net[2].state_dict().keys()))
opt = torch.optim.SGD(net.parameters(), lr=0.1)
for step in range(3):
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), net[0].weight_g.grad.view(-1)[:3], net[2].weight_orig.grad.abs().sum().item())
net.eval()
print(torch.linalg.matrix_norm(net[2].weight, 2).item(), net[2].weight_u[:3])
nn.utils.remove_weight_norm(net[0])
nn.utils.remove_spectral_norm(net[2])
print(sorted(n for n, _ in net.named_parameters()), net(x[:2]))
print("done")
