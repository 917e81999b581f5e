# Compressing and constraining a model: the pruning tutorial's steps (random, L1 and Ln
# pruning, a custom method, remove, global pruning) with a training step through the
# masks, orthogonal layers of non-square weights (householder) trained a little, and an
# EmbeddingBag model printing its node per mode.
import distgrad as torch  # PyTorch: import torch
import importlib

prune = importlib.import_module(torch.__name__ + ".nn.utils.prune")  # (loaded by import only)
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(0)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, int(x.nelement() / x.shape[0]))
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


model = LeNet()
module = model.conv1
prune.random_unstructured(module, name="weight", amount=0.3)
print(list(module.named_parameters()))
print(list(module.named_buffers()))
print(module.weight)
print(len(module._forward_pre_hooks))
prune.l1_unstructured(module, name="bias", amount=3)
print(module.bias, module.bias_mask)
prune.ln_structured(module, name="weight", amount=0.5, n=2, dim=0)
print(module.weight[:, 0])
print(model.state_dict().keys())
x = torch.randn(4, 1, 28, 28)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(2):
    loss = model(x).pow(2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    print(step, loss.item(), int((module.weight == 0).sum()), module.weight_orig.grad[0, 0])
prune.remove(module, "weight")
print(list(module.named_parameters())[-1], prune.is_pruned(model))

model = LeNet()
pairs = ((model.conv1, "weight"), (model.conv2, "weight"), (model.fc1, "weight"),
         (model.fc2, "weight"), (model.fc3, "weight"))
prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=0.2)
for m, name in pairs:
    print(name, 100.0 * float(torch.sum(getattr(m, name) == 0)) / float(getattr(m, name).nelement()))


class FooBarPruningMethod(prune.BasePruningMethod):
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        mask = default_mask.clone()
        mask.view(-1)[::2] = 0
        return mask


FooBarPruningMethod.apply(model.fc3, "bias")
print(model.fc3.bias_mask, model.fc3.bias)
try:
    prune.random_structured(model.fc2, "bias", amount=2, dim=0)
except ValueError as e:
    print("ValueError:", e)

# orthogonal layers: householder for non-square weights (the default), trained a little
orth = nn.Sequential(nn.utils.parametrizations.orthogonal(nn.Linear(5, 3)),
                     nn.utils.parametrizations.orthogonal(nn.Linear(3, 5)))
print(orth[0].weight, orth[1].weight)
print(orth[0].parametrizations.weight[0].base)
print((orth[0].weight @ orth[0].weight.T - torch.eye(3)).abs().max() < 1e-5)
opt = torch.optim.Adam(orth.parameters(), lr=0.05)
xs = torch.randn(8, 5)
for step in range(3):
    loss = (orth(xs) - xs.flip(1)).pow(2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    print(step, loss.item())
print(orth[1].weight)
no_base = nn.utils.parametrizations.orthogonal(nn.Linear(4, 6), use_trivialization=False)
print(no_base.weight, no_base.parametrizations.weight.original)
no_base.weight = torch.randn(6, 4)
print(no_base.weight)
A, tau = torch.geqrf(torch.randn(5, 3))
print(torch.linalg.householder_product(A, tau), torch.orgqr(A, tau).grad_fn)

# EmbeddingBag: one node per mode, as torch's
for mode in ("sum", "mean", "max"):
    bag = nn.EmbeddingBag(10, 3, mode=mode)
    out = bag(torch.tensor([1, 2, 4, 5, 4, 3, 2, 9]), torch.tensor([0, 4]))
    print(mode, out, out.grad_fn)
    out.sum().backward()
    print(bag.weight.grad)
bag = nn.EmbeddingBag(10, 3, mode="sum")
w = torch.rand(2, 3, requires_grad=True)
out = bag(torch.tensor([[1, 2, 4], [5, 4, 3]]), per_sample_weights=w)
print(out)
out.pow(2).sum().backward()
print(w.grad)
print("done")
