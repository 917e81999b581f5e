# Weight tying and packed sequences, distributions, schedulers (OneCycle, plateau,
# sequential), and indexing/scatter/sort/einsum/conv-transpose/grid_sample ops.
import numpy as np
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
rng = np.random.default_rng(5)
def R(*s): return torch.tensor(rng.standard_normal(s).astype(np.float32))
def tryp(f):
    try:
        r = f()
        print(r if not isinstance(r, torch.Tensor) else (r.dtype, tuple(r.shape), np.round(r.detach().numpy().astype(float), 4).ravel()[:8].tolist(), type(r.grad_fn).__name__))
    except Exception as e:
        print(type(e).__name__, str(e)[:150])
# weight tying + packed sequences
emb = nn.Embedding(7, 4); dec = nn.Linear(4, 7, bias=False); dec.weight = emb.weight
with torch.no_grad(): emb.weight.copy_(R(7, 4))
rnn = nn.LSTM(4, 4, batch_first=True)
with torch.no_grad():
    for p in rnn.parameters(): p.copy_(R(*p.shape) * 0.3)
seqs = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]); lens = torch.tensor([3, 2])
packed = nn.utils.rnn.pack_padded_sequence(emb(seqs), lens, batch_first=True, enforce_sorted=True)
out, (h, c) = rnn(packed)
unpacked, ulens = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
logits = dec(unpacked)
loss = F.cross_entropy(logits.reshape(-1, 7), torch.tensor([2, 3, 0, 5, 0, 0]), ignore_index=0)
loss.backward()
tryp(lambda: logits); tryp(lambda: ulens); tryp(lambda: emb.weight.grad); print(dec.weight is emb.weight)
# distributions
D = torch.distributions
n = D.Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
tryp(lambda: n.log_prob(torch.tensor([0.5, -1.0]))); tryp(lambda: n.entropy())
tryp(lambda: D.kl_divergence(n, D.Normal(torch.zeros(2), torch.ones(2))))
tryp(lambda: D.Categorical(logits=torch.tensor([1.0, 2.0, 3.0])).log_prob(torch.tensor(2)))
tryp(lambda: D.Bernoulli(probs=torch.tensor([0.3])).log_prob(torch.tensor([1.0])))
tryp(lambda: D.MultivariateNormal(torch.zeros(2), torch.eye(2) * 2).log_prob(torch.ones(2)))
# schedulers
p = nn.Parameter(torch.zeros(1))
opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
lrs = []
for _ in range(5):
    opt.step(); sched.step(); lrs.append(round(sched.get_last_lr()[0], 6))
print(lrs)
opt2 = torch.optim.Adam([p], lr=0.1)
pl = torch.optim.lr_scheduler.ReduceLROnPlateau(opt2, patience=1, factor=0.5)
for v in [1.0, 0.9, 0.95, 0.97, 0.99, 0.99]:
    pl.step(v)
print(opt2.param_groups[0]["lr"])
ws = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([p], lr=1.0), lambda e: 0.5 ** e)
ws.optimizer.step(); ws.step(); ws.optimizer.step(); ws.step(); print(ws.get_last_lr())
seqsched = torch.optim.lr_scheduler.SequentialLR(opt, [torch.optim.lr_scheduler.LinearLR(opt, 0.1, 1.0, 2), torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)], milestones=[2])
for _ in range(4): opt.step(); seqsched.step()
print([round(x, 6) for x in seqsched.get_last_lr()])
# misc ops
x = torch.tensor([1, 3, 3, 0, 7])
tryp(lambda: torch.bincount(x)); tryp(lambda: torch.histc(torch.tensor([1., 2, 1, 4]), bins=4, min=0, max=4))
tryp(lambda: torch.zeros(3, 5).scatter_(1, torch.tensor([[0, 1], [2, 3], [4, 0]]), 1.0))
tryp(lambda: torch.zeros(5).scatter_add_(0, torch.tensor([0, 1, 0]), torch.tensor([1., 2., 3.])))
tryp(lambda: torch.tensor([[1., 2.], [3., 4.]]).gather(1, torch.tensor([[0, 0], [1, 0]])))
tryp(lambda: torch.cumsum(torch.arange(5), 0)); tryp(lambda: torch.diff(torch.tensor([1, 4, 9, 16])))
tryp(lambda: torch.flip(torch.arange(6).reshape(2, 3), [1])); tryp(lambda: torch.roll(torch.arange(5), 2))
tryp(lambda: torch.tril_indices(3, 3)); tryp(lambda: torch.combinations(torch.tensor([1, 2, 3])))
tryp(lambda: torch.cartesian_prod(torch.tensor([1, 2]), torch.tensor([3, 4])))
tryp(lambda: torch.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")[1])
tryp(lambda: torch.nonzero(torch.tensor([[0, 1], [1, 1]]))); tryp(lambda: torch.argwhere(torch.tensor([0, 2, 0, 3])))
tryp(lambda: torch.topk(torch.tensor([3., 1., 4., 1., 5.]), 3, largest=False))
tryp(lambda: torch.kthvalue(torch.tensor([3., 1., 4., 2.]), 2))
tryp(lambda: torch.clamp(R(4), min=torch.zeros(4)))
tryp(lambda: torch.einsum("bij,bjk->bik", R(2, 2, 3), R(2, 3, 2)))
tryp(lambda: torch.tensordot(R(2, 3), R(3, 2), dims=1))
tryp(lambda: torch.block_diag(torch.ones(1, 2), torch.ones(2, 1)))
tryp(lambda: torch.cdist(R(3, 2), R(4, 2)))
tryp(lambda: torch.logsumexp(R(2, 3), dim=1)); tryp(lambda: torch.special.expit(torch.tensor([0.0])))
tryp(lambda: F.gelu(R(4), approximate="tanh")); tryp(lambda: F.mish(R(3))); tryp(lambda: F.hardswish(R(3)))
tryp(lambda: F.glu(R(2, 4))); tryp(lambda: F.log_softmax(R(2, 3), dim=-1))
tryp(lambda: F.max_pool1d(R(1, 2, 6), 2, return_indices=True)[1])
tryp(lambda: F.avg_pool2d(R(1, 1, 4, 4), 2, ceil_mode=True))
tryp(lambda: F.conv_transpose2d(R(1, 2, 3, 3), R(2, 1, 2, 2), stride=2))
tryp(lambda: F.grid_sample(R(1, 1, 3, 3), torch.zeros(1, 2, 2, 2), align_corners=False))
print("done")
