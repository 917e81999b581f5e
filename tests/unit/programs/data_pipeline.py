# A data pipeline as training scripts build one: a map-style Dataset of dict samples split
# by random_split with a seeded generator (lengths and fractions), a shuffled DataLoader
# with its own generator, SubsetRandomSampler and WeightedRandomSampler (without
# replacement) with generators, a BatchSampler handed as batch_sampler, drop_last, a
# collate_fn built on default_collate, an IterableDataset, Concat/Chain/StackDataset,
# and a classifier trained over the batches with a validation pass.
import collections
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
data = torch.utils.data
torch.manual_seed(71)
Sample = collections.namedtuple("Sample", "features label")


class Points(data.Dataset):
    def __init__(self, n):
        self.x = torch.randn(n, 3)
        self.y = (self.x[:, 0] + 0.5 * self.x[:, 1] > 0).long()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i], "id": i, "w": float(i) / 10, "tag": f"p{i}"}


def collate(batch):
    out = data.default_collate(batch)
    out["x"] = out["x"] + 0.01 * out["w"].unsqueeze(1).float()
    return out


points = Points(30)
train, val = data.random_split(points, [24, 6], generator=torch.Generator().manual_seed(3))
a, b, c = data.random_split(range(10), [0.5, 0.3, 0.2], generator=torch.Generator().manual_seed(4))
print(type(train).__name__, len(train), len(val), val.indices, list(a), list(b), list(c))
print(data.default_collate([Sample(torch.ones(2), 1), Sample(torch.zeros(2), 0)]))
print(data.default_collate([(1.5, "a", [1, 2]), (2.5, "b", [3, 4])]))
loader = data.DataLoader(train, batch_size=5, shuffle=True, drop_last=True, collate_fn=collate,
                         generator=torch.Generator().manual_seed(5))
print(len(loader), {k: (v.dtype, tuple(v.shape)) if torch.is_tensor(v) else v for k, v in next(iter(loader)).items()})
model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
for epoch in range(3):
    ids, total = [], 0.0
    for batch in loader:
        loss = F.cross_entropy(model(batch["x"]), batch["y"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
        ids += batch["id"].tolist()
    with torch.no_grad():
        vb = next(iter(data.DataLoader(val, batch_size=len(val))))
        acc = (model(vb["x"]).argmax(1) == vb["y"]).float().mean().item()
    print(epoch, round(total / len(loader), 5), ids[:6], round(acc, 4))
sub = data.SubsetRandomSampler([1, 3, 5, 7, 9], generator=torch.Generator().manual_seed(6))
print(list(sub), list(sub), len(sub))
weighted = data.WeightedRandomSampler([0.1, 0.2, 0.3, 0.4, 5.0, 0.0], 4, replacement=False,
                                      generator=torch.Generator().manual_seed(7))
print(list(weighted), len(weighted))
batches = data.BatchSampler(data.SequentialSampler(range(7)), batch_size=3, drop_last=False)
print(list(batches), len(batches))
bl = data.DataLoader(points, batch_sampler=data.BatchSampler(sub, 2, drop_last=True))
print([(b["id"].tolist(), b["tag"]) for b in bl])
rs = data.RandomSampler(range(5), replacement=True, num_samples=8, generator=torch.Generator().manual_seed(8))
print(list(rs), len(rs))
plain = data.DataLoader(data.TensorDataset(torch.arange(8)), batch_size=3, shuffle=True)
print([b[0].tolist() for b in plain], torch.randn(2), list(data.RandomSampler(range(4))), torch.rand(1))


class Countdown(data.IterableDataset):
    def __init__(self, start):
        self.start = start

    def __iter__(self):
        return iter(torch.arange(self.start, 0, -1).float())


stream = data.DataLoader(data.ChainDataset([Countdown(3), Countdown(4)]), batch_size=3)
print([b.tolist() for b in stream])
both = data.ConcatDataset([train, val])
pairs = data.StackDataset(point=val, noise=data.TensorDataset(torch.randn(6, 2)))
print(len(pairs), pairs[0]["point"]["id"], [b["noise"][0].shape for b in data.DataLoader(pairs, batch_size=4)])
print(len(both), both.cumulative_sizes, both[25]["id"], both[3]["id"] == train.indices[3])
print(model[2].weight.grad, model[0].bias)
print("done")
