# Sorting and selection inside differentiable programs: top-k gating of experts (no sparse
# tensors), a soft sort by a softmax over pairwise distances, sort/topk/kthvalue/median/mode/
# max with indices and ties, running maxima, logcumsumexp, searchsorted/bucketize for
# binning, unique with inverse and counts, quantiles, masked_select/masked_scatter, and the
# gradients of all of them.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(9)


class TopKGate(nn.Module):
    def __init__(self, dim, experts, k):
        super().__init__()
        self.router = nn.Linear(dim, experts)
        self.experts = nn.ModuleList(nn.Linear(dim, dim) for _ in range(experts))
        self.k = k

    def forward(self, x):
        logits = self.router(x)
        top, idx = logits.topk(self.k, dim=-1)
        weights = torch.softmax(top, -1)
        out = torch.zeros_like(x)
        for slot in range(self.k):
            for e, expert in enumerate(self.experts):
                rows = (idx[:, slot] == e).nonzero(as_tuple=True)[0]
                if rows.numel():
                    out.index_add_(0, rows, weights[rows, slot, None] * expert(x[rows]))
        load = torch.zeros(logits.shape[-1]).scatter_add_(0, idx.flatten(), torch.ones(idx.numel()))
        return out, load, idx


gate = TopKGate(4, 3, 2)
opt = torch.optim.SGD(gate.parameters(), lr=0.05)
x, target = torch.randn(10, 4), torch.randn(10, 4)
for step in range(4):
    out, load, idx = gate(x)
    loss = F.mse_loss(out, target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 6), load.tolist(), out.grad_fn.name())
print(idx.tolist(), gate.router.weight.grad)


def soft_sort(v, tau):
    hard = v.detach().sort(descending=True).values
    p = torch.softmax(-(hard[:, None] - v[None, :]).abs() / tau, dim=-1)
    return p @ v


v = torch.tensor([0.3, -1.2, 2.0, 0.3, 0.9], requires_grad=True)
ss = soft_sort(v, 0.1)
ss.backward(torch.arange(5.0))
print(ss, v.grad)
v.grad = None

# hard selections and their gradients, with ties
t = torch.tensor([[3.0, 1.0, 3.0, 2.0, 1.0], [0.5, 0.5, -1.0, 4.0, 4.0]], requires_grad=True)
s = t.sort(dim=1, descending=True, stable=True)
tk = t.topk(3, dim=1, largest=False)
kv = t.kthvalue(2, dim=1)
md = t.median(dim=1)
mo = t.mode(dim=1)
mx = t.max(dim=1, keepdim=True)
mn = t.min(1)
print(s.indices, tk.indices, kv, md, mo, mx.indices, mn.values)
print([r.values.grad_fn.name() for r in (s, tk, kv, md, mo, mx, mn)])
(s.values[:, 0].sum() + tk.values.sum() + kv.values.sum() + md.values.sum() + mo.values.sum()
 + mx.values.sum() + mn.values.sum() + t.median() + t.max() + t.amax(1).sum() + t.amin()).backward()
print(t.grad)
t.grad = None
cm, ci = t.cummax(1)
cn = t.cummin(dim=0)
lcse = t.logcumsumexp(1)
(cm.sum() + cn.values.sum() + lcse.sum()).backward()
print(cm, ci, cn.indices, lcse, t.grad, cm.grad_fn.name(), lcse.grad_fn.name())
# a soft running maximum's directional derivative (forward mode) and its Jacobian
soft_max_so_far = lambda s: 0.5 * (s / 0.5).logcumsumexp(-1)
print(torch.func.jvp(soft_max_so_far, (t.detach(),), (torch.ones(2, 5),))[1],
      torch.func.jacfwd(soft_max_so_far)(t.detach()[0]))
print(torch.nanmedian(torch.tensor([1.0, float("nan"), 3.0, 2.0])), torch.tensor([1.0, float("nan")]).median())

