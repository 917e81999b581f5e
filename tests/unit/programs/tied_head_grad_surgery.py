# A small language model on a worker with the gradient surgery fine-tuning scripts do: the
# output head tied to the embedding (`head.weight = emb.weight`, one Parameter counted
# once), special-token rows frozen by a tensor hook that zeroes their gradient rows, an
# embedding with padding_idx, a residual written in place by dropout, the gradient edited
# through views (`p.grad[0].zero_()`, `p.grad.data.clamp_()`, a transposed row),
# clip_grad_norm_ with foreach and clip_grad_value_ over the tied parameter (the writes
# each makes), Adam steps with the frozen rows unchanged, and requires_grad_(False) on the
# tied weight freezing both uses (distgrad: a worker; torch: the CPU). `W` is the
# runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(67)
V, D, T = 7, 6, 5
FROZEN = [0, 1]


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=0)
        self.mix = nn.Linear(D, D)
        self.drop = nn.Dropout(0.25, inplace=True)
        self.head = nn.Linear(D, V, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, idx):
        x = self.emb(idx)
        x = x + torch.tanh(self.mix(x))
        self.drop(x)
        return self.head(x)


lm = LM().to(W[0])
print(len(list(lm.parameters())), [n for n, _ in lm.named_parameters()],
      lm.head.weight is lm.emb.weight, list(lm.state_dict()))
mask = torch.ones(V, 1)
mask[FROZEN] = 0
calls = []


def freeze_rows(g):
    calls.append(tuple(g.shape))
    return g * mask.to(g.device)


lm.emb.weight.register_hook(freeze_rows)
idx = torch.tensor([[0, 3, 4, 2, 6], [5, 5, 1, 0, 3]]).to(W[0])
tgt = torch.roll(idx, -1, 1)
start = lm.emb.weight.detach().clone()
opt = torch.optim.Adam(lm.parameters(), lr=0.05)
for step in range(3):
    torch.manual_seed(step)
    logits = lm(idx)
    loss = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1))
    loss.backward()
    g = lm.emb.weight.grad
    print(step, round(loss.item(), 5), logits.grad_fn.name(), calls[-1], len(calls),
          g.cpu()[:2].abs().sum().item(), g.cpu()[3])
    g.data.clamp_(-0.05, 0.05)
    g.t()[0].zero_()
    norm = torch.nn.utils.clip_grad_norm_(lm.parameters(), 0.2, foreach=True)
    before = g._version
    torch.nn.utils.clip_grad_value_(lm.parameters(), 0.04)
    print(norm.cpu(), g._version - before, g.cpu()[4], lm.mix.bias.grad.cpu()[:3])
    opt.step()
    opt.zero_grad(set_to_none=False)
moved = (lm.emb.weight.detach() - start).abs().sum(1).cpu()
print(moved, lm.emb.weight.cpu()[0], lm.emb.weight._version)

# the gradient of the tied weight seen through views, a second backward accumulating
out = lm(idx)
out.sum().backward()
g = lm.emb.weight.grad
row = g[3]
col = g.t()[1]
print(row._base is g, col._is_view(), col.stride(), row.cpu())
g[3].zero_()
g.data.mul_(2)
print(row.cpu(), col.cpu()[:4], g._version, g.is_leaf, g.requires_grad)
lm.head(lm.emb(idx)).mean().backward()
print(row.cpu(), lm.emb.weight.grad is g)

# freezing the tied weight freezes both uses
lm.emb.weight.requires_grad_(False)
lm.zero_grad(set_to_none=True)
out = lm(idx)
out.pow(2).mean().backward()
print(lm.emb.weight.grad, lm.head.weight.requires_grad, lm.mix.weight.grad.cpu().norm())
print(out.requires_grad, out.grad_fn.name())
try:
    lm.emb.weight.grad = torch.zeros(V, D + 1).to(W[0])
except RuntimeError as e:
    print(type(e).__name__, e)
print("done")
