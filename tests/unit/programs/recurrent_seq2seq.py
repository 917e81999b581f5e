# Recurrent modules as sequence-to-sequence code uses them: variable-length batches through
# pad_sequence / pack_padded_sequence (enforce_sorted=False) / pad_packed_sequence, a
# 2-layer bidirectional GRU given h0, an LSTMCell decoder with teacher forcing and its
# output layer tied to the embedding, a loss masked at the padding (ignore_index, and
# reduction='none' then a masked mean), gradient clipping, a state_dict round trip, and
# truncated BPTT over a long series on a worker with the hidden state detached per chunk.
import random
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
rnn_utils = torch.nn.utils.rnn
torch.manual_seed(23)
random.seed(4)

seqs = [torch.randn(L, 3) for L in (4, 2, 5, 1)]
padded = rnn_utils.pad_sequence(seqs, padding_value=-1.0)
lengths = torch.tensor([len(s) for s in seqs])
print(padded.shape, padded[:, 1, 0], padded.stride())
packed = rnn_utils.pack_padded_sequence(padded, lengths, enforce_sorted=False)
print(packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices, packed.data.shape)
print(torch.equal(packed.data, rnn_utils.pack_sequence(seqs, enforce_sorted=False).data))
try:
    rnn_utils.pack_padded_sequence(padded, lengths)
except RuntimeError as e:
    print("RuntimeError:", e)

gru = nn.GRU(3, 5, num_layers=2, bidirectional=True)
h0 = torch.zeros(4, 4, 5).requires_grad_()
out, hn = gru(packed, h0)
unpacked, out_lengths = rnn_utils.pad_packed_sequence(out, total_length=6, padding_value=0.0)
print(type(out).__name__, out.data.shape, hn.shape, unpacked.shape, out_lengths)
print(unpacked[:, 3].abs().sum(1), torch.allclose(unpacked[lengths[0] - 1, 0, :5], hn[2, 0]))
print(torch.allclose(unpacked[0, 2, 5:], hn[3, 2]))
(unpacked.pow(2).sum() + hn.sum()).backward()
print(h0.grad.shape, h0.grad[:, 3].norm(dim=1), gru.weight_hh_l1_reverse.grad.norm())
for bad, name in ((torch.zeros(2, 4, 5), "h0"), (torch.zeros(4, 3, 5), "batch")):
    try:
        gru(padded, bad)
    except RuntimeError as e:
        print(name, "RuntimeError:", e)
try:
    gru(torch.zeros(2, 3, 4, 3))
except (RuntimeError, ValueError) as e:
    print(type(e).__name__, e)

PAD, BOS, EOS, V = 0, 1, 2, 9


def batch_of(n):
    srcs = [torch.randint(3, V, (random.randint(2, 5),)) for _ in range(n)]
    tgts = [torch.cat([s.flip(0), torch.tensor([EOS])]) for s in srcs]
    return (rnn_utils.pad_sequence(srcs, batch_first=True), torch.tensor([len(s) for s in srcs]),
            rnn_utils.pad_sequence(tgts, batch_first=True, padding_value=PAD))


