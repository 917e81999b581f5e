# A recurrent text classifier as tutorials build it: token sequences of many lengths packed
# (pack_sequence sorted, pack_padded_sequence unsorted) through a 2-layer bidirectional LSTM
# with proj_size, its forget-gate biases set to 1 through .data and its recurrent weights
# orthogonal; attention pooling over the unpadded steps (masked_fill with -inf, softmax);
# a forward hook reading the LSTM's (output, (h, c)); dropout between layers under a seed;
# clip_grad_norm_ with error_if_nonfinite; a GRU head on a worker; eval with no_grad.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
rnn_utils = torch.nn.utils.rnn
torch.manual_seed(41)
V, PAD, H, P = 12, 0, 6, 4


def make_batch(n, gen):
    lengths = torch.randint(1, 7, (n,), generator=gen)
    seqs = [torch.randint(1, V, (int(L),), generator=gen) for L in lengths]
    labels = torch.tensor([int((s > V // 2).sum() * 2 > len(s)) for s in seqs])
    return seqs, lengths, labels


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 5, padding_idx=PAD)
        self.lstm = nn.LSTM(5, H, num_layers=2, bidirectional=True, batch_first=True, dropout=0.2, proj_size=P)
        self.att = nn.Linear(2 * P, 1, bias=False)
        self.out = nn.Linear(2 * P, 2)
        for name, p in self.lstm.named_parameters():
            if name.startswith("bias_ih"):
                p.data.zero_()
                p.data[H:2 * H].fill_(1.0)
            elif name.startswith("weight_hh"):
                nn.init.orthogonal_(p)

    def forward(self, tokens, lengths):
        packed = rnn_utils.pack_padded_sequence(self.emb(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, (h, c) = self.lstm(packed)
        out, _ = rnn_utils.pad_packed_sequence(out, batch_first=True, padding_value=-1.0)
        mask = torch.arange(out.size(1)).unsqueeze(0) < lengths.unsqueeze(1)
        scores = self.att(out).squeeze(2).masked_fill(~mask, float("-inf"))
        weights = F.softmax(scores, dim=1)
        return self.out((weights.unsqueeze(2) * out).sum(1)), weights


model = Classifier()
print(model.lstm, [n for n, _ in model.lstm.named_parameters()][:4])
print(model.lstm.bias_ih_l0[H - 1:H + 1].tolist(), model.lstm.bias_ih_l0._version,
      torch.allclose(model.lstm.weight_hh_l1 @ model.lstm.weight_hh_l1.T, torch.eye(4 * H)) is False)
seen = []
hook = model.lstm.register_forward_hook(
    lambda m, inp, out: seen.append((type(inp[0]).__name__, type(out[0]).__name__, tuple(out[1][0].shape))))
gen = torch.Generator().manual_seed(3)
opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
for step in range(6):
    seqs, lengths, labels = make_batch(8, gen)
    tokens = rnn_utils.pad_sequence(seqs, batch_first=True, padding_value=PAD)
    logits, weights = model(tokens, lengths)
    loss = F.cross_entropy(logits, labels, label_smoothing=0.05)
    opt.zero_grad()
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 2.0, error_if_nonfinite=True)
    opt.step()
    acc = (logits.argmax(1) == labels).float().mean().item()
    print(step, tokens.shape, round(loss.item(), 5), round(norm.item(), 5), acc,
          weights[0, lengths[0] - 1:].tolist()[:2])
hook.remove()
print(seen[0], len(seen), model.emb.weight.grad[PAD].abs().sum().item())
print(model.lstm.weight_hr_l1_reverse.grad.shape, model.lstm.bias_ih_l0.grad[H:2 * H].abs().sum().item() > 0)

srt = sorted(make_batch(5, gen)[0], key=len, reverse=True)
packed = rnn_utils.pack_sequence(srt)
print(packed.batch_sizes, packed.sorted_indices, [len(s) for s in rnn_utils.unpack_sequence(packed)])
try:
    rnn_utils.pack_sequence(srt[::-1])
except RuntimeError as e:
    print("RuntimeError:", str(e)[:60])
model.eval()
with torch.no_grad():
    seqs, lengths, labels = make_batch(6, gen)
    tokens = rnn_utils.pad_sequence(seqs, batch_first=True)
    a, _ = model(tokens, lengths)
    b, _ = model(tokens, lengths)
    print(torch.equal(a, b), a.requires_grad, a.argmax(1).tolist(), labels.tolist())
    single, _ = model(tokens[:1, :int(lengths[0])], lengths[:1])
    print(torch.allclose(single, a[:1], atol=1e-6))

gru = nn.GRU(2 * P, 3, batch_first=True).to(W[1])
feats = torch.randn(4, 5, 2 * P).to(W[1]).requires_grad_()
h0 = torch.zeros(1, 4, 3).to(W[1])
out, hn = gru(feats, h0)
hn.squeeze(0).pow(2).sum().backward()
print(out.shape, torch.allclose(out[:, -1], hn[0]), feats.grad.abs().sum().item(), gru.weight_hh_l0.grad.norm().item())
lens = torch.tensor([5, 2, 4, 1])
packed = rnn_utils.pack_padded_sequence(feats, lens, batch_first=True, enforce_sorted=False)
pout, phn = gru(packed, h0)
padded, plens = rnn_utils.pad_packed_sequence(pout, batch_first=True)
print(packed.data.shape, packed.batch_sizes, padded.shape, plens, torch.allclose(padded[1, 1], phn[0, 1]))
phn.sum().backward()
print(feats.grad[3, 1:].abs().sum().item(), round(feats.grad.abs().sum().item(), 4))
bad = [p for p in gru.parameters()]
bad[0].grad.fill_(float("nan"))
try:
    nn.utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
except RuntimeError as e:
    print("RuntimeError:", str(e)[:70])
print("done")