# binning with searchsorted/bucketize; unique with inverse and counts
edges = torch.tensor([-1.0, 0.0, 0.5, 2.0])
vals = torch.tensor([[-3.0, 0.0, 0.25], [0.5, 2.0, 9.0]])
print(torch.searchsorted(edges, vals), torch.searchsorted(edges, vals, right=True))
print(torch.bucketize(vals, edges), torch.bucketize(vals, edges, right=True, out_int32=True))
print(torch.searchsorted(edges, vals.flatten(), side="right", sorter=torch.arange(4)))
sorted_rows = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
print(torch.searchsorted(sorted_rows, torch.tensor([[2.0], [0.0]])))
labels = torch.tensor([4, 1, 4, 2, 1, 4, 7])
uniq, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
print(uniq, inverse, counts, torch.unique(labels, sorted=True))
print(torch.unique_consecutive(torch.tensor([1, 1, 2, 2, 1, 3, 3]), return_counts=True))
rows = torch.tensor([[1, 2], [0, 0], [1, 2]])
print(torch.unique(rows, dim=0, return_inverse=True))
feats = torch.randn(7, 2, requires_grad=True)
means = torch.zeros(len(uniq), 2).index_add(0, inverse, feats) / counts[:, None]
means.pow(2).sum().backward()
print(means, feats.grad)
try:
    torch.searchsorted(torch.tensor([[1.0, 2.0]]), torch.tensor([1.0, 2.0, 3.0]))
except RuntimeError as e:
    print(e)
# percentile ranks of new scores among reference scores with missing (NaN) entries, which
# sort last; a score past every number is placed after the NaNs too
reference = torch.tensor([[0.2, float("nan"), 0.9, 0.4], [0.5, 0.1, float("nan"), float("nan")]])
ranked = reference.sort(dim=1).values
new_scores = torch.tensor([[0.3, 0.95, float("nan")], [0.05, 0.7, float("inf")]])
print(torch.searchsorted(ranked, new_scores), torch.searchsorted(ranked, new_scores, side="right"))
print(torch.bucketize(new_scores[1], ranked[0]), torch.searchsorted(ranked.to(W[1]), new_scores.to(W[1])).cpu())

# quantiles and masked selections with gradients
q = torch.randn(3, 8, requires_grad=True)
qs = torch.quantile(q, torch.tensor([0.1, 0.5, 0.9]), dim=1, keepdim=True)
ql = torch.quantile(q, 0.25, dim=0, interpolation="lower")
qn = q.detach().clone()
qn[0, :3] = float("nan")
print(qs.shape, qs.grad_fn.name(), ql, torch.nanquantile(qn, 0.5, dim=1), torch.quantile(qn, 0.5, dim=1))
(qs.sum() + ql.sum()).backward()
print(q.grad)
try:
    torch.quantile(q, 1.5)
except RuntimeError as e:
    print(e)
mask = q.detach() > 0
sel = torch.masked_select(q, mask)
sel.exp().sum().backward()
print(sel.grad_fn.name(), sel.shape, q.grad[0])
src = torch.arange(100.0).requires_grad_()
base = torch.zeros(3, 8, requires_grad=True)
filled = base.masked_scatter(mask, src[: 24])
(filled * torch.arange(24.0).view(3, 8)).sum().backward()
print(filled[1], filled.grad_fn.name(), base.grad[1], src.grad[:10])
buf = torch.zeros(3, 8)
print(buf._version, buf.masked_scatter_(mask, torch.ones(24)).sum().item(), buf._version)
for write in (lambda: buf[0].masked_scatter_(mask, torch.ones(24)),
              lambda: buf[0].masked_scatter_(mask[0, :4], torch.ones(24)),
              lambda: buf[0].copy_(q[:2].detach()), lambda: buf[0].copy_(q[:1].detach()),
              lambda: torch.take_along_dim(q.T, torch.tensor([0, 5])),
              lambda: torch.take_along_dim(q.detach()[:, ::2], torch.tensor([0, 5]))):
    try:
        print(write())
    except RuntimeError as e:
        print(e)
print(torch.take_along_dim(q.T.contiguous(), q.T.contiguous().flatten().argsort()[-3:]), buf._version)

# a top-2 choice per row on a worker, scores in bfloat16, with the sort's gradient
logits = torch.randn(6, 5).to(W[0]).bfloat16().requires_grad_()
top = logits.topk(2, dim=-1)
order = logits.sort(dim=-1, descending=True, stable=True)
gate = torch.softmax(top.values.float(), -1)
(gate[:, 0] * torch.arange(6.0).to(W[0])).sum().backward()
print(top.indices.cpu().tolist(), order.indices[:, :2].cpu().equal(top.indices.cpu()), logits.grad.cpu())
probs = logits.detach().sigmoid().requires_grad_()
soft = probs.sigmoid()
soft.mul_(2)
try:
    soft.sum().backward()
except RuntimeError as e:
    print(e)
try:
    torch.nn.functional.embedding(order.indices.cpu() > 2, torch.randn(2, 3))
except RuntimeError as e:
    print(e)
print("done")
