# A classifier's whole script as tutorials write it: a TensorDataset split by random_split
# with a seeded generator, a Subset of the training part, DataLoaders with batch_size /
# drop_last / shuffle(generator) / a collate_fn that stacks and casts, a training loop with
# train()/eval() switches (dropout, batch norm), an evaluation loop under no_grad and under
# inference_mode with argmax accuracy; inference tensors later used in autograd (torch's
# errors), and the state dict saved through io.BytesIO and loaded into a model placed on a
# worker (`W`), strictly and with strict=False (missing and unexpected keys reported).
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
data = torch.utils.data
DataLoader, Subset, TensorDataset, random_split = (data.DataLoader, data.Subset, data.TensorDataset,
                                                  data.random_split)
torch.manual_seed(5)

X = torch.randn(46, 6)
y = (X[:, 0] + 0.5 * X[:, 1] > 0).long() + (X[:, 2] > 1).long()
full = TensorDataset(X, y)
train_set, val_set = random_split(full, [0.75, 0.25], generator=torch.Generator().manual_seed(1))
print(len(train_set), len(val_set), type(train_set).__name__, train_set.indices[:5])
small = Subset(train_set, list(range(0, len(train_set), 3)))
xs, ys = small[2]
print(len(small), xs.shape, ys.item(), xs._is_view(), xs._base is X)


def collate(batch):
    xs, ys = zip(*batch)
    return torch.stack(xs).to(torch.float64), torch.tensor(ys)


loader = DataLoader(train_set, batch_size=8, shuffle=True, drop_last=True,
                    generator=torch.Generator().manual_seed(2), collate_fn=collate)
val_loader = DataLoader(val_set, batch_size=5)
print(len(loader), len(val_loader))

model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
                      nn.Linear(16, 3)).double()
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for epoch in range(2):
    model.train()
    seen = 0
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(yb)
    print(epoch, seen, xb.dtype, round(loss.item(), 5), model[1].num_batches_tracked.item())
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for xb, yb in val_loader:
            pred = model(xb.double()).argmax(dim=1)
            correct += (pred == yb).sum().item()
            total += yb.numel()
    print("val", correct, total, round(correct / total, 4), pred.dtype, pred.requires_grad)

with torch.inference_mode():
    feats = model[:3](X[:4].double())
    print(feats.is_inference(), feats.requires_grad, torch.is_inference_mode_enabled())
print(feats.is_inference(), torch.is_inference_mode_enabled())
head = nn.Linear(16, 3).double()
try:
    F.cross_entropy(head(feats), y[:4]).backward()
except RuntimeError as e:
    print(type(e).__name__, e)
try:
    feats.add_(1)
except RuntimeError as e:
    print(type(e).__name__, e)
clone = feats.clone()
out = head(clone).sum()
out.backward()
print(clone.is_inference(), out.grad_fn.name(), head.weight.grad.shape)
try:
    torch.autograd.grad(head(feats).sum(), feats)
except RuntimeError as e:
    print(type(e).__name__, e)

buf = io.BytesIO()
torch.save(model.state_dict(), buf)
print(buf.tell() > 0, sorted(model.state_dict())[:4])
placed = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
                       nn.Linear(16, 3)).double().to(W[0])
buf.seek(0)
state = torch.load(buf)
res = placed.load_state_dict(state)
print(res, placed[0].weight.device == torch.device(W[0]), placed[1].running_mean.is_leaf)
placed.eval()
with torch.no_grad():
    a = model(X[:5].double())
    b = placed(X[:5].double().to(W[0]))
print(torch.allclose(a, b.cpu()), b.requires_grad, b.is_contiguous())
state.pop("4.bias")
state["extra.weight"] = torch.zeros(2)
res = placed.load_state_dict(state, strict=False)
print(res.missing_keys, res.unexpected_keys)
try:
    placed.load_state_dict(state)
except RuntimeError as e:
    print(type(e).__name__, str(e).splitlines()[0])
state["0.weight"] = torch.zeros(3, 3)
try:
    placed.load_state_dict(state, strict=False)
except RuntimeError as e:
    print(type(e).__name__, e)
print(placed[0].weight.dtype, placed[4].bias.requires_grad, placed[0].weight._version)
print("done")
