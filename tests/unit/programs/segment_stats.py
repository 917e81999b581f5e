# Grouped statistics over ragged data without a dataframe library: bucketize and
# searchsorted into bin edges, histc and bincount with weights, unique with inverse and
# counts (also of rows), unique_consecutive run lengths, segment ids from cumsum over
# lengths, scatter_reduce sum/prod/amin/amax/mean with and without the initial values,
# index_add_ with alpha, one_hot, and a differentiable per-segment softmax.
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(21)

values = (torch.randn(20) * 3).round(decimals=1)
edges = torch.tensor([-4.0, -1.0, 0.0, 1.0, 4.0])
print(values, values.dtype)
print("bucketize", torch.bucketize(values, edges).tolist(), torch.bucketize(values, edges, right=True).tolist())
print("searchsorted", torch.searchsorted(edges, values, side="right").tolist(),
      torch.searchsorted(edges, torch.tensor([[0.0, 5.0], [-9.0, 1.0]])))
print("histc", torch.histc(values, bins=6, min=-6, max=6), torch.histc(values.double(), bins=4))
missing = torch.cat([values, torch.tensor([float("nan")])])
try:
    torch.histc(missing, bins=4)
except RuntimeError as e:
    print(type(e).__name__, e)
print("without the nan", torch.histc(missing[~missing.isnan()], bins=4))
ids = torch.bucketize(values, edges)
print("bincount", torch.bincount(ids), torch.bincount(ids, weights=values, minlength=7))

labels = torch.tensor([3, 1, 3, 3, 7, 1, 0, 7, 3])
u, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
print("unique", u, inverse, counts, u.dtype, counts.dtype)
print("sorted=False", torch.unique(labels, sorted=True, return_counts=True)[1].tolist())
pairs = torch.tensor([[1, 2], [0, 5], [1, 2], [0, 5], [4, 4]])
print("rows", torch.unique(pairs, dim=0, return_inverse=True, return_counts=True))
runs, run_len = torch.unique_consecutive(torch.tensor([5, 5, 2, 2, 2, 5, 9, 9]), return_counts=True)
print("runs", runs.tolist(), run_len.tolist(), run_len.cumsum(0).tolist())

lengths = torch.tensor([3, 1, 4, 2])
starts = torch.cumsum(lengths, 0) - lengths
seg = torch.zeros(int(lengths.sum()), dtype=torch.long)
seg[starts[1:]] = 1
seg = seg.cumsum(0)
print("segments", seg.tolist(), starts.tolist(), torch.repeat_interleave(torch.arange(4), lengths).equal(seg))

x = torch.tensor([1.5, -2.0, 0.5, 3.0, 1.0, -1.0, 2.0, 4.0, 0.25, -0.5])
for reduce in ["sum", "prod", "amin", "amax", "mean"]:
    a = torch.full((4,), 2.0).scatter_reduce(0, seg, x, reduce=reduce)
    b = torch.full((4,), 2.0).scatter_reduce(0, seg, x, reduce=reduce, include_self=False)
    print(reduce, a, b)
acc = torch.zeros(4, 3).index_add_(0, seg, torch.ones(10, 3), alpha=-0.5)
print("index_add", acc[:, 0], acc.dtype)
try:
    torch.add(counts, counts, alpha=0.5)
except RuntimeError as e:
    print(type(e).__name__, e)
print("one_hot", F.one_hot(seg[:5]), F.one_hot(torch.tensor([0, 2]), num_classes=5).float().sum(0))

w = x.clone().requires_grad_()
seg_max = torch.zeros(4).scatter_reduce(0, seg, w, "amax", include_self=False)
e = (w - seg_max[seg]).exp()
denom = torch.zeros(4).index_add(0, seg, e)
p = e / denom[seg]
loss = (p * torch.arange(10.0)).sum()
loss.backward()
print("segment softmax", p.detach().round(decimals=4), torch.zeros(4).index_add(0, seg, p.detach()))
print("grad", w.grad, round(loss.item(), 5))
mean_by_label = torch.zeros(u.numel()).index_add_(0, inverse, torch.arange(9.0)) / counts
print("means", mean_by_label, counts.float().div(counts.sum()).cumsum(0))
print("done")
