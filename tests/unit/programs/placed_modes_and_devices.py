# Placed and sharded tensors under the modes and the device rules of an ordinary script
# (distgrad: on workers / split over two; torch: the CPU): torch.no_grad, inference_mode
# and enable_grad nested, inference tensors and the errors their use in autograd raises,
# set_grad_enabled as a decorator, autocast to bfloat16 (dtypes of matmuls, reductions and
# the grads after), torch.save / torch.load of dicts holding placed and sharded tensors and
# a module's state_dict (map_location, the loaded tensors' devices), eval/train mode of a
# model on a worker, and 0-dim driver tensors with placed ones. `W`, `shard`, `full`
# are the runner's (test_programs.py).
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(7)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


w = torch.randn(4, 3).to(W[0]).requires_grad_()
s = shard(torch.randn(6, 4), 0).requires_grad_()
with torch.no_grad():
    a = full(s) @ w.cpu()
    b = s * 2
    with torch.enable_grad():
        c = (s * 3).sum()
print(a.requires_grad, b.requires_grad, b.grad_fn, c.requires_grad, c.grad_fn.name())
with torch.inference_mode():
    i = s * 2
    j = w.exp()
    print(i.is_inference(), j.is_inference(), i.requires_grad, torch.is_inference_mode_enabled())
print(s.is_inference(), attempt(lambda: (i * s).sum().backward()))
print(attempt(lambda: i.add_(1)))
print(attempt(lambda: j.requires_grad_()))
k = i.clone()
print(k.is_inference(), full(k)[0], (k * s).sum().requires_grad)
with torch.inference_mode(False):
    print(torch.is_inference_mode_enabled(), (s * 1).requires_grad)


@torch.no_grad()
def evaluate(t):
    return (t * w.sum()).sum()


@torch.enable_grad()
def forced(t):
    return (t * 2).sum()


print(evaluate(s).requires_grad, evaluate(s).item() == full(s.detach()).sum().item() * w.sum().item())
with torch.no_grad():
    out = forced(s)
print(out.requires_grad, out.grad_fn.name())
torch.set_grad_enabled(False)
print((s * 2).requires_grad, torch.is_grad_enabled())
torch.set_grad_enabled(True)
with torch.set_grad_enabled(False):
    print((w * 2).requires_grad)

# -- autocast on the CPU to bfloat16 with placed and sharded operands -------------------------
lin = nn.Linear(4, 3).to(W[1])
x = torch.randn(5, 4).to(W[1])
with torch.autocast("cpu", dtype=torch.bfloat16):
    y = lin(x)
    m = torch.mm(full(s), w.cpu())
    r = y.float().sum()
    z = y.softmax(-1)
    print(y.dtype, m.dtype, r.dtype, z.dtype, torch.is_autocast_enabled("cpu"))
    with torch.autocast("cpu", enabled=False):
        print(torch.mm(full(s), w.cpu()).dtype)
(y.float().pow(2).sum() + m.float().sum()).backward()
print(lin.weight.grad.dtype, lin.weight.grad.device == lin.weight.device, w.grad.dtype)
print(lin.weight.grad.cpu().float().abs().sum().item() > 0, full(s.grad).dtype, s.grad.shape)

# -- torch.save / torch.load of placed and sharded tensors ------------------------------------
model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
model.to(W[0])
model.train()
batch = torch.randn(6, 4).to(W[0])
print(model.training, model[1].training, model(batch).shape, model[1].num_batches_tracked.item())
model.eval()
with torch.no_grad():
    before = model(batch).cpu()
print(model.training, model[2].training, model[1].running_mean.device == batch.device)
buf = io.BytesIO()
torch.save({"model": model.state_dict(), "s": s.detach(), "w": w, "meta": {"step": 3},
            "list": [w.detach() * 2, full(s.detach())[:2]]}, buf)
buf.seek(0)
ck = torch.load(buf)
print(sorted(ck), ck["meta"], type(ck["list"]).__name__, ck["w"].requires_grad, ck["w"].is_leaf)
print(full(ck["s"]).shape, torch.equal(full(ck["s"]), full(s.detach())), ck["list"][1].shape)
print(sorted(ck["model"])[:4], ck["model"]["1.num_batches_tracked"].dtype)
fresh = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
print(fresh.load_state_dict(ck["model"]))
fresh.eval()
print(torch.allclose(fresh(batch.cpu()), before, atol=1e-6), fresh[0].weight.device)
buf.seek(0)
onto = torch.load(buf, map_location="cpu")
print(onto["w"].device, onto["model"]["0.weight"].device, onto["s"].device, full(onto["s"])[1])
print(attempt(lambda: fresh.load_state_dict({"0.weight": torch.zeros(8, 4)})))
bad = dict(ck["model"])
bad["3.weight"] = torch.zeros(3, 8)
try:
    fresh.load_state_dict(bad)
except RuntimeError as e:
    print(e)
print(fresh.load_state_dict({k: v for k, v in ck["model"].items() if k != "3.bias"}, strict=False))

# -- a 0-dim driver tensor and a number go with a placed tensor ----------------------------------
u = torch.randn(3).to(W[0])
print((u + torch.tensor(2.0)).device == u.device, (u + 2).device == u.device)
print((u * torch.tensor(3, dtype=torch.int64)).dtype, (u.double() + torch.tensor(1.0)).dtype)
print("done")