class Seq2Seq(nn.Module):
    def __init__(self, emb=6, hidden=6):
        super().__init__()
        self.emb = nn.Embedding(V, emb, padding_idx=PAD)
        self.encoder = nn.LSTM(emb, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.cell = nn.LSTMCell(emb, hidden)
        self.head = nn.Linear(hidden, V)
        self.head.weight = self.emb.weight

    def encode(self, src, lengths):
        packed = rnn_utils.pack_padded_sequence(self.emb(src), lengths, batch_first=True, enforce_sorted=False)
        _, (h, c) = self.encoder(packed)
        h = torch.tanh(self.bridge(torch.cat([h[-2], h[-1]], 1)))
        return h, torch.zeros_like(h)

    def forward(self, src, lengths, tgt, teacher_forcing):
        state = self.encode(src, lengths)
        token = torch.full((src.size(0),), BOS, dtype=torch.long)
        logits = []
        for t in range(tgt.size(1)):
            state = self.cell(self.emb(token), state)
            logits.append(self.head(state[0]))
            use_truth = random.random() < teacher_forcing
            token = tgt[:, t] if use_truth else logits[-1].argmax(1)
        return torch.stack(logits, 1)


model = Seq2Seq()
names = [n for n, _ in model.named_parameters()]
print(len(names), "head.weight" in names, model.head.weight is model.emb.weight,
      "head.weight" in model.state_dict(), sum(p.numel() for p in model.parameters()))
opt = torch.optim.Adam(model.parameters(), lr=2e-2)
for step in range(6):
    src, lengths, tgt = batch_of(5)
    logits = model(src, lengths, tgt, teacher_forcing=0.75)
    flat = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=PAD)
    per_token = F.cross_entropy(logits.transpose(1, 2), tgt, reduction="none")
    mask = (tgt != PAD).float()
    loss = (per_token * mask).sum() / mask.sum()
    opt.zero_grad()
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    print(step, src.shape, round(loss.item(), 5), torch.allclose(loss, flat), per_token.grad_fn.name(),
          round(norm.item(), 4), model.emb.weight.grad[PAD].abs().sum().item())
print(model.emb.weight._version > 0, model.encoder.weight_ih_l1_reverse.grad.shape)

state = {k: v.clone() for k, v in model.state_dict().items()}
fresh = Seq2Seq()
print(fresh.load_state_dict(state), fresh.head.weight is fresh.emb.weight)
fresh.encoder.flatten_parameters()
model.eval(), fresh.eval()
with torch.no_grad():
    src, lengths, tgt = batch_of(4)
    a, b = model(src, lengths, tgt, 0.0), fresh(src, lengths, tgt, 0.0)
    print(torch.equal(a, b), a.argmax(2)[0].tolist(), tgt[0].tolist())
del state["bridge.bias"]
print(fresh.load_state_dict(state, strict=False))

W_DEV = W[1]
series = torch.sin(torch.linspace(0, 12, 61)).unsqueeze(1).to(W_DEV)
rnn = nn.RNN(1, 4, num_layers=2, nonlinearity="relu", batch_first=True).to(W_DEV)
readout = nn.Linear(4, 1).to(W_DEV)
params = list(rnn.parameters()) + list(readout.parameters())
sgd = torch.optim.SGD(params, lr=0.05, momentum=0.9)
hidden = torch.zeros(2, 1, 4).to(W_DEV)
for chunk, start in enumerate(range(0, 60, 12)):
    x = series[start:start + 12].unsqueeze(0)
    y = series[start + 1:start + 13].unsqueeze(0)
    hidden = hidden.detach()
    out, hidden = rnn(x, hidden)
    loss = F.mse_loss(readout(out), y)
    sgd.zero_grad()
    loss.backward()
    nn.utils.clip_grad_value_(params, 0.1)
    sgd.step()
    print(chunk, round(loss.item(), 5), hidden.requires_grad, hidden.detach().grad_fn,
          rnn.weight_hh_l0.grad.abs().max().item())

cells = (nn.RNNCell(3, 4), nn.GRUCell(3, 4))
x1 = torch.randn(3)
for cell in cells:
    h = cell(x1)
    hb = cell(x1.unsqueeze(0), h.unsqueeze(0))
    print(type(cell).__name__, h.shape, hb.shape, h.grad_fn is not None)
mistakes = ((cells[1], torch.randn(3, 4)), (nn.LSTMCell(3, 4), torch.zeros(2, 4)),
            (nn.LSTMCell(3, 4), (torch.zeros(2, 4),)), (cells[1], (torch.zeros(2, 4),) * 2))
for cell, hx in mistakes:
    try:
        cell(torch.randn(2, 3), hx)
    except (RuntimeError, TypeError, AttributeError) as e:
        print(type(cell).__name__, type(e).__name__, e)
try:
    gru(padded, (h0, h0))
except AttributeError as e:
    print("AttributeError:", e)
print("done")
