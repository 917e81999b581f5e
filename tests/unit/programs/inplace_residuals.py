# In-place writes inside modules as model code makes them: `x += residual`, relu(inplace=True)
# after a view, `out[..., :k].mul_()`, masked_fill_ of a slice, an in-place activation on a
# saved output; the errors torch raises for them (a saved tensor modified, a leaf's view
# written, a view from a multi-output op written, in-place on an expanded tensor) and the
# same blocks on a worker and over shards (a saved view of a temporary sharded tensor too).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(51)


def err(fn):
    try:
        fn()
        print("no error")
    except RuntimeError as e:
        print(type(e).__name__, str(e)[:150])


class Residual(nn.Module):
    def __init__(self, d, k):
        super().__init__()
        self.fc1, self.fc2, self.k = nn.Linear(d, d), nn.Linear(d, d), k
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        residual = x
        out = self.fc1(x)
        out = self.act(out.view(-1, 2, out.shape[-1] // 2)).flatten(1)
        out = self.fc2(out)
        out[..., :self.k].mul_(0.5)
        out += residual
        out[:, -1:].masked_fill_(out[:, -1:] < 0, 0.0)
        return F.leaky_relu_(out, 0.1) if self.training else out


def run(block, x, tag):
    y = block(x)
    loss = y.pow(2).sum()
    block.zero_grad()
    if x.requires_grad and x.grad is not None:
        x.grad = None
    loss.backward()
    print(tag, y.grad_fn.name(), y._version, round(loss.item(), 4), y.detach().cpu()[0],
          block.fc1.weight.grad.cpu()[0], block.fc2.bias.grad.cpu())


block = Residual(4, 2)
x = torch.randn(3, 4, requires_grad=True)
run(block, x, "cpu")
print(x.grad)
xs = x.detach().clone().requires_grad_()
xw = x.detach().to(W[0]).requires_grad_()
block.to(W[0])
run(block, xw, "worker")
print(xw.grad.cpu())
block.eval()
run(block, xw, "eval")
block.to("cpu").train()
sx = shard(torch.randn(6, 4), 0)
run(block, sx, "shard")

leaf = torch.randn(3, requires_grad=True)
err(lambda: leaf.add_(1))
err(lambda: leaf[0].mul_(2))
err(lambda: leaf.view(3).zero_())
with torch.no_grad():
    leaf[1] = 5.0
print(leaf, leaf._version, leaf.grad_fn)
h = torch.randn(4, requires_grad=True) * 1
a, b = h.split(2)
err(lambda: a.mul_(2))
u = h.unbind(0)
err(lambda: u[0].add_(1))
e = torch.zeros(1, 3).expand(2, 3)
err(lambda: e.add_(1))
s = h.sigmoid()
s.mul_(2)
err(lambda: s.sum().backward())
t = h.tanh()
t2 = t.clone().add_(1)
t.detach().zero_()
err(lambda: t2.sum().backward())
w = torch.randn(3, 3, requires_grad=True)
out = w.exp()
out.t_()
out[0] += 1
err(lambda: out.sum().backward())
print(out.grad_fn.name(), w.grad, out._version, out.is_contiguous())
err(lambda: torch.randn(2, requires_grad=True).relu_())
z = torch.randn(2, 3, requires_grad=True).clone()
z.mul_(3).add_(z.detach()).relu_()
z.sum().backward(retain_graph=True)
print(z.grad_fn.name(), z._version)
v = z[:, 1]
v.exp_()
err(lambda: z.sum().backward())

hw = (torch.randn(4, requires_grad=True) * 1).to(W[1])
aw, _ = hw.split(2)
err(lambda: aw.mul_(2))
sw = hw.sigmoid()
sw.mul_(2)
err(lambda: sw.sum().backward())
ow = torch.randn(3, 3).to(W[1]).requires_grad_()
err(lambda: ow[0].mul_(2))
pw = ow * 1
pw[:, :2].relu_()
pw.view(9)[::4].mul_(10)
err(lambda: pw.sum().backward())
pw = ow * 1
pw.view(9)[::4].mul_(10)
pw[:, :2].relu_()
pw.sum().backward()
print(pw.grad_fn.name(), pw._version, ow.grad.cpu())
sh = shard(torch.randn(4, 3), 0).requires_grad_()
ph = sh * 2
ph[:, 1:].mul_(3)
ph += 1
ph.sum().backward()
print(ph.grad_fn.name(), ph._version, full(sh.grad))
err(lambda: sh.mul_(2))
scale = torch.ones(1, requires_grad=True)
rows = shard(torch.randn(4, 3), 0)[1:3]  # (a view of a temporary, across both parts)
scaled = rows * scale
rows = rows[:, 1:]  # (the saved view is let go)
rows.mul_(2)
err(lambda: scaled.sum().backward())
print("done")
