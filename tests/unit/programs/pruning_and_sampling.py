# Selection as training and decoding code uses it: magnitude pruning by kthvalue thresholds
# (masks, gradient hooks, version counters), a straight-through quantizer through
# bucketize, nucleus (top-p) sampling by sort + cumsum + scatter, a beam search by top-k over
# flattened scores, segment maxima with scatter_reduce over unique's inverse (ties sharing
# the gradient), a running best with cummax, and histograms; some of it on workers.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(21)

model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
w = model[0].weight
k = int(0.5 * w.numel())
threshold = w.detach().abs().flatten().kthvalue(k).values
mask = w.detach().abs() > threshold
before = w._version
with torch.no_grad():
    w.mul_(mask)
print(threshold, mask.sum().item(), w._version - before, (w == 0).sum().item())
handle = w.register_hook(lambda g: g * mask)
x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for step in range(3):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 6), (w == 0).sum().item(), w.grad.abs().sum().item())
handle.remove()
# structured: the rows of the second layer with the smallest norms, by topk
norms = torch.linalg.vector_norm(model[2].weight.detach(), dim=1)
keep = norms.topk(2).indices
row_mask = torch.zeros(3, 1).index_fill_(0, keep, 1.0)
model[2].weight.register_hook(lambda g: g * row_mask)
with torch.no_grad():
    model[2].weight.mul_(row_mask)
F.cross_entropy(model(x), y).backward()
print(norms, keep, model[2].weight.grad.abs().sum(1), model[2].weight._version)


class Quantize(nn.Module):
    def __init__(self, levels):
        super().__init__()
        self.register_buffer("levels", levels)

    def forward(self, v):
        edges = (self.levels[1:] + self.levels[:-1]) / 2
        q = self.levels[torch.bucketize(v, edges)]
        return v + (q - v).detach()  # straight through


quant = Quantize(torch.tensor([-1.0, -0.25, 0.0, 0.5, 2.0]))
v = torch.tensor([-3.0, -0.6, -0.125, 0.25, 0.3, 1.25, 9.0], requires_grad=True)
qv = quant(v)
(qv * torch.arange(7.0)).sum().backward()
print(qv, qv.grad_fn.name(), v.grad)

# nucleus sampling from a toy language model's logits, seeded
logits = torch.randn(3, 10)
logits[1, :4] = 2.0  # ties at the top
sorted_logits, order = logits.sort(dim=-1, descending=True, stable=True)
cum = sorted_logits.softmax(-1).cumsum(-1)
drop = cum > 0.8
drop[..., 1:] = drop[..., :-1].clone()
drop[..., 0] = False
sorted_logits[drop] = float("-inf")
filtered = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
gen = torch.Generator().manual_seed(5)
picks = torch.multinomial(filtered.softmax(-1), 4, replacement=True, generator=gen)
print(order[1].tolist(), drop.sum(-1).tolist(), picks.tolist())
print(torch.isinf(filtered).sum(-1), filtered.softmax(-1)[1].topk(4))

# beam search over a fixed table of log-probabilities
table = torch.randn(4, 6, 6).log_softmax(-1)
beams, scores = torch.zeros(1, 0, dtype=torch.long), torch.zeros(1)
for t in range(4):
    cand = scores[:, None] + table[t][beams[:, -1] if t else torch.zeros(1, dtype=torch.long)]
    top = cand.flatten().topk(3)
    parent, token = top.indices // 6, top.indices % 6
    beams = torch.cat([beams[parent], token[:, None]], 1)
    scores = top.values
print(beams.tolist(), scores)

# segment maxima over labels, their gradient shared among ties, on a worker
labels = torch.tensor([3, 1, 3, 3, 1, 7, 7])
vals = torch.tensor([2.0, 5.0, 2.0, 1.0, 5.0, -1.0, 0.5]).to(W[0]).requires_grad_()
uniq, inverse = labels.unique(return_inverse=True)
seg = torch.zeros(len(uniq)).to(W[0]).scatter_reduce(0, inverse.to(W[0]), vals, "amax",
                                                      include_self=False)
seg_mean = torch.zeros(len(uniq)).to(W[0]).index_reduce(0, inverse.to(W[0]), vals, "mean",
                                                       include_self=False)
(seg * torch.tensor([1.0, 2.0, 3.0]).to(W[0])).sum().backward()
print(uniq, seg.detach().cpu(), seg_mean.detach().cpu(), vals.grad.cpu(), seg.grad_fn.name())

prod = torch.ones(len(uniq)).scatter_reduce(0, inverse, torch.tensor(
    [2.0, 0.0, 3.0, 0.5, 4.0, -1.0, 0.0], requires_grad=True), "prod")
src = prod.grad_fn.next_functions[1][0].variable
prod.sum().backward()
print(prod, src.grad)
scores = torch.randn(6, 5)
picked = full(shard(scores, 0)).topk(2, dim=1)
print(picked.indices.tolist(), torch.multinomial(scores.softmax(-1).to(W[1]), 3,
                                                   generator=torch.Generator().manual_seed(0)).cpu())

# the best score so far in a training curve, with its gradient, and histograms
curve = torch.tensor([0.2, 0.5, 0.4, 0.5, 0.9, 0.3, 0.9], requires_grad=True)
best, when = curve.cummax(0)
best.sum().backward()
print(best, when, curve.grad)
hist, edges = torch.histogram(curve.detach(), bins=4, range=(0.0, 1.0))
dens = torch.histogram(curve.detach(), torch.tensor([0.0, 0.3, 0.6, 1.0]),
                       weight=torch.arange(7.0), density=True)
print(hist, edges, dens.hist, torch.histc(curve.detach(), bins=3, min=0.2, max=0.8))
print(torch.bincount(when, minlength=8), when.bincount(weights=curve.detach()))
print("done")
