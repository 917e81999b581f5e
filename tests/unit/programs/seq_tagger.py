# A sequence tagger over variable-length sentences: a Dataset of token lists, a custom
# collate_fn padding with pad_sequence, a WeightedRandomSampler from class frequencies,
# a bidirectional LSTM over pack_padded_sequence, a CRF-style loss (the forward algorithm
# with logsumexp over a learned transition matrix) and Viterbi decoding with max/argmax
# and a backtrace; token accuracy over the unpadded positions.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
rnn_utils = torch.nn.utils.rnn
Dataset, DataLoader = torch.utils.data.Dataset, torch.utils.data.DataLoader
torch.manual_seed(59)
V, T = 15, 3


class Sentences(Dataset):
    def __init__(self, n):
        self.lengths = torch.randint(2, 7, (n,)).tolist()
        self.tokens = [torch.randint(1, V, (L,)) for L in self.lengths]
        self.tags = [(t % T) for t in self.tokens]

    def __len__(self):
        return len(self.tokens)

    def __getitem__(self, i):
        return self.tokens[i], self.tags[i]


def collate(batch):
    tokens, tags = zip(*batch)
    lengths = torch.tensor([len(t) for t in tokens])
    return (rnn_utils.pad_sequence(tokens, batch_first=True), rnn_utils.pad_sequence(tags, batch_first=True),
            lengths)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 8, padding_idx=0)
        self.lstm = nn.LSTM(8, 6, batch_first=True, bidirectional=True)
        self.emit = nn.Linear(12, T)
        self.trans = nn.Parameter(torch.zeros(T, T))

    def emissions(self, tokens, lengths):
        packed = rnn_utils.pack_padded_sequence(self.emb(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = rnn_utils.pad_packed_sequence(out, batch_first=True, total_length=tokens.size(1))
        return self.emit(out)

    def nll(self, em, tags, mask):
        alpha = em[:, 0]
        score = em[:, 0].gather(1, tags[:, :1]).squeeze(1)
        for t in range(1, em.size(1)):
            m = mask[:, t]
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.trans + em[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(m.unsqueeze(1), nxt, alpha)
            step = self.trans[tags[:, t - 1], tags[:, t]] + em[:, t].gather(1, tags[:, t:t + 1]).squeeze(1)
            score = score + step * m
        return (torch.logsumexp(alpha, 1) - score).mean()

    def viterbi(self, em, lengths):
        best, back = em[:, 0], []
        for t in range(1, em.size(1)):
            scores, idx = (best.unsqueeze(2) + self.trans).max(1)
            keep = (t < lengths).unsqueeze(1)
            best = torch.where(keep, scores + em[:, t], best)
            back.append(torch.where(keep, idx, torch.arange(T).expand_as(idx)))
        path = [best.argmax(1)]
        for idx in reversed(back):
            path.append(idx.gather(1, path[-1].unsqueeze(1)).squeeze(1))
        return torch.stack(path[::-1], 1)


data = Sentences(24)
first_tag = torch.tensor([int(t[0]) for t in data.tags])
weights = 1.0 / torch.bincount(first_tag, minlength=T).float()[first_tag]
sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=24, replacement=True)
loader = DataLoader(data, batch_size=8, sampler=sampler, collate_fn=collate)
model = Tagger()
opt = torch.optim.Adam(model.parameters(), lr=2e-2)
for epoch in range(3):
    total = 0.0
    for tokens, tags, lengths in loader:
        mask = torch.arange(tokens.size(1)) < lengths.unsqueeze(1)
        loss = model.nll(model.emissions(tokens, lengths), tags, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    print(epoch, round(total / len(loader), 5), tokens.shape, lengths.tolist())
print(model.trans.detach(), model.lstm.weight_hh_l0_reverse.grad.norm().item())
with torch.no_grad():
    tokens, tags, lengths = collate([data[i] for i in range(8)])
    mask = torch.arange(tokens.size(1)) < lengths.unsqueeze(1)
    pred = model.viterbi(model.emissions(tokens, lengths), lengths)
    acc = ((pred == tags) & mask).sum().item() / mask.sum().item()
print(pred[:3].tolist(), round(acc, 4))
print("done")
