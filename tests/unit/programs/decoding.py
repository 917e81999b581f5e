# Decoding from a small language model the ways generation code does: temperature, top-k
# and nucleus (top-p) filtering with sort/cumsum/scatter and masked_fill, sampling with
# torch.multinomial from a seeded Generator, repetition penalty with gather/scatter_, a
# beam search over flattened (beam x vocab) scores with topk, div and remainder, and
# the log-likelihood gradient of the chosen sequence.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)
V, H, BOS, EOS = 12, 16, 0, 1


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, H)
        self.cell = nn.GRUCell(H, H)
        self.out = nn.Linear(H, V)

    def forward(self, token, h):
        h = self.cell(self.emb(token), h)
        return self.out(h), h


def top_k_top_p(logits, k, p):
    kth = logits.topk(k, dim=-1).values[..., -1, None]
    logits = logits.masked_fill(logits < kth, float("-inf"))
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cum = sorted_logits.softmax(-1).cumsum(-1)
    drop = cum > p
    drop[..., 1:] = drop[..., :-1].clone()
    drop[..., 0] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


model = TinyLM()
gen = torch.Generator().manual_seed(1234)
tokens = torch.full((4, 1), BOS, dtype=torch.long)
h = torch.zeros(size=(4, H))
finished = torch.zeros(4, dtype=torch.bool)
with torch.no_grad():
    for step in range(6):
        logits, h = model(tokens[:, -1], h)
        seen = torch.zeros(4, V).scatter_(1, tokens, 1.0).bool()
        penalised = torch.where(logits > 0, logits / 1.3, logits * 1.3)
        logits = torch.where(seen, penalised, logits) / 0.8
        filtered = top_k_top_p(logits, 5, 0.9)
        if step == 0:
            print(filtered[0], torch.isinf(filtered).sum(1).tolist())
        nxt = torch.multinomial(filtered.softmax(-1), 1, generator=gen).squeeze(1)
        nxt = nxt.masked_fill(finished, EOS)
        finished |= nxt == EOS
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
print("sampled", tokens.tolist(), finished.tolist(), tokens.dtype)
print("draws", torch.multinomial(torch.tensor([0.1, 0.0, 0.6, 0.3]), 3, replacement=False, generator=gen).tolist(),
      torch.randint(0, V, (5,), generator=gen).tolist(), torch.rand(size=(2,), generator=gen))

with torch.random.fork_rng():
    torch.manual_seed(0)
    probe = torch.multinomial(torch.ones(V), 3)
print("forked", probe.tolist(), torch.rand(1).item())

beams, B = 3, 5
seqs = torch.full((beams, 1), BOS)
scores = torch.tensor([0.0] + [float("-inf")] * (beams - 1))
h = seqs.new_zeros(size=(beams, H), dtype=torch.float)
with torch.no_grad():
    for step in range(B):
        logits, h = model(seqs[:, -1], h)
        total = (scores[:, None] + F.log_softmax(logits, -1)).view(-1)
        scores, flat = total.topk(beams)
        origin = torch.div(flat, V, rounding_mode="floor")
        seqs = torch.cat([seqs[origin], (flat % V).unsqueeze(1)], dim=1)
        h = h.index_select(0, origin)
print("beams", seqs.tolist(), scores, origin.tolist())

target = seqs[0]
h = torch.zeros(1, H)
logp = []
for t in range(1, target.numel()):
    logits, h = model(target[t - 1:t], h)
    logp.append(F.log_softmax(logits, -1).gather(1, target[t:t + 1, None]))
nll = -torch.cat(logp).sum()
nll.backward()
print("nll", round(nll.item(), 4), torch.stack(logp).shape, model.out.bias.grad)
print(model.emb.weight.grad.abs().sum(1).nonzero().squeeze(1).tolist(), model.cell.weight_hh.grad.norm().item())
print("done")
