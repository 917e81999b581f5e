# Recurrent taggers as sequence-labelling scripts write them, on a worker (torch: the CPU):
# a bidirectional GRU over packed sequences (enforce_sorted=False), its padded output and
# final hidden state, an LSTM cell unrolled by hand with the hidden state detached between
# chunks (truncated BPTT: versions, is_leaf, requires_grad of the carried state), and the
# gradients and a clip. `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn = torch.nn
rnn_utils = torch.nn.utils.rnn
torch.manual_seed(19)
dev = W[1]

gru = nn.GRU(3, 4, batch_first=True, bidirectional=True).to(dev)
lengths = torch.tensor([2, 5, 3])
x = torch.randn(3, 5, 3).to(dev).requires_grad_()
packed = rnn_utils.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
print(packed.batch_sizes.tolist(), packed.sorted_indices.tolist(), packed.data.shape)
out, h = gru(packed)
padded, lens = rnn_utils.pad_packed_sequence(out, batch_first=True, total_length=6)
print(padded.shape, lens.tolist(), h.shape, padded.grad_fn.name(), h.grad_fn.name())
print(padded[0, 2:].abs().sum().item(), padded[1, 4].detach().cpu())
(padded.pow(2).sum() + h.sum()).backward()
print(x.grad[0, 2:].abs().sum().item(), x.grad.abs().sum().item() > 0)
total = nn.utils.clip_grad_norm_(gru.parameters(), 0.5)
print(round(total.item(), 5), gru.weight_hh_l0_reverse.grad.shape)

cell = nn.LSTMCell(3, 4).to(dev)
hx = torch.zeros(2, 4).to(dev)
cx = torch.zeros(2, 4).to(dev)
stream = torch.randn(6, 2, 3).to(dev)
opt = torch.optim.SGD(cell.parameters(), lr=0.1)
for chunk in range(3):
    hx, cx = hx.detach(), cx.detach()
    print(chunk, hx.is_leaf, hx.requires_grad, hx._version, cx.grad_fn)
    loss = 0
    for t in range(2):
        hx, cx = cell(stream[chunk * 2 + t], (hx, cx))
        loss = loss + hx.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(round(loss.item(), 5), hx.grad_fn.name(), cell.weight_ih._version)
seqs = [torch.randn(n, 3) for n in (4, 1, 2)]
pad = rnn_utils.pad_sequence(seqs, batch_first=True, padding_value=-1.0)
print(pad.shape, pad[1, 1:].tolist(), rnn_utils.pack_sequence(seqs, enforce_sorted=False).batch_sizes.tolist())
try:
    rnn_utils.pack_padded_sequence(x, torch.tensor([2, 5, 3]), batch_first=True)
except Exception as e:
    print(type(e).__name__, str(e).splitlines()[0])
print("done")
