# A char-level language model as tutorials write it: a vocabulary from a string, an
# Embedding + 2-layer LSTM carrying its hidden state across batches (detached: truncated
# BPTT), Adam with gradient clipping, perplexity, and sampling with a temperature through
# torch.multinomial from a seeded Generator.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)
text = "hello world, hello autograd. the quick brown fox jumps over the lazy dog. " * 2
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
print(len(chars), data.shape, data.dtype, data[:12].tolist())


class CharLM(nn.Module):
    def __init__(self, vocab, emb=8, hidden=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, num_layers=2, batch_first=True, dropout=0.1)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        out, state = self.rnn(self.emb(idx), state)
        return self.head(out), state


model = CharLM(len(chars))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
batch, seq = 4, 10
span = (len(data) - 1) // batch
streams = data[:span * batch + 1]
xs = torch.stack([streams[i * span:(i + 1) * span] for i in range(batch)])
ys = torch.stack([streams[i * span + 1:(i + 1) * span + 1] for i in range(batch)])
state = None
for step, start in enumerate(range(0, span - seq, seq)):
    x, y = xs[:, start:start + seq], ys[:, start:start + seq]
    if state is not None:
        state = tuple(s.detach() for s in state)
    logits, state = model(x, state)
    loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    opt.step()
    print(step, round(loss.item(), 4), round(math.exp(loss.item()), 3), round(norm.item(), 4))
print([tuple(s.shape) for s in state], state[0].requires_grad)
print({n: round(p.grad.norm().item(), 5) for n, p in model.rnn.named_parameters() if n.endswith("l1")})

model.eval()
gen = torch.Generator().manual_seed(5)


@torch.no_grad()
def sample(prompt, n, temperature):
    idx = torch.tensor([[stoi[c] for c in prompt]])
    logits, state = model(idx)
    out = list(prompt)
    for _ in range(n):
        probs = F.softmax(logits[:, -1] / temperature, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        out.append(chars[nxt.item()])
        logits, state = model(nxt, state)
    return "".join(out), probs.max().item()


for t in (0.5, 1.0):
    s, pmax = sample("the ", 12, t)
    print(t, repr(s), round(pmax, 4))
print("done")
