# Truncated backpropagation through time as language-model and RL scripts write it, with
# the recurrent layers on a worker (distgrad: a worker; torch: the CPU): the hidden state
# carried across chunks and cut with detach() (repackage_hidden) and with detach_() in
# place, hidden rows reset in place at episode ends (h[:, done] = 0, h.mul_(mask)), an LSTM's
# (h, c) tuple and a GRU's h, what each cut leaves (is_leaf, requires_grad, grad_fn,
# _version, _base), the error of a backward through an already freed chunk, and the losses
# and gradients a few chunks give. `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(83)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def name(t):
    return t.grad_fn.name() if t.grad_fn is not None else None


def repackage(h):
    return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage(v) for v in h)


vocab, hid = 6, 5
emb = nn.Embedding(vocab, 4).to(W[0])
lstm = nn.LSTM(4, hid, batch_first=True).to(W[0])
head = nn.Linear(hid, vocab).to(W[0])
params = [*emb.parameters(), *lstm.parameters(), *head.parameters()]
opt = torch.optim.Adam(params, lr=0.05)
seq = torch.randint(0, vocab, (2, 13)).to(W[0])
state = None
for i, start in enumerate(range(0, 12, 4)):
    inp, tgt = seq[:, start:start + 4], seq[:, start + 1:start + 5]
    state = repackage(state) if state is not None else None
    if state is not None:
        print("cut", [s.is_leaf for s in state], [s.requires_grad for s in state],
              [s._base is None for s in state], [s._version for s in state])
    out, state = lstm(emb(inp), state)
    loss = F.cross_entropy(head(out).reshape(-1, vocab), tgt.reshape(-1))
    opt.zero_grad()
    loss.backward()
    norm = nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    print(i, round(loss.item(), 5), round(norm.item(), 5), [name(s) for s in state], out.shape)

# -- a GRU whose hidden state is reset in place at episode ends, then cut with detach_() ------
gru = nn.GRU(3, 4).to(W[1])
h = torch.zeros(1, 3, 4).to(W[1])
xs = torch.randn(6, 2, 3, 3).to(W[1])
dones = [torch.tensor([False, True, False]), torch.tensor([True, False, False]),
         torch.tensor([False, False, True])]
total = []
for k in range(3):
    y, h = gru(xs[2 * k], h)
    y2, h = gru(xs[2 * k + 1], h)
    loss = (y2 ** 2).mean() + (y ** 2).mean()
    loss.backward()
    total.append(round(loss.item(), 5))
    print(k, name(h), h._version, h.is_leaf, h._base is None)
    print(attempt(lambda: h.detach_().shape), h.is_leaf, h.requires_grad, h._version)
    h[:, dones[k].to(W[1])] = 0.0
    mask = (~dones[(k + 1) % 3]).float().view(1, 3, 1).to(W[1])
    h.mul_(mask)
    print(h._version, name(h), h.detach().cpu().abs().sum(-1))
print(total, [p.grad.cpu().abs().sum().item() > 0 for p in gru.parameters()])

# -- a chunk's graph is freed after its backward -------------------------------------------------
out, (hn, cn) = lstm(emb(seq[:, :4]))
loss = out.sum()
loss.backward()
print(attempt(lambda: (hn.sum() + loss).backward()))
print(attempt(lambda: hn.detach_().requires_grad), attempt(lambda: out.detach_().shape))
print("done")
