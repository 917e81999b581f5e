# Classification losses as a user tries them out: a small classifier trained with
# cross_entropy (class weights, ignore_index and label smoothing together, soft targets),
# a segmentation head with the spatial (N, C, H, W) losses, an input-gradient penalty (a
# gradient taken with create_graph, then its gradient), the loss modules' state_dict, and
# the shape and dtype mistakes users make with class targets.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(3)


def tryp(f):
    try:
        print(f())
    except Exception as e:
        print(type(e).__name__, str(e)[:200])


model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 4))
x = torch.randn(12, 6)
y = torch.randint(0, 4, (12,))
y[[2, 7]] = -100
weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
criterion = nn.CrossEntropyLoss(weight=weight, ignore_index=-100, label_smoothing=0.1)
print(criterion, criterion.state_dict())
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for step in range(4):
    model.train()
    opt.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), loss.grad_fn.name(), model[3].bias.grad)
model.eval()
logits = model(x)
for reduction in ("none", "mean", "sum"):
    for smoothing in (0.0, 0.25):
        out = F.cross_entropy(logits, y, weight=weight, reduction=reduction,
                              label_smoothing=smoothing)
        print(reduction, smoothing, out.detach(), out.grad_fn.name())
    print(F.nll_loss(logits.log_softmax(1), y.clamp(min=0), weight=weight, ignore_index=1,
                     reduction=reduction))

# the gradient of the loss with respect to the input, and a penalty on its norm
xi = x.clone().requires_grad_()
loss = F.cross_entropy(model(xi), y, label_smoothing=0.2)
g, = torch.autograd.grad(loss, xi, create_graph=True)
print(g[:2], g.grad_fn)
penalty = g.pow(2).sum()
penalty.backward()
print(xi.grad[:2], model[0].weight.grad.norm())

# soft targets (class probabilities), with weights and smoothing
soft = torch.softmax(torch.randn(12, 4) * 2, 1)
for reduction in ("none", "mean", "sum"):
    print(F.cross_entropy(logits, soft, weight=weight, label_smoothing=0.3, reduction=reduction))
logits_leaf = logits.detach().requires_grad_()
F.cross_entropy(logits_leaf, soft, weight=weight, label_smoothing=0.3).backward()
print(logits_leaf.grad[:3])

# a segmentation head: per-pixel classes, spatial losses and their gradient
seg = nn.Conv2d(3, 5, 3, padding=1)
img = torch.randn(2, 3, 4, 4)
mask = torch.randint(0, 5, (2, 4, 4))
mask[0, 0] = 255
pixel_w = torch.linspace(0.5, 2.0, 5)
for reduction in ("none", "mean", "sum"):
    out = F.cross_entropy(seg(img), mask, weight=pixel_w, ignore_index=255, reduction=reduction,
                          label_smoothing=0.05)
    print(reduction, out.shape, out.sum().item(), out.grad_fn.name())
nll = nn.NLLLoss(weight=pixel_w, ignore_index=255)(F.log_softmax(seg(img), 1), mask)
nll.backward()
print(nll, nll.grad_fn.name(), seg.bias.grad)
volume = torch.randn(2, 3, 2, 3, 2, requires_grad=True)
vol_target = torch.randint(0, 3, (2, 2, 3, 2))
out = F.cross_entropy(volume, vol_target, reduction="none")
print(out.shape, out.grad_fn.name())
out.mean().backward()
print(volume.grad[0, :, 0, 0])
print(F.cross_entropy(torch.randn(2, 3, 6), torch.randint(0, 3, (2, 6)), reduction="sum"))
print(F.cross_entropy(torch.tensor([1.0, 2.0, 0.5]), torch.tensor(1)))

# the mistakes
tryp(lambda: F.cross_entropy(logits, y.float()))
tryp(lambda: F.cross_entropy(logits, y[:5]))
tryp(lambda: F.cross_entropy(logits, torch.full((12,), 4)))
tryp(lambda: F.cross_entropy(logits, y, weight=torch.ones(3)))
tryp(lambda: F.cross_entropy(logits, y, label_smoothing=-0.1))
tryp(lambda: F.cross_entropy(logits, soft, label_smoothing=1.5))
tryp(lambda: F.cross_entropy(logits, y, reduction="average"))
tryp(lambda: F.cross_entropy(logits, soft.double()))
tryp(lambda: F.cross_entropy(logits, soft, ignore_index=0))
tryp(lambda: F.nll_loss(logits, y.int()))
tryp(lambda: F.nll_loss(seg(img), mask.float()))
tryp(lambda: F.nll_loss(seg(img), mask[:, :3]))
tryp(lambda: F.nll_loss(seg(img), mask[0]))
tryp(lambda: F.nll_loss(seg(img), mask, weight=torch.ones(4)))
tryp(lambda: F.nll_loss(seg(img), mask.byte()))
tryp(lambda: F.nll_loss(seg(img), mask, weight=torch.ones(1, 5)))
tryp(lambda: F.nll_loss(torch.randn(2, 3, 6), torch.randint(0, 3, (2, 5))))
tryp(lambda: F.nll_loss(torch.randn(2, 3, 6), torch.randint(0, 3, (3, 6))))
tryp(lambda: F.cross_entropy(torch.randn(0, 4), torch.zeros(0, dtype=torch.long)))
tryp(lambda: F.cross_entropy(logits, torch.full((12,), -100)))
print("done")
