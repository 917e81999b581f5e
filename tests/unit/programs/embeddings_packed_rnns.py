# Token models as text scripts build them, on workers: an Embedding with padding_idx and
# max_norm (which renormalises its weight rows in place at each lookup), EmbeddingBag in
# sum/mean/max modes with offsets, include_last_offset, per_sample_weights and a
# padding_idx, from_pretrained(freeze=False), and LSTM/GRU over pack_padded_sequence
# (enforce_sorted=False) with bidirectional layers, num_layers=2 and proj_size, unpacked
# with total_length; gradients, versions and grad_fn names printed.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
rnn_utils = torch.nn.utils.rnn


def host(t):
    return t.detach().cpu()


torch.manual_seed(31)

emb = nn.Embedding(10, 4, padding_idx=0, max_norm=1.0).to(W[0])
tokens = torch.tensor([[3, 5, 0, 0], [1, 2, 3, 4], [7, 0, 0, 0]]).to(W[0])
lengths = torch.tensor([2, 4, 1])
v0 = emb.weight._version
e = emb(tokens)
print(e.shape, e.grad_fn.name(), emb.weight._version - v0, host(emb.weight.norm(dim=1)))
e.sum().backward()
print(emb.weight.grad.cpu()[:4], emb.weight.grad.cpu()[0].abs().sum())
try:
    nn.Embedding(4, 2, padding_idx=5)
except AssertionError as err:
    print(type(err).__name__, err)
print(F.embedding(torch.tensor([1, 1]), torch.ones(3, 2) * 3, max_norm=2.0, norm_type=1.0))

bag = nn.EmbeddingBag(10, 3, mode="sum", padding_idx=0).to(W[1])
flat = torch.tensor([1, 2, 0, 4, 5, 0, 7, 8]).to(W[1])
offsets = torch.tensor([0, 3, 5]).to(W[1])
psw = torch.linspace(0.5, 2.0, 8).to(W[1])
out = bag(flat, offsets, per_sample_weights=psw)
out.pow(2).sum().backward()
print(host(out), out.grad_fn.name(), bag.weight.grad.cpu()[[0, 1, 7]])
for mode in ("mean", "max"):
    b = nn.EmbeddingBag.from_pretrained(bag.weight.detach().cpu(), mode=mode, freeze=False,
                                        include_last_offset=True)
    o = b(torch.tensor([1, 2, 3, 4, 5, 9]), torch.tensor([0, 2, 2, 6]))
    o.sum().backward()
    print(mode, o, o.grad_fn.name(), b.weight.grad[[1, 2, 9]])
try:
    bag(flat, offsets, per_sample_weights=psw[:3])
except (RuntimeError, ValueError) as err:
    print(type(err).__name__, err)
try:
    nn.EmbeddingBag(5, 2, mode="max")(torch.tensor([1, 2]), torch.tensor([0]), per_sample_weights=torch.ones(2))
except (NotImplementedError, ValueError) as err:
    print(type(err).__name__, err)
try:
    bag(flat.view(2, 4), offsets)
except ValueError as err:
    print(type(err).__name__, err)
print(host(bag(flat.view(2, 4).cpu().to(W[1]))), bag)

lstm = nn.LSTM(4, 5, num_layers=2, bidirectional=True, proj_size=3, batch_first=True).to(W[0])
print([(n, tuple(p.shape)) for n, p in lstm.named_parameters()][:6])
e = emb(tokens)
packed = rnn_utils.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
print(packed.batch_sizes, host(packed.sorted_indices), host(packed.unsorted_indices), packed.data.shape)
out, (h, c) = lstm(packed)
padded, lens = rnn_utils.pad_packed_sequence(out, batch_first=True, total_length=5)
print(padded.shape, lens, h.shape, c.shape, padded.grad_fn.name())
loss = padded.sum() + h.pow(2).sum() + c.mean()
emb.zero_grad()
loss.backward()
print(round(loss.item(), 4), lstm.weight_hr_l1_reverse.grad.cpu(), emb.weight.grad.cpu()[5])
print(host(padded[0, 2:]), host(padded[2, :, :3]))

gru = nn.GRU(4, 3, bidirectional=True).to(W[0])
seqs = [torch.randn(n, 4).to(W[0]) for n in (3, 1, 2)]
ps = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
h0 = torch.zeros(2, 3, 3).to(W[0])
o, hn = gru(ps, h0)
u = rnn_utils.unpack_sequence(o)
print([t.shape for t in u], hn.shape, o.data.grad_fn.name())
torch.stack([t[-1] for t in u]).sum().backward()
print(gru.bias_hh_l0_reverse.grad.cpu(), gru.weight_ih_l0.grad.cpu()[0])
try:
    rnn_utils.pack_padded_sequence(torch.zeros(3, 2, 4), torch.tensor([2, 3]), enforce_sorted=True)
except RuntimeError as err:
    print(type(err).__name__, err)
try:
    lstm(torch.randn(2, 3, 5).to(W[0]))
except RuntimeError as err:
    print(type(err).__name__, err)
try:
    lstm(torch.randn(2, 3, 4).to(W[0]), (torch.zeros(4, 2, 5).to(W[0]), torch.zeros(4, 2, 5).to(W[0])))
except RuntimeError as err:
    print(type(err).__name__, err)
padded = rnn_utils.pad_sequence([s.cpu() for s in seqs], batch_first=True, padding_value=-1.0, padding_side="left")
print(padded[:, :, 0], rnn_utils.unpad_sequence(padded.flip(1), torch.tensor([3, 1, 2]), batch_first=True)[1])
print("done")
