# A k-means and soft-assignment loop as clustering scripts write it, with the points split
# over two workers (torch: a copy) and the centroids on the driver: cdist, argmin, one_hot,
# bincount, index_add_ into a buffer's view, scatter_reduce "mean" and "amax", an in-place
# centroid update under no_grad (versions), then a differentiable soft k-means loss whose
# gradients reach a leaf through the sharded points, and a temperature hook.
# `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(13)

raw = torch.cat([torch.randn(6, 2) + torch.tensor([3.0, 0.0]),
                 torch.randn(6, 2) - torch.tensor([3.0, 0.0]),
                 torch.randn(6, 2) * 0.5])
points = shard(raw, 0)
centroids = raw[[0, 6, 12]].clone()
print(points.shape, points.dtype, centroids._version)

for it in range(3):
    dist = full(torch.cdist(points, centroids))
    assign = dist.argmin(1)
    counts = torch.bincount(assign, minlength=3)
    sums = torch.zeros(4, 2)
    view = sums[:3]
    view.index_add_(0, assign, full(points))
    with torch.no_grad():
        centroids.copy_(view / counts.clamp(min=1).unsqueeze(1))
    print(it, counts.tolist(), centroids._version, view._version, sums._version,
          round(dist.min(1).values.sum().item(), 4))

onehot = F.one_hot(assign, 3)
print(onehot.dtype, onehot.sum(0).tolist(), onehot.is_contiguous())
radius = torch.zeros(3).scatter_reduce(0, assign, dist.min(1).values, reduce="amax",
                                       include_self=False)
mean_d = torch.zeros(3).scatter_reduce(0, assign, dist.min(1).values, reduce="mean")
print(radius, mean_d)

shift = torch.zeros(2, requires_grad=True)
temp = torch.tensor(0.5, requires_grad=True)
grads_seen = []
temp.register_hook(lambda g: grads_seen.append(round(g.item(), 5)))
moved = points + shift
d2 = full((moved.unsqueeze(1) - centroids.unsqueeze(0)).pow(2).sum(-1))
soft = torch.softmax(-d2 / temp, dim=1)
loss = (soft * d2).sum(1).mean()
loss.backward()
print(round(loss.item(), 5), soft.grad_fn.name(), shift.grad, temp.grad, grads_seen)
print(moved.requires_grad, full(moved).grad_fn is not None, soft.sum(1)[:3])

labels = torch.tensor([0] * 6 + [1] * 6 + [2] * 6)
agree = (assign.unsqueeze(0) == labels.unsqueeze(1)).float()
print(agree.shape, agree.sum().item(), torch.unique(assign).tolist())
try:
    torch.bincount(torch.tensor([-1, 2]))
except Exception as e:
    print(type(e).__name__, str(e).splitlines()[0])
print("done")
