# Gradient checkpointing of a transformer block as memory-saving training scripts write it:
# the block on W[0] with seeded dropout in attention and MLP, its residuals added in place
# (`h += ...` on the block's own copy, `m.add_` through views of the MLP's output, which
# a Linear over 3-d input returns as a view), run under torch.utils.checkpoint reentrant
# and not, with preserve_rng_state on (the gradients match the plain run's) and a hook on
# the block's input; the same block checkpointed over a sharded batch, a compiled step
# over it, and what torch says, or not, when the recomputation could differ (a forward
# that changes its output's shape between runs, which saves nothing to compare), when a
# residual written in place is one a norm saved (the checkpoint recomputes it: no error),
# or when an input to a reentrant checkpoint needs no grad. `W`, `shard`, `full`,
# `compiled` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
checkpoint = torch.utils.checkpoint.checkpoint
torch.manual_seed(61)
B, T, C = 2, 5, 8


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn = nn.MultiheadAttention(C, 2, dropout=0.2, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(C, 2 * C), nn.GELU(), nn.Dropout(0.3), nn.Linear(2 * C, C))

    def forward(self, x):
        h = x.clone()
        n = self.ln1(x)
        a, _ = self.attn(n, n, n, need_weights=False)
        h += F.dropout(a, 0.1, self.training)
        m = self.mlp(self.ln2(h))
        m[:, 1:].add_(h[:, 1:])
        m[:, 0] += h[:, 0]
        return m


block = Block().to(W[0])
x = torch.randn(B, T, C).to(W[0]).requires_grad_()
results = {}
for mode in ("plain", "reentrant", "nonreentrant"):
    block.zero_grad()
    x.grad = None
    seen = []
    xi = x * 1.0
    xi.register_hook(lambda g: seen.append(round(g.abs().sum().item(), 4)))
    torch.manual_seed(7)
    if mode == "plain":
        out = block(xi)
    else:
        out = checkpoint(block, xi, use_reentrant=mode == "reentrant", preserve_rng_state=True)
    out.pow(2).sum().backward()
    results[mode] = [block.mlp[0].weight.grad.cpu().clone(), x.grad.cpu().clone()]
    print(mode, out.grad_fn.name(), out._version, seen, round(out.sum().item(), 4))
for mode in ("reentrant", "nonreentrant"):
    print(mode, [torch.allclose(a, b, atol=1e-5) for a, b in zip(results[mode], results["plain"])])
print(results["plain"][1][0, 0], block.attn.in_proj_weight.grad.cpu()[0])

# -- the block over a batch split over the workers -------------------------------------------
block_cpu = Block()
block_cpu.load_state_dict({k: v.cpu() for k, v in block.state_dict().items()})
xs = shard(torch.randn(4, T, C), 0).requires_grad_()
torch.manual_seed(8)
out = checkpoint(block_cpu, xs, use_reentrant=False)
full(out).sum().backward()
print(out.shape, full(xs.grad)[1, 2], block_cpu.ln2.weight.grad)

# -- a compiled step over the checkpointed block -------------------------------------------------
opt = torch.optim.SGD(block.parameters(), lr=0.1, momentum=0.9)


@compiled
def step(inp):
    opt.zero_grad()
    loss = checkpoint(block, inp, use_reentrant=False).pow(2).mean()
    loss.backward()
    opt.step()
    return loss.detach()


block.eval()
inp = torch.randn(B, T, C).to(W[0])
print([round(step(inp).item(), 5) for _ in range(3)], block.mlp[3].bias.detach().cpu())
block.train()

# -- the errors ---------------------------------------------------------------------------------
calls = []


def changing(t):
    calls.append(1)
    return t[: len(calls)] * 2


y = checkpoint(changing, torch.randn(3, 2, requires_grad=True), use_reentrant=False)
print(attempt(lambda: y.sum().backward()), len(calls))


def stale(t):
    h = t.clone()
    n = block_cpu.ln2(h)
    h[:, 1:].add_(n[:, 1:])
    return h


print(attempt(lambda: checkpoint(stale, xs, use_reentrant=False).sum().backward()))
print(attempt(lambda: stale(xs).sum().backward()))
frozen = torch.randn(2, T, C)
print(attempt(lambda: checkpoint(block_cpu, frozen, use_reentrant=True).sum().backward()))
print("done")
