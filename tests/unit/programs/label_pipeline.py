# A tabular classification script's integer side: labels encoded with unique(return_inverse),
# timestamps split into days and hours with floor division and remainder, values bucketized,
# categorical ids hashed into int32 buckets (wrapping), one-hot features, a model with an
# EmbeddingBag and BatchNorm (its int64 num_batches_tracked) trained in train mode and
# evaluated in eval mode, accuracy and a confusion matrix from bincount, per-class counts by
# scatter_add_, a state_dict saved and loaded through a byte buffer (integer buffers kept),
# and the dtype errors such code runs into.
import io

import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(21)


def attempt(label, fn):
    try:
        out = fn()
        print(label, out.tolist() if isinstance(out, torch.Tensor) else out)
    except Exception as e:  # noqa: BLE001
        print(label, type(e).__name__, e)


raw_labels = torch.tensor([30, 10, 20, 10, 30, 30, 20, 10, 20, 30, 10, 20])
classes, y = torch.unique(raw_labels, return_inverse=True)
print("classes", classes.tolist(), y.tolist(), y.dtype)
seconds = torch.tensor([-3600, 0, 3599, 86399, 86400, 90000, -1, 7200, 172800, 43200, 100, -86401])
days = torch.div(seconds, 86400, rounding_mode="floor")
hours = torch.remainder(seconds, 86400) // 3600
print("days", days.tolist(), "hours", hours.tolist(), "trunc", torch.div(seconds, 86400, rounding_mode="trunc").tolist())
angle = 2 * torch.pi * hours / 24
print("cyclic", angle.dtype, torch.stack([angle.sin(), angle.cos()], 1)[:3])
values = torch.randn(12) * 3
edges = torch.tensor([-2.0, 0.0, 2.0])
bins = torch.bucketize(values, edges)
print("bins", bins.tolist(), torch.bucketize(values, edges, right=True, out_int32=True).dtype)
cats = torch.tensor([123456789, 987654321, 5, -5, 2 ** 31 - 1, 0, 42, 7, 99999, -2 ** 31, 1, 2], dtype=torch.int32)
hashed = (cats * 16777619) ^ (cats >> 7)
print("hashed int32", hashed.dtype, hashed.tolist(), (hashed % 16).tolist(), (hashed & 15).tolist())
one_hot = F.one_hot(bins, 4)
print("one-hot", one_hot.dtype, one_hot.sum(0).tolist(), (one_hot * 0.5).dtype)
features = torch.cat([one_hot.float(), hours[:, None] / 23.0, values[:, None]], 1)
print("features", features.shape, features.dtype)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.bag = nn.EmbeddingBag(16, 3, mode="mean")
        self.fc = nn.Linear(6 + 3, 3)
        self.bn = nn.BatchNorm1d(6 + 3)

    def forward(self, x, ids):
        h = torch.cat([x, self.bag(ids.long() % 16, torch.arange(0, ids.numel(), 2))], 1)
        return self.fc(self.bn(h).relu())


model = Net()
opt = torch.optim.Adam(model.parameters(), lr=0.05)
ids = hashed.repeat_interleave(2)
for epoch in range(4):
    model.train()
    logits = model(features, ids)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    pred = logits.argmax(1)
    correct = (pred == y).sum()
    print("epoch", epoch, round(loss.item(), 4), correct.item(), correct.dtype, (correct * 100 // y.numel()).item(),
          (correct / y.numel()).item(), model.bn.num_batches_tracked)
model.eval()
with torch.no_grad():
    pred = model(features, ids).argmax(1)
confusion = torch.bincount(y * 3 + pred, minlength=9).view(3, 3)
print("confusion", confusion.tolist(), confusion.dtype, confusion.diag().sum().item())
counts = torch.zeros(3, dtype=torch.long).scatter_add_(0, y, torch.ones_like(y))
print("counts", counts.tolist(), torch.bincount(y).tolist(), y.bincount(weights=values).dtype)
top2 = model(features, ids).topk(2, 1).indices
print("top-2 hit", (top2 == y[:, None]).any(1).float().mean().item())

buffer = io.BytesIO()
torch.save({"model": model.state_dict(), "classes": classes, "hashed": hashed, "step": opt.state_dict()["state"][0]["step"]}, buffer)
buffer.seek(0)
state = torch.load(buffer)
print("loaded", state["classes"].dtype, state["hashed"].dtype, state["step"], state["model"]["bn.num_batches_tracked"])
copy = Net()
print(copy.load_state_dict(state["model"]))
copy.eval()
with torch.no_grad():
    print("same predictions", torch.equal(copy(features, ids).argmax(1), pred))

attempt("cross_entropy int32 targets", lambda: F.cross_entropy(logits.detach(), y.int()))
attempt("cross_entropy float class targets", lambda: F.cross_entropy(logits.detach(), y.float()))
attempt("one_hot negative", lambda: F.one_hot(torch.tensor([0, -1]), 3))
attempt("one_hot too few classes", lambda: F.one_hot(torch.tensor([0, 3]), 3))
attempt("one_hot of floats", lambda: F.one_hot(torch.tensor([0.0, 1.0])))
attempt("embedding of floats", lambda: model.bag.weight[torch.tensor([1.0])])
attempt("bincount negative", lambda: torch.bincount(torch.tensor([0, -1])))
attempt("bincount floats", lambda: torch.bincount(torch.tensor([0.0, 1.0])))
attempt("mean of labels", lambda: y.mean())
attempt("accuracy in place", lambda: correct.clone().div_(12))
attempt("hash in place with a float", lambda: hashed.clone().mul_(0.5))
attempt("shift by a float", lambda: hashed << 1.5)
attempt("remainder by zero", lambda: seconds % 0)
attempt("cumsum of a mask as bool", lambda: (y > 0).cumsum(0, dtype=torch.bool))
attempt("gcd of floats", lambda: torch.gcd(values, values))
print("done")
