# Gradient accumulation as large-batch scripts write it: micro-batches whose losses are
# divided by the accumulation count, clip_grad_norm_ returning the total norm (2, inf and
# 1-norms, foreach, a nonfinite gradient with error_if_nonfinite), get_total_norm and
# clip_grads_with_norm_, no_sync under ddp for all but the last micro-batch,
# parameters_to_vector / vector_to_parameters for a flat EMA copy, and a sharded weight
# whose gradient is clipped with the rest.
import contextlib
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)
clip = torch.nn.utils.clip_grad_norm_
p2v, v2p = torch.nn.utils.parameters_to_vector, torch.nn.utils.vector_to_parameters

model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
xs, ys = torch.randn(4, 8, 4), torch.randint(0, 3, (4, 8))
accum = 2
ema = p2v(model.parameters()).detach().clone()
for i in range(4):
    loss = F.cross_entropy(model(xs[i]), ys[i]) / accum
    loss.backward()
    if (i + 1) % accum == 0:
        norm = clip(model.parameters(), max_norm=0.5)
        opt.step()
        opt.zero_grad()
        ema.mul_(0.9).add_(p2v(model.parameters()).detach(), alpha=0.1)
        print(i, round(loss.item(), 5), norm, norm.grad_fn, model[2].bias)
print(ema.shape, ema[:5], p2v(model.parameters()).grad_fn.name())
saved = p2v(model.parameters()).detach().clone()
v2p(ema, model.parameters())
print(model[0].bias, model[0].bias.is_leaf, model[0].bias.requires_grad)
v2p(saved, model.parameters())
print(torch.equal(p2v(model.parameters()), saved))
for kind in ({"norm_type": "inf"}, {"norm_type": 1.0}, {"norm_type": 2.0, "foreach": True},
             {"norm_type": 0.5}):
    model.zero_grad()
    F.cross_entropy(model(xs[0]), ys[0]).backward()
    total = clip(model.parameters(), 0.1, **kind)
    print(kind, total, model[0].weight.grad.norm(), model[2].bias.grad)
model.zero_grad()
F.cross_entropy(model(xs[1]), ys[1]).backward()
grads = [p.grad for p in model.parameters()]
total = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
torch.nn.utils.clip_grads_with_norm_(model.parameters(), 0.2, total)
print(total, p2v(grads).norm(), torch.nn.utils.get_total_norm([]))
model[2].bias.grad[0] = math.inf
try:
    clip(model.parameters(), 1.0, error_if_nonfinite=True)
except RuntimeError as e:
    print(type(e).__name__, e)
print(clip(model.parameters(), 1.0), model[2].bias.grad, model[2].weight.grad[0])
model[2].bias.grad[1] = math.nan
print(clip(model.parameters(), 1.0), clip([], 1.0), clip(torch.zeros(2), 1.0))
try:
    v2p(torch.zeros(3), model.parameters())
except (RuntimeError, TypeError) as e:
    print(type(e).__name__, e)
try:
    v2p([1.0], model.parameters())
except TypeError as e:
    print(type(e).__name__, e)

torch.manual_seed(12)
net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
dp = ddp(net)
opt = torch.optim.Adam(dp.parameters(), lr=0.02)
batches = [(torch.randn(6, 4), torch.randn(6, 2)) for _ in range(4)]
for step in range(2):
    for j, (x, y) in enumerate(batches[2 * step:2 * step + 2]):
        if j == 0:
            with getattr(dp, "no_sync", contextlib.nullcontext)():
                loss = F.mse_loss(dp(x), y) / 2
                loss.backward()
        else:
            loss = F.mse_loss(dp(x), y) / 2
            loss.backward()
    norm = clip(dp.parameters(), 0.3)
    opt.step()
    opt.zero_grad(set_to_none=True)
    print(step, round(loss.item(), 5), norm, full(net[2].bias).detach())
print(full(p2v(net.parameters())).shape, net[0].weight.grad)

ws = shard(torch.randn(6, 4), 0).requires_grad_()
bw = torch.randn(6).to(W[1]).requires_grad_()
opt = torch.optim.SGD([ws, bw], lr=0.5)
for step in range(3):
    x = torch.randn(5, 4)
    for micro in range(2):
        out = F.linear(x[micro::2], full(ws)).to(W[1]) + bw
        (out.pow(2).mean() / 2).backward()
    norm = clip([ws, bw], 1.0, norm_type=2)
    print(step, norm, full(ws.grad)[0], bw.grad.cpu())
    opt.step()
    opt.zero_grad()
print(full(ws)[:2], bw.detach().cpu(), p2v([ws, bw]).shape)
print("done")
