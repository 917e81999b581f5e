# A model split over two devices (distgrad: two workers; torch: the CPU twice), trained
# with Adam and a scheduler from torch's seeded init; then a sharded batch and a
# checkpointed block. `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(1)


class Split(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.LayerNorm(16)).to(W[0])
        self.second = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)).to(W[1])

    def forward(self, x):
        h = self.first(x.to(W[0]))
        return self.second(h.to(W[1]))


model = Split()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)
x, y = torch.randn(12, 6), torch.randint(0, 3, (12,))
for step in range(8):
    logits = model(x)
    loss = F.cross_entropy(logits, y.to(W[1]))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    print(step, round(loss.item(), 6))
print(model.second[2].weight.detach().cpu())
print(model.first[2].bias.grad.cpu())
w = torch.randn(5, 6, requires_grad=True)
xs = shard(x.clone().requires_grad_(), 0)
h = torch.relu(xs @ w.t()).sum(1)
h.pow(2).mean().backward()
print(full(h.detach()), w.grad)
block = nn.Linear(6, 6).to(W[0])
inp = torch.randn(4, 6).to(W[0]).requires_grad_()
z = torch.utils.checkpoint.checkpoint(lambda t: torch.sin(block(t)) * t, inp, use_reentrant=False)
z.sum().backward()
print(inp.grad.cpu(), block.weight.grad.cpu())
# kron multiplies aliases of its operands: a write to one after it is no error, and the
# gradient reads what was written (on a worker, and of a sharded operand)
a, b = torch.randn(3, 2, requires_grad=True), torch.randn(2, 2, requires_grad=True)
for xa, xb in ((a.to(W[1]) * 1, b.to(W[1]) * 1), (shard(a * 1, 0), b * 1)):
    k = torch.kron(xa, xb)
    xa.add_(1)
    xb[0].mul_(2)
    (k * k).sum().backward()
    print(full(k.detach()).cpu(), a.grad, b.grad)
print("done")
