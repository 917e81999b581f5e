# Parameters taken through dtype round trips as scripts do without autocast: a model on a
# worker cast .double() for a precise check and back .float(), .half() for storage and back
# (the rounding kept), with gradients present (cast with the parameters), the Parameter
# objects and the optimizer's references kept, p.data reassigned to another dtype by hand
# and the error of the next forward, a float64 state dict loaded into a float32 model (and
# a half one), .to(float64) of a leaf (the gradient comes back in float32), the half
# model's training step, a layer with a weight split over the workers cast with its
# gradient, and mixed-dtype arithmetic promotions (distgrad: two workers; torch: the CPU
# and a copy). `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(41)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"


def host(t):
    return t.detach().cpu()


def dtypes(m):
    return [str(p.dtype).split(".")[1] for p in m.parameters()]


model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(W[0])
params = list(model.parameters())
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(5, 3).to(W[0]), torch.randn(5, 2).to(W[0])
F.mse_loss(model(x), y).backward()
g_before = model[0].weight.grad.clone()
v0 = [p._version for p in params]
model.double()
print(dtypes(model), model[0].weight.grad.dtype, [p._version for p in params] == v0,
      all(a is b for a, b in zip(params, model.parameters())), model[0].weight.is_leaf)
print(torch.equal(model[0].weight.grad.float().cpu(), g_before.cpu()),
      model[0].weight.device == torch.device(W[0]))
out = model(x.double())
print(out.dtype, out.grad_fn.name(), attempt(lambda: model(x)))
F.mse_loss(out, y.double()).backward()
print(model[2].bias.grad.dtype, model[2].bias.grad.cpu())
model.float()
opt.step()
print(dtypes(model), host(model[2].bias), opt.param_groups[0]["params"][0] is params[0])

# half for storage and back: the rounding stays
exact = model[0].weight.detach().clone()
model.half()
print(dtypes(model), model[0].weight.grad.dtype, host(model[0].weight)[0])
model.float()
diff = (model[0].weight.detach() - exact).abs().max().cpu()
print(diff.item() > 0, diff.item() < 1e-3, model[0].weight.dtype, model[0].weight.requires_grad)

# p.data reassigned by hand, then the next forward
w = model[2].weight
ver = w._version
w.data = w.data.double()
print(w.dtype, w.is_leaf, w.requires_grad, w._version == ver, w.grad.dtype)
print(attempt(lambda: model(x)))
print(attempt(lambda: F.mse_loss(model(x).float(), y).backward()))
w.data = w.data.float()
print(attempt(lambda: F.mse_loss(model(x), y).backward()))

# state dicts across dtypes: values converted into the model's own dtype
sd64 = {k: v.double().cpu() * 2 for k, v in model.state_dict().items()}
print(model.load_state_dict(sd64), dtypes(model), host(model[0].bias))
model.half()
print(model.load_state_dict(sd64), dtypes(model), host(model[0].bias))
hx = x.half()
hout = model(hx)
print(hout.dtype, hout.grad_fn.name(), hout.cpu()[0])
F.mse_loss(hout.float(), y).backward()
print(model[0].bias.grad.dtype, model[0].bias.grad.cpu())
hopt = torch.optim.SGD(model.parameters(), lr=0.5)
hopt.step()
print(host(model[0].bias), model[0].bias.dtype)

# a leaf moved to float64 and back: the gradient in the leaf's dtype
leaf = torch.randn(3, requires_grad=True)
d = leaf.to(W[1], torch.float64)
print(d.dtype, d.grad_fn.name(), d.is_leaf, d.requires_grad)
(d.exp() * torch.arange(3.0, dtype=torch.float64).to(W[1])).sum().backward()
print(leaf.grad.dtype, leaf.grad, leaf.grad.device)
h = leaf.half()
f = h.float()
print(h.grad_fn.name(), f.grad_fn.name(), f.detach() - leaf.detach())

# a layer whose weight is split over the workers: its gradient cast with it
tp = nn.Linear(3, 4)
tp.weight = nn.Parameter(shard(tp.weight.detach().clone(), 0))
xs = torch.randn(2, 3)
full(tp(xs)).sum().backward()
tp.double()
print(tp.weight.dtype, tp.weight.grad.dtype, full(tp.weight.grad)[1], tp.bias.grad.dtype)
full(tp(xs.double())).pow(2).sum().backward()
print(full(tp.weight.grad)[0], tp.weight.grad.dtype)
tp.half()
print(tp.weight.grad.dtype, full(tp.weight.grad)[0], full(tp.weight.detach())[0])
tp.float()
torch.optim.SGD(tp.parameters(), lr=0.1).step()
print(full(tp.weight.detach())[0], tp.weight.grad.dtype, tp.weight.is_leaf)

# promotions in mixed arithmetic
a32 = torch.ones(2, requires_grad=True).to(W[0])
a16 = torch.ones(2, dtype=torch.float16).to(W[0])
a64 = torch.ones(2, dtype=torch.float64).to(W[0])
print((a32 + a16).dtype, (a16 * 2.5).dtype, (a32 * a64).dtype, (a16 + torch.tensor(1.0)).dtype)
r = a32 * a64
r.sum().backward()
print(r.grad_fn.name(), attempt(lambda: a16.add_(a64)) is a16, a16.cpu())
print(attempt(lambda: a16.copy_(a64 * 3)) is a16, a16.cpu(), a16.dtype)
print(attempt(lambda: torch.ones(2, dtype=torch.long).to(W[0]).add_(a32)))
print("done")
