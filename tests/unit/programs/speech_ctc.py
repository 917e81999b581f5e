# A small acoustic model trained with CTC as speech tutorials build one: log-mel-like
# features framed from a waveform (unfold, torch.signal.windows), a conv front end (dilated,
# grouped, reflect/circular/replicate padding, a stride), a bidirectional GRU, log_softmax
# over time-major frames and F.ctc_loss in its many forms (mean/sum/none, zero_infinity,
# a blank that is not 0, targets concatenated and padded, lengths as tuples); a hook on the
# frames' gradient, greedy decoding under no_grad, a state_dict round trip and an LSTM
# head on a worker. (distgrad has no torch.stft/istft or torch.fft: framing is by hand.)
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(17)
B, N_MEL, VOCAB, BLANK = 3, 6, 5, 0

# waveforms -> frames -> windowed "spectral" features
wave = torch.randn(B, 200)
frames = wave.unfold(1, 16, 8) * torch.signal.windows.hamming(16, sym=False)
feats = torch.log1p((frames @ torch.randn(16, N_MEL)).pow(2)).transpose(1, 2)
feats = (feats - feats.mean(-1, keepdim=True)) / (feats.std(-1, keepdim=True) + 1e-5)
print(frames.shape, feats.shape, torch.hann_window(5), torch.hann_window(4, periodic=False))
print(torch.signal.windows.kaiser(5, beta=4.0), torch.signal.windows.gaussian(4, std=1.5, sym=False),
      torch.equal(torch.signal.windows.hann(8, sym=False), torch.hann_window(8)))


class Acoustic(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(N_MEL, 8, 3, padding=2, dilation=2, padding_mode="reflect")
        self.c2 = nn.Conv1d(8, 8, 3, padding="same", groups=4, padding_mode="circular")
        self.c3 = nn.Conv1d(8, 8, 4, stride=2, padding=1, padding_mode="replicate", bias=False)
        self.norm = nn.GroupNorm(2, 8)
        self.rnn = nn.GRU(8, 6, batch_first=True, bidirectional=True)
        self.out = nn.Linear(12, VOCAB + 1)

    def forward(self, x):
        x = F.gelu(self.c1(x))
        x = x + F.hardtanh(self.c2(x), -2, 2)
        x = F.relu(self.norm(self.c3(x)))
        h, _ = self.rnn(x.transpose(1, 2))
        return F.log_softmax(self.out(h), dim=-1).transpose(0, 1)  # (T, B, C)


def out_lengths(n):  # the strided conv's output length
    return (n + 2 * 1 - 4) // 2 + 1


model = Acoustic()
print(model.c1, model.c2, model.c3)
targets = [torch.tensor([1, 2, 2, 3]), torch.tensor([4, 1]), torch.tensor([3, 3, 5, 1, 2])]
flat = torch.cat(targets)
target_lengths = torch.tensor([len(t) for t in targets])
padded = nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=0)
in_lengths = out_lengths(torch.tensor([24, 20, 17]))
grads = []
opt = torch.optim.Adam(model.parameters(), lr=5e-3)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=5)
for step in range(5):
    lp = model(feats)
    lp.register_hook(lambda g: grads.append(g.abs().sum(-1)[:, 1].clone()))
    tgt = flat if step % 2 == 0 else padded
    loss = F.ctc_loss(lp, tgt, in_lengths, target_lengths, blank=BLANK, reduction="mean")
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_value_(model.parameters(), 0.5)
    opt.step()
    sched.step()
    print(step, lp.shape, round(loss.item(), 5), loss.grad_fn.name(), round(model.c1.weight.grad.norm().item(), 5),
          [round(lr, 6) for lr in sched.get_last_lr()])
print(grads[0][in_lengths[1]:], grads[-1][:3])

# the same loss every way: sum, none, padded vs flat targets, tuple lengths
lp = model(feats).detach().requires_grad_()
per = F.ctc_loss(lp, flat, in_lengths, target_lengths, reduction="none")
summed = F.ctc_loss(lp, padded, tuple(in_lengths.tolist()), tuple(target_lengths.tolist()), reduction="sum")
mean = nn.CTCLoss()(lp, flat, in_lengths, target_lengths)
print(per, summed, mean, torch.allclose(mean, (per / target_lengths).mean()), per.grad_fn.name())
summed.backward()
print(lp.grad[:3, 1], lp.grad[in_lengths[2]:, 2].abs().sum(), lp.grad[0, 0])

# a target too long for its frames: inf, or 0 with zero_infinity (and a 0 gradient)
short = torch.tensor([in_lengths[0], 3, 5])  # [3, 3, 5, 1, 2] needs 6 frames
lp.grad = None
inf = F.ctc_loss(lp, flat, short, target_lengths, reduction="none")
zeroed = F.ctc_loss(lp, flat, short, target_lengths, reduction="sum", zero_infinity=True)
zeroed.backward()
print(inf, zeroed, lp.grad[:, 2].abs().sum(), lp.grad[:, 1].abs().sum() > 0)
mean_inf = F.ctc_loss(lp, flat, short, target_lengths)
print(mean_inf, F.ctc_loss(lp, flat, short, target_lengths, zero_infinity=True))
# one utterance unbatched, an empty target among others, float64
one = F.ctc_loss(lp[:, 0].double(), targets[0], torch.tensor(12), torch.tensor(4))
empty = F.ctc_loss(lp, torch.tensor([2, 4, 4]), in_lengths, torch.tensor([0, 3, 0]), reduction="none")
print(one, per[0].item(), empty, torch.allclose(empty[0], -lp[:in_lengths[0], 0, 0].sum()))

# a blank at the vocabulary's end, labels shifted down
last = F.ctc_loss(lp.roll(-1, dims=2), flat - 1, in_lengths, target_lengths, blank=VOCAB, reduction="none")
print(last, torch.allclose(last, per, atol=1e-5))
try:
    F.ctc_loss(lp, flat, in_lengths, target_lengths, blank=VOCAB + 1)
except RuntimeError as e:
    print("RuntimeError", e)

# greedy decoding under no_grad: collapse repeats, drop blanks
model.eval()
with torch.no_grad():
    best = model(feats).argmax(-1).t()
    for b in range(B):
        path = best[b, :in_lengths[b]]
        collapsed = torch.unique_consecutive(path)
        print(path.tolist(), collapsed[collapsed != BLANK].tolist(), targets[b].tolist())
state = model.state_dict()
print(list(state)[:6], state["rnn.weight_hh_l0_reverse"].shape, state["norm.bias"])
clone = Acoustic()
print(clone.load_state_dict(state), torch.equal(clone(feats), model(feats)))

# an LSTM head on a worker, trained a step on the same frames
head = nn.LSTM(N_MEL, 4, num_layers=2, dropout=0.0).to(W[1])
proj = nn.Linear(4, VOCAB + 1).to(W[1])
x = feats.permute(2, 0, 1).contiguous().to(W[1])
x.requires_grad_()
out, (h, c) = head(x)
lp2 = F.log_softmax(proj(out), 2)
loss2 = F.ctc_loss(lp2, padded.to(W[1]), torch.full((B,), x.shape[0], dtype=torch.long), target_lengths,
                   reduction="mean")
loss2.backward()
print(out.shape, h.shape, round(loss2.item(), 5), x.grad.abs().sum().item(), head.weight_hh_l1.grad.norm().item())
sgd = torch.optim.SGD(list(head.parameters()) + list(proj.parameters()), lr=0.1, momentum=0.9)
sgd.step()
print(proj.bias.detach().cpu(), c[1].detach().cpu())
print("done")
