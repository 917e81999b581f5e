# Preprocessing that mixes numpy and tensors as a user's script does: per-channel
# statistics kept as numpy arrays (a tensor op an array computes in numpy, so its dtype is
# numpy's; an array first is refused), numpy's scalars as operands (a numpy bool counts as
# a float), masks from numpy comparisons, numpy keys (a 0-dim bool array adds a dim, a
# numpy bool alone is refused), a tensor that requires grad refused by numpy, and a small
# regression trained on the normalized features with its gradients printed, on a worker too.
import numpy as np
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(4)


def attempt(label, fn):
    try:
        out = fn()
        print(label, out.cpu() if isinstance(out, torch.Tensor) else out)
    except Exception as e:  # noqa: BLE001
        print(label, type(e).__name__, str(e).split(" (op '")[0])


raw = torch.tensor([[12, 200, 7], [30, 180, 9], [25, 220, 4], [18, 190, 6]])
mean = raw.double().mean(0).numpy()
std = np.array([7.5, 15.0, 2.0], dtype=np.float32)
scale = np.array([2, 1, 3])
print("stats", mean, std.dtype, scale.dtype)
centered = raw - mean
print("centered", centered, centered.dtype)
print("scaled", raw * scale, raw.float() / std, (raw.float() / std).dtype, raw.half() * std.astype(np.float16))
print("int ops", raw // scale, raw % scale, raw ** np.array([1, 1, 2]), raw & np.array([1, 3, 7]))
print("matmul", raw.float() @ np.ones(3, dtype=np.float32), raw @ scale)
print("0-dim arrays", raw + np.array(2), raw.float() * np.array(0.5, dtype=np.float32))
print("compare", raw == scale, raw[0] == np.array([12, 0, 7]), raw != scale)
attempt("array + tensor", lambda: scale + raw)
attempt("array - tensor", lambda: scale - raw)
attempt("array * tensor", lambda: std * raw)
attempt("array / tensor", lambda: std / raw.float())
attempt("array @ tensor", lambda: scale @ raw.T)
attempt("array | tensor", lambda: np.array([True, False, True]) | (raw[0] > 10))
attempt("tensor < array", lambda: raw < scale)
attempt("tensor + list", lambda: raw + [1, 2, 3])
attempt("tensor * None", lambda: raw * None)
attempt("tensor @ list", lambda: raw @ [1, 2, 3])
attempt("matmul of an array", lambda: torch.matmul(raw, scale))
acc = raw.clone()
acc += scale
print("acc += array", acc, acc.dtype, acc is raw)
acc2 = raw.float()
acc2 *= std
print("acc *= array", acc2.dtype)
w = torch.ones(3, requires_grad=True)
attempt("grad tensor * array", lambda: w * std)
attempt("detached * array", lambda: w.detach() * std)

# numpy's scalars as operands
flag = np.array([1, 0, 3]).any()
print("np scalars", type(flag).__name__, raw + flag, (raw > 10) & (raw < 200), raw * np.int32(2), raw.half() + np.float64(0.5),
      raw + np.float32(0.25), torch.result_type(raw, flag), torch.full((2,), flag))
attempt("mask & np.bool_", lambda: (raw > 10) & flag)
attempt("mask |= np.bool_", lambda: (raw > 10).clone().__ior__(np.bool_(False)))
attempt("mask.add_(np.bool_)", lambda: (raw > 10).clone().add_(flag))
print("np.bool_ tensors", torch.tensor([flag, np.bool_(False)]), torch.tensor(flag))

# numpy keys
print("np keys", raw[np.int64(1)], raw[np.array([0, 2])], raw[np.array([True, False, True, False])],
      raw[np.array(True)].shape, raw[np.array(False)].shape, raw[0, np.array(True)])
attempt("np.bool_ key", lambda: raw[np.bool_(True)])
attempt("np.float64 key", lambda: raw[np.float64(1.0)])
t = raw.clone()
t[np.array(True)] = 0
print("set by a 0-dim mask", t)

# a regression on the normalized features
x = torch.from_numpy(((raw.numpy() - mean) / std).astype(np.float32))
y = torch.tensor([1.0, 2.0, 0.5, 1.5])
model = nn.Linear(3, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for step in range(3):
    loss = F.mse_loss(model(x).squeeze(1), y)
    opt.zero_grad()
    loss.backward()
    print("step", step, round(loss.item(), 4), model.weight.grad, model.bias.grad)
    opt.step()

# on a worker
dev = W[1]
on = raw.to(dev)
print("worker", (on.float() * torch.from_numpy(std).to(dev)).cpu(), (on.cpu() == on.cpu().numpy()).all())
attempt("worker tensor + list", lambda: on + [1, 2, 3])
attempt("worker array - tensor", lambda: scale - on)
m = nn.Linear(3, 1).to(dev)
m.load_state_dict(model.state_dict())
loss = F.mse_loss(m(x.to(dev)).squeeze(1), y.to(dev))
loss.backward()
print("worker grads", round(loss.item(), 4), m.weight.grad.cpu())
print("done")
