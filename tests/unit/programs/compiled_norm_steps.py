# Compiled training steps as users write them around a model with batch-norm buffers, on a
# worker: the step recorded, recorded again once the gradients exist, then replayed, its
# running statistics, num_batches_tracked and the parameters' versions read between calls,
# the model in eval mode after it; and a compiled step that writes a view of its
# activation in place and keeps an intermediate's gradient (retain_grad) and a tensor hook,
# with batches of two sizes (distgrad: distgrad.compile and two workers; torch: the
# function itself). `W` and `compiled` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(41)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4, momentum=0.3)
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        return self.out(F.relu(self.bn(self.fc(x))))


net = Net().to(W[0])
opt = torch.optim.SGD(net.parameters(), lr=0.1)


@compiled
def train_step(x, y):
    opt.zero_grad()
    loss = F.mse_loss(net(x), y)
    loss.backward()
    opt.step()
    return loss


for it in range(3):
    x = torch.randn(6, 3).to(W[0])
    y = x.sum(1, keepdim=True)
    loss = train_step(x, y)
    print(it, round(loss.item(), 5), loss.shape, loss.dtype)
    print("  mean", net.bn.running_mean.cpu(), "var", net.bn.running_var.cpu())
    print("  tracked", net.bn.num_batches_tracked.item(), net.fc.weight._version,
          net.fc.weight.grad.cpu()[0])

net.eval()


def evaluate(x):
    with torch.no_grad():
        return net(x)


xe = torch.randn(5, 3).to(W[0])
for k in range(2):
    out = evaluate(xe * (k + 1))
    print("eval", k, out.squeeze(1).cpu(), out.requires_grad, net.bn.num_batches_tracked.item())
net.train()

seen = []


@compiled
def probe(x, w):
    h = x @ w
    h.retain_grad()
    h.register_hook(lambda g: seen.append(tuple(g.shape)))
    h[:, 0].mul_(2.0)
    h.t()[1].add_(1.0)
    z = (h.tanh() ** 2).sum()
    z.backward()
    return h, z


w = torch.randn(3, 2, requires_grad=True)
for n in (4, 2):
    w.grad = None
    h, z = probe(torch.ones(n, 3) * 0.5, w)
    print("probe", n, round(z.item(), 5), h.grad_fn.name(), h._version, h.requires_grad,
          h.is_leaf)
    print("  w.grad", w.grad, "h.grad", h.grad.shape if h.grad is not None else None)
print("hooks", seen)

print("done")
