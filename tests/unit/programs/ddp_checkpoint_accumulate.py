# Gradient accumulation as large-batch training scripts write it around a data-parallel model
# (`ddp`) whose blocks are checkpointed (use_reentrant=False) with dropout inside: micro-batch
# losses divided by k, no_sync() for all but the last, one clip and one step; the same steps
# with plain backward on a copy compared; preserve_rng_state on and off (the recomputed
# dropout mask equal or not: the gradient tells), an in-place activation inside the
# checkpointed function, a grad_fn name and version of its output, .grad's versions, and
# the errors of checkpointing a function that returns nothing differentiable.
import contextlib
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
checkpoint = torch.utils.checkpoint.checkpoint
torch.manual_seed(13)


class Block(nn.Module):
    def __init__(self, d, p):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.p = p

    def inner(self, x):
        h = self.fc1(x)
        h.relu_()
        h = F.dropout(h, self.p, self.training)
        return self.fc2(h)

    def forward(self, x, ckpt=True, preserve=True):
        if ckpt:
            return x + checkpoint(self.inner, x, use_reentrant=False, preserve_rng_state=preserve)
        return x + self.inner(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(6, 0.3), Block(6, 0.3)])
        self.out = nn.Linear(6, 2)

    def forward(self, x, ckpt=True):
        for b in self.blocks:
            x = b(x, ckpt)
        return self.out(x)


net = Net()
plain = copy.deepcopy(net)
model = ddp(net)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
opt_plain = torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9)
data = torch.randn(4, 3, 6)
labels = torch.randint(0, 2, (4, 3))
k = 2
for step in range(2):
    for i in range(k):
        xb, yb = data[step * k + i], labels[step * k + i]
        torch.manual_seed(100 + i)
        if i < k - 1:
            with getattr(model, "no_sync", contextlib.nullcontext)():
                loss = F.cross_entropy(model(xb), yb) / k
                loss.backward()
        else:
            loss = F.cross_entropy(model(xb), yb) / k
            loss.backward()
        torch.manual_seed(100 + i)
        ref = F.cross_entropy(plain(xb, ckpt=False), yb) / k
        ref.backward()
        print(step, i, round(loss.item(), 6), round(ref.item(), 6), type(loss.grad_fn).__name__)
    g = net.blocks[0].fc1.weight.grad
    print(g.shape, g.is_leaf, g.requires_grad, torch.allclose(g, plain.blocks[0].fc1.weight.grad, atol=1e-6))
    n1 = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    n2 = nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
    print(round(n1.item(), 5), round(n2.item(), 5))
    opt.step()
    opt_plain.step()
    opt.zero_grad()
    opt_plain.zero_grad(set_to_none=False)
    print(net.blocks[0].fc1.weight.grad, plain.blocks[0].fc1.weight.grad.abs().sum().item())
print(all(torch.allclose(a, b, atol=1e-6) for a, b in zip(net.parameters(), plain.parameters())))

# the recomputed dropout mask with and without the RNG state kept
x = torch.randn(3, 6, requires_grad=True)
blk = Block(6, 0.5)
for preserve in (True, False):
    torch.manual_seed(0)
    y = blk(x, ckpt=True, preserve=preserve)
    torch.manual_seed(0)
    z = blk(x, ckpt=False)
    print(preserve, torch.equal(y, z), type(y.grad_fn).__name__, y._version, y.requires_grad)
    torch.manual_seed(55)
    gy, = torch.autograd.grad(y.sum(), x)
    gz, = torch.autograd.grad(z.sum(), x)
    print(preserve, torch.allclose(gy, gz), gy.shape)
blk.eval()
y = blk(x)
y.sum().backward()
print(x.grad.abs().sum().item() > 0, type(y.grad_fn).__name__)
try:
    checkpoint(lambda t: t.detach() * 2, x, use_reentrant=False).sum().backward()
except RuntimeError as e:
    print(type(e).__name__, e)
w = torch.ones(2, requires_grad=True)
out = checkpoint(lambda a: a * 3, w, use_reentrant=False)
print(out.grad_fn.name(), out.is_leaf)
try:
    out.add_(1)
    out.sum().backward()
    print(w.grad, out._version)
except RuntimeError as e:
    print(type(e).__name__, e)
print("done")
