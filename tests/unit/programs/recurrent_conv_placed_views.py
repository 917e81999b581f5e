# Recurrent and convolutional layers as a video/sequence script mixes them, with tensors on
# workers and views of weights and outputs: a channels_last CNN encoder (Conv2d, BatchNorm2d,
# MaxPool2d) on frames placed on W[0], its features fed as a padded sequence to a
# bidirectional batch_first GRU on W[1] through pack_padded_sequence (enforce_sorted=False),
# an LSTM with a projection reading the GRU's padded output; views of the recurrent weights
# (weight_hh_l0 split into its gates, a gate's rows scaled in place under no_grad: versions,
# the view's base), outputs written through views, one Adam step, and torch's errors for an
# h0 of the wrong shape and a packed batch with an unsorted lengths list.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
rnn_utils = torch.nn.utils.rnn
torch.manual_seed(21)
B, T, H = 3, 4, 5

cnn = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 6)).to(W[0])
cnn = cnn.to(memory_format=torch.channels_last)
gru = nn.GRU(6, H, batch_first=True, bidirectional=True).to(W[1])
lstm = nn.LSTM(2 * H, 4, batch_first=True, proj_size=2).to(W[1])
head = nn.Linear(2, 3).to(W[1])
w = cnn[0].weight
print(w.is_contiguous(), w.is_contiguous(memory_format=torch.channels_last), w.stride())

frames = torch.randn(B * T, 2, 4, 4).to(W[0]).contiguous(memory_format=torch.channels_last)
lengths = torch.tensor([2, 4, 3])
feat = cnn(frames)
print(feat.shape, type(feat.grad_fn).__name__, cnn[0](frames).stride(), cnn[1].running_mean[:2].tolist())
seq = feat.view(B, T, 6).to(W[1])
print(feat.view(B, T, 6)._is_view(), seq.is_leaf, seq.shape)
packed = rnn_utils.pack_padded_sequence(seq, lengths, batch_first=True, enforce_sorted=False)
print(packed.batch_sizes.tolist(), packed.sorted_indices.tolist(), packed.data.shape)
out, h = gru(packed)
padded, lens = rnn_utils.pad_packed_sequence(out, batch_first=True)
print(padded.shape, lens.tolist(), h.shape, type(padded.grad_fn).__name__)
print(padded[0, 2:].abs().sum().item(), padded.is_contiguous())
y, (hn, cn) = lstm(padded)
print(y.shape, hn.shape, cn.shape, type(y.grad_fn).__name__)
last = y[torch.arange(B), lens - 1]
last[:, 0].mul_(2.0)
print(last._version, last.is_leaf, type(last.grad_fn).__name__)
logits = head(last)
loss = F.cross_entropy(logits, torch.tensor([0, 2, 1]).to(logits.device))
loss.backward()
print(round(loss.item(), 5), [round(p.grad.norm().item(), 5) for p in (w, gru.weight_hh_l0_reverse,
                                                                  lstm.weight_hr_l0)])
print(cnn[0].weight.grad.stride(), cnn[0].weight.grad.is_contiguous(memory_format=torch.channels_last))

# the recurrent weight's gates as views
r, z, n = gru.weight_hh_l0.chunk(3, 0)
print(r.shape, r._base is gru.weight_hh_l0, r.is_leaf, r.requires_grad, type(r.grad_fn).__name__)
ptr = gru.weight_hh_l0.untyped_storage().data_ptr()
with torch.no_grad():
    z.mul_(0.5)
print(gru.weight_hh_l0._version, z._version, ptr == z.untyped_storage().data_ptr())
try:
    z.sum()
except RuntimeError as e:
    print(type(e).__name__, e)
with torch.no_grad():
    print(round(gru.weight_hh_l0[H:2 * H].sum().item(), 5) == round(z.sum().item(), 5))
opt = torch.optim.Adam(list(cnn.parameters()) + list(gru.parameters()) + list(lstm.parameters())
                       + list(head.parameters()), lr=0.01)
opt.step()
print(gru.weight_hh_l0._version, r._version, round(r.detach().sum().item(), 5), round(w.sum().item(), 5))
out2, _ = gru(seq)
print(round(out2.sum().item(), 4), out2.shape)

try:
    gru(seq, torch.zeros(1, B, H).to(W[1]))
except RuntimeError as e:
    print(type(e).__name__, e)
try:
    rnn_utils.pack_padded_sequence(seq, [2, 4, 3], batch_first=True)
except RuntimeError as e:
    print(type(e).__name__, e)
try:
    lstm(padded, (torch.zeros(1, B, 4).to(W[1]), torch.zeros(1, B, 4).to(W[1])))
except RuntimeError as e:
    print(type(e).__name__, e)
print("done")
