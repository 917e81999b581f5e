# Data loading as data-parallel scripts set it up: a DistributedSampler per rank (shuffle
# with a seed, set_epoch, padding and drop_last), an IterableDataset splitting its range by
# get_worker_info(), DataLoader with batch_size=None (no batching: default_convert of numpy
# samples), collate of nested dicts/tuples/namedtuples and numpy arrays, a Subset of a
# Subset, ConcatDataset indexing from the end, random_split with fractions and its
# generator; the batches go to the ranks' workers and feed a ddp model.
import collections
import math
import numpy as np
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
data = torch.utils.data
torch.manual_seed(41)
Pair = collections.namedtuple("Pair", ["image", "meta"])


class Squares(data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = np.arange(3, dtype=np.float32) + i
        return Pair(image=x, meta={"idx": i, "sq": (i * i, float(i) / 2), "name": f"s{i}"})


ds = Squares(10)
for rank in range(2):
    s = data.DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=3)
    e0 = list(s)
    s.set_epoch(1)
    print(rank, len(s), e0, list(s), s.total_size, s.num_samples)
s = data.DistributedSampler(Squares(7), num_replicas=3, rank=2, shuffle=False)
print(list(s), len(s), list(data.DistributedSampler(Squares(7), num_replicas=3, rank=2, shuffle=False, drop_last=True)))
try:
    data.DistributedSampler(ds, num_replicas=2, rank=2)
except ValueError as e:
    print(type(e).__name__, e)
loader = data.DataLoader(ds, batch_size=3, sampler=data.DistributedSampler(ds, num_replicas=2, rank=1, seed=9))
b = next(iter(loader))
print(type(b).__name__, b.image, b.meta["sq"], b.meta["name"], b.meta["idx"].dtype, b.meta["sq"][1].dtype)
print(data.default_convert(np.ones(2, dtype=np.int32)), data.default_convert([np.zeros(1), {"a": np.ones(1, dtype=np.float32)}]))
print(data.default_collate([np.float64(1.5), np.float64(2.5)]), data.default_collate([[1, 2], [3, 4]]))
try:
    data.default_collate([[1, 2], [3]])
except RuntimeError as e:
    print(type(e).__name__, e)
unbatched = data.DataLoader(ds, batch_size=None, shuffle=False)
first = next(iter(unbatched))
print(type(first).__name__, first.image, first.meta, len(unbatched))


class Range(data.IterableDataset):
    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        info = data.get_worker_info()
        if info is None:
            lo, hi = self.start, self.end
        else:
            per = int(math.ceil((self.end - self.start) / info.num_workers))
            lo = self.start + info.id * per
            hi = min(lo + per, self.end)
        for i in range(lo, hi):
            yield torch.tensor([float(i), float(i) ** 0.5])


print(data.get_worker_info(), [b.tolist() for b in data.DataLoader(Range(2, 7), batch_size=2)])
print(list(data.DataLoader(Range(0, 3), batch_size=2, drop_last=True)))
try:
    data.DataLoader(Range(0, 3), shuffle=True)
except ValueError as e:
    print(type(e).__name__, e)
try:
    len(data.DataLoader(Range(0, 3)))
except TypeError as e:
    print(type(e).__name__, e)

inner = data.Subset(ds, [9, 7, 5, 3, 1])
outer = data.Subset(inner, [4, 0, 2])
print([outer[i].meta["idx"] for i in range(len(outer))], outer.indices, len(outer))
cat = data.ConcatDataset([outer, data.Subset(ds, range(2))])
print(len(cat), cat[-1].meta["idx"], cat[-4].meta["idx"], cat.cumulative_sizes)
try:
    cat[-6]
except ValueError as e:
    print(type(e).__name__, e)
g = torch.Generator().manual_seed(5)
parts = data.random_split(range(11), [0.5, 0.25, 0.25], generator=g)
print([list(p) for p in parts], g.initial_seed())
try:
    data.random_split(range(4), [3, 2])
except ValueError as e:
    print(type(e).__name__, e)

xs, ys = torch.randn(16, 3), torch.randn(16, 1)
tds = data.TensorDataset(xs, ys)
net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
model = ddp(net)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(2):
    samplers = [data.DistributedSampler(tds, num_replicas=2, rank=r, seed=7) for r in range(2)]
    for s in samplers:
        s.set_epoch(epoch)
    loaders = [data.DataLoader(tds, batch_size=4, sampler=s) for s in samplers]
    for (x0, y0), (x1, y1) in zip(*loaders):
        x, y = torch.cat([x0, x1]), torch.cat([y0, y1])
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        print(epoch, round(loss.item(), 5), x.shape)
xw = torch.stack([xs[i] for i in list(samplers[0])[:3]]).to(W[1])
print(full(net[0].bias).detach(), net.to(W[1])(xw).detach().cpu())
print("done")
