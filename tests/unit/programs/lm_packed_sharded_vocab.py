# A recurrent language model over batches of unequal lengths, as AWD-LSTM-style scripts
# write it: the embedding table a Parameter split over the workers by vocabulary rows
# (`shard`), looked up with F.embedding and gathered, sequences packed (sorted and
# unsorted) for an LSTM with proj_size on W[0], the hidden state carried across chunks
# and cut in place with detach_() (its grad_fn and _version after), weight-dropped
# recurrence written through .data of the hidden-to-hidden weight under no_grad, outputs
# unpacked and the padding masked out of the loss, the output layer tied to the table,
# clip_grad_norm_ with foreach off and on, and ASGD's averages. `W`, `shard`, `full` are
# the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
pack = nn.utils.rnn
torch.manual_seed(89)
V, E, H, P = 11, 6, 8, 6


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(shard(torch.randn(V, E) * 0.3, 0))
        self.rnn = nn.LSTM(E, H, proj_size=P, batch_first=True).to(W[0])
        self.bias = nn.Parameter(torch.zeros(V))

    def forward(self, tokens, lengths, hidden=None, enforce_sorted=True):
        emb = full(F.embedding(tokens, self.table))
        packed = pack.pack_padded_sequence(emb.to(W[0]), lengths, batch_first=True,
                                           enforce_sorted=enforce_sorted)
        out, hidden = self.rnn(packed, hidden)
        padded, out_lengths = pack.pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        logits = padded.cpu() @ full(self.table).t() + self.bias
        return logits, hidden, out_lengths, packed


model = LM()
print(model.table.shape, model.table.is_leaf, type(model.table).__name__, sorted(n for n, _ in model.named_parameters()))
tokens = torch.randint(0, V, (3, 7))
lengths = torch.tensor([7, 5, 3])
logits, hidden, out_lengths, packed = model(tokens[:, :-1], lengths - 1)
print(logits.shape, out_lengths, packed.batch_sizes, hidden[0].shape, hidden[1].shape, packed.data.grad_fn.name())
mask = torch.arange(6).unsqueeze(0) < (lengths - 1).unsqueeze(1)
nll = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), reduction="none")
loss = (nll * mask.flatten()).sum() / mask.sum()
loss.backward()
print(round(loss.item(), 4), full(model.table.grad)[tokens[0, 0]], model.bias.grad[:4], model.rnn.weight_hr_l0.grad.cpu()[0])

# -- chunks with the hidden state carried and cut in place -------------------------------------
opt = torch.optim.ASGD(model.parameters(), lr=0.3, t0=2)
hidden = None
stream = torch.randint(0, V, (2, 13))
for chunk in range(3):
    x, y = stream[:, chunk * 4:chunk * 4 + 4], stream[:, chunk * 4 + 1:chunk * 4 + 5]
    opt.zero_grad()
    lens = torch.tensor([4, 3])
    logits, hidden, _, _ = model(x, lens, hidden, enforce_sorted=False)
    loss = F.cross_entropy(logits[0], y[0]) + F.cross_entropy(logits[1, :3], y[1, :3])
    loss.backward()
    for h in hidden:
        h.detach_()
    print(chunk, round(loss.item(), 4), [h.grad_fn for h in hidden], [h.requires_grad for h in hidden],
          [h._version for h in hidden], hidden[0].is_leaf)
    norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5, foreach=chunk % 2 == 0)
    opt.step()
    with torch.no_grad():
        w = model.rnn.weight_hh_l0.data
        w.mul_(torch.bernoulli(torch.full_like(w, 0.9)) / 0.9)
    print(round(norm.item(), 4), model.rnn.weight_hh_l0._version, round(full(model.table.detach()).sum().item(), 4))
state = opt.state[model.bias]
print(sorted(state), state["step"].item(), state["ax"][:3], round(state["eta"].item(), 5), state["mu"].item())
print("done")
