# Losses on placed tensors as a user's distributed script computes them: each loss on a
# worker's device with its input and target gradients taken with create_graph (torch's
# backward ops' nodes, and NotImplemented for the multi-class margins), on a batch sharded
# over the workers with the gradient of a gradient penalty, a DistributedDataParallel model
# trained with Huber and multi-margin losses, and a compiled training step.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(21)
x = torch.randn(8, 4)
y = torch.randn(8, 4)
cls = torch.randint(0, 4, (8,))
for k in (0, 1):
    a = x.to(W[k]).detach().requires_grad_()
    b = y.to(W[k]).detach().requires_grad_()
    for name, fn in [("mse", lambda: F.mse_loss(a, b)), ("huber", lambda: F.huber_loss(a, b, delta=0.5)),
                     ("sl1", lambda: F.smooth_l1_loss(a, b, beta=0.3, reduction="sum")),
                     ("soft", lambda: F.soft_margin_loss(a, b.detach().sign())),
                     ("mm", lambda: F.multi_margin_loss(a, cls.to(W[k]), p=2)),
                     ("mlm", lambda: F.multilabel_margin_loss(a, torch.tensor([[1, 2, -1, 0]] * 8).to(W[k]))),
                     ("ce", lambda: F.cross_entropy(a, cls.to(W[k]), label_smoothing=0.1)),
                     ("bcel", lambda: F.binary_cross_entropy_with_logits(a, b.detach().sigmoid(), pos_weight=torch.ones(4).to(W[k]) * 2))]:
        out = fn()
        gs = torch.autograd.grad(out, (a, b), create_graph=True, allow_unused=True)
        print(k, name, out.item(), out.grad_fn.name(), [None if g is None else (g.sum().item(), g.grad_fn.name() if g.grad_fn else None) for g in gs])
xs = shard(x, 0).requires_grad_()
ys = shard(y, 0)
for name, fn in [("mse", lambda: F.mse_loss(xs, ys)), ("huber", lambda: F.huber_loss(xs, ys, delta=0.5)),
                 ("sl1", lambda: F.smooth_l1_loss(xs, ys, beta=0.3, reduction="sum")),
                 ("ce", lambda: F.cross_entropy(xs, shard(cls, 0), label_smoothing=0.1)),
                 ("bcel", lambda: F.binary_cross_entropy_with_logits(xs, ys.sigmoid(), pos_weight=torch.ones(4) * 2)),
                 ("soft", lambda: F.soft_margin_loss(xs, ys.sign()))]:
    out = fn()
    g, = torch.autograd.grad(out, xs, create_graph=True)
    print(name, out.item(), full(g).sum().item(), torch.autograd.grad(g.pow(2).sum(), xs)[0].sum().item() if g.requires_grad else None)
model = ddp(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 4)))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(2):
    loss = F.huber_loss(model(x), y, delta=0.5) + F.multi_margin_loss(model(x), cls)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, loss.item())

lin = nn.Linear(4, 4).to(W[0])
sgd = torch.optim.SGD(lin.parameters(), lr=0.1)


@compiled
def step(a, b, c):
    sgd.zero_grad()
    out = lin(a)
    loss = F.mse_loss(out, b) + F.soft_margin_loss(out, b.sign()) + F.huber_loss(out, b) + F.multi_margin_loss(out, c)
    loss.backward()
    sgd.step()
    return loss


for i in range(3):
    print(step(x.to(W[0]), y.to(W[0]), cls.to(W[0])).item(), lin.weight.grad.sum().item())
print("done")
