# distgrad's ways to spread a step, against the same step in one process: data parallelism
# (`ddp(module)`: DistributedDataParallel over the workers, the module itself under torch)
# with no_sync gradient accumulation, and a compiled step (`compiled(fn)`: distgrad.compile,
# the function itself under torch). The runner gives `ddp`, `compiled`, `W` and `shard`.
import contextlib
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(21)
net = nn.Sequential(nn.Linear(5, 12), nn.SiLU(), nn.LayerNorm(12), nn.Linear(12, 3))
model = ddp(net)
opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
for step in range(3):
    opt.zero_grad()
    with model.no_sync() if hasattr(model, "no_sync") else contextlib.nullcontext():
        F.cross_entropy(model(x[:4]), y[:4]).div(2).backward()
    F.cross_entropy(model(x[4:]), y[4:]).div(2).backward()
    opt.step()
    print(step, [p.grad.norm().item() for p in model.parameters()][:2])
print(net[3].weight.detach().cpu())
mlp = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1)).to(W[1])
sgd = torch.optim.SGD(mlp.parameters(), lr=0.1, momentum=0.5)
xb, yb = torch.randn(6, 5).to(W[1]), torch.randn(6, 1).to(W[1])


@compiled
def train_step(inp, target):
    sgd.zero_grad()
    loss = F.mse_loss(mlp(inp), target)
    loss.backward()
    sgd.step()
    return loss


for step in range(4):
    print("compiled", step, train_step(xb, yb).item())
print(mlp[2].bias.detach().cpu())
print("done")
