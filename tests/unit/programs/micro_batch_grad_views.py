# Gradient accumulation over micro-batches as large-batch scripts write it, checked against one
# big batch: `loss / k` then backward k times before one step, on a model on a worker with an
# in-place ReLU, and with its batch split over the workers; what the accumulated .grad is
# (the same tensor, its memory and a view of it taken after the first micro-batch seeing the
# later ones, its _version), post-accumulate-grad hooks counting the micro-batches,
# zero_grad(set_to_none=False) keeping the tensor, a retained graph run twice, and
# optimizer steps over the accumulated gradients (distgrad: two workers; torch: the CPU
# and a copy). `W`, `shard` and `full` are the runner's (test_programs.py).
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(37)
K = 3


def make():
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), nn.Linear(6, 2))


base = make()
big = copy.deepcopy(base).to(W[1])
acc = copy.deepcopy(base).to(W[1])
x, y = torch.randn(6, 4), torch.randn(6, 2)
xw, yw = x.to(W[1]), y.to(W[1])
F.mse_loss(big(xw), yw).backward()

seen = []
for name, p in acc.named_parameters():
    p.register_post_accumulate_grad_hook(lambda p, name=name: seen.append(name))
w = acc[0].weight
for i, (xb, yb) in enumerate(zip(xw.chunk(K), yw.chunk(K))):
    loss = F.mse_loss(acc(xb), yb) / K
    loss.backward()
    if i == 0:
        g = w.grad
        row = w.grad[1]
        ptr = w.grad.untyped_storage().data_ptr()
    print(i, round(loss.item(), 5), w.grad is g, g._version, row._base is g,
          w.grad.untyped_storage().data_ptr() == ptr, row.cpu())
print(len(seen), seen[:4])
for (n, p), q in zip(acc.named_parameters(), big.parameters()):
    print(n, torch.allclose(p.grad.cpu(), q.grad.cpu(), atol=1e-6), p.grad.device == p.device)

# an optimizer over the accumulated grads, zero_grad keeping the tensors
opt = torch.optim.SGD(acc.parameters(), lr=0.1, momentum=0.9)
opt.step()
opt.zero_grad(set_to_none=False)
print(w.grad is g, g._version, row.cpu(), w._version, acc[2].bias.detach().cpu())
with torch.no_grad():
    w.grad[0] = 1.0
    w.grad.t()[3].mul_(0.0)
print(row.cpu(), w.grad.cpu()[0], g._version)
out = acc(xw)
loss = out.pow(2).mean()
loss.backward(retain_graph=True)
first = acc[2].weight.grad.clone()
loss.backward()
print(torch.allclose(acc[2].weight.grad, first * 2), out.grad_fn.name(), out._version)
print(acc[1].inplace, acc[1](torch.tensor([-1.0, 2.0]).to(W[1])).cpu())

# the same accumulation with each micro-batch split over the workers
torch.manual_seed(38)
m = make()
ref = copy.deepcopy(m)
F.cross_entropy(ref(x), y.argmax(1)).backward()
labels = y.argmax(1)
for xb, lb in zip(x.chunk(2), labels.chunk(2)):
    xs = shard(xb, 0)
    logits = m(xs)
    (F.cross_entropy(full(logits), lb) / 2).backward()
for p, q in zip(m.parameters(), ref.parameters()):
    print(p.shape, torch.allclose(full(p.grad), q.grad, atol=1e-6), p.grad.grad_fn)
print(m[2].bias.grad, m[0].weight.grad[:2])
m.zero_grad(set_to_none=False)
print(m[2].bias.grad, m[0].bias.grad._version)
opt = torch.optim.Adam(m.parameters(), lr=0.05)
for step in range(2):
    for xb, lb in zip(x.chunk(2), labels.chunk(2)):
        (F.cross_entropy(full(m(shard(xb, 0))), lb) / 2).backward()
    opt.step()
    opt.zero_grad()
    print(step, m[2].bias.detach(), m[0].weight.grad)
print("done")
