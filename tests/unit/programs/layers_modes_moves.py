# A small conv/MLP model trained a few steps and evaluated, as a script does: in-place
# activations (ReLU(inplace=True), F.leaky_relu_, hardtanh_) applied to views of layer
# outputs, batch norm with momentum=None (a cumulative average) and track_running_stats off,
# train/eval switches mid-run, dropout in eval, the model moved to a worker and back between
# steps, a module's buffers and parameters after each move, and sharded batches through a
# Linear (distgrad: two workers; torch: the CPU and a copy). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(17)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4, momentum=None)
        self.act = nn.ReLU(inplace=True)
        self.ln = nn.LayerNorm(8)
        self.bn1 = nn.BatchNorm1d(8, track_running_stats=False)
        self.fc = nn.Linear(8, 3)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        h = self.act(self.bn(self.conv(x)))
        h = h.mean((2, 3))  # (N, 4)
        h = torch.cat([h, h.flip(1)], 1)
        h.t()[5:].clamp_(-0.5, 0.5)
        F.leaky_relu_(h[:, :4], 0.2)
        h = self.bn1(self.ln(h))
        return self.fc(self.drop(h))


net = Net()
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
x = torch.randn(4, 2, 5, 5)
y = torch.tensor([0, 2, 1, 0])
for step in range(3):
    net.train()
    opt.zero_grad()
    out = net(x + 0.1 * step)
    loss = F.cross_entropy(out, y)
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), net.bn.num_batches_tracked.item(), net.bn.running_mean,
          net.bn.running_var[:2], net.conv.weight.grad.abs().sum() > 0)
net.eval()
with torch.no_grad():
    e1 = net(x)
print(e1, net.bn.num_batches_tracked, net.training, net.drop.training)
print(net.bn1.running_mean, list(dict(net.named_buffers())))

# moved to a worker between steps, evaluated there, moved back
sd = opt.state_dict()
net.to(W[0])
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
opt.load_state_dict(sd)  # (the momentum follows the parameters to the worker)
print(net.conv.weight.device == net.bn.running_mean.device, net.bn.num_batches_tracked.device == net.conv.weight.device)
with torch.no_grad():
    e2 = net(x.to(W[0])).to("cpu")
print(torch.allclose(e1, e2, atol=1e-6))
net.train()
opt.zero_grad()
loss = F.cross_entropy(net(x.to(W[0])), y.to(W[0]))
loss.backward()
opt.step()
print(round(loss.item(), 5), net.bn.num_batches_tracked.to("cpu"), net.bn.running_mean.to("cpu"))
net.to("cpu")
print(net.fc.weight.device, net.fc.weight.grad.device, net.fc.weight.is_leaf, type(net.fc.weight).__name__)

# in-place activation on a view of a leaf and of a layer output in no_grad/eval
act = nn.ReLU(inplace=True)
p = torch.randn(3, 4, requires_grad=True)
print(attempt(lambda: act(p[0])))
with torch.no_grad():
    q = act(p[1:].t())
print(q.requires_grad, q._version, p._version, p[1:].min() >= 0)
fc = nn.Linear(4, 4)
z = fc(p)
act(z[:, 1:])
print(z.grad_fn.name(), z._version)
z.sum().backward()
print(p.grad, fc.bias.grad)

# a sharded batch through Linear + inplace activation + batch norm (eval)
bn = nn.BatchNorm1d(4, momentum=None)
with torch.no_grad():
    bn(torch.randn(6, 4))
bn.eval()
xs = shard(torch.randn(6, 4), 0)
h = fc(xs)
F.relu(h, inplace=True)
o = bn(h)
print(type(o).__name__, o.shape, o.grad_fn.name(), h._version)
full(o).pow(2).sum().backward()
print(fc.weight.grad, bn.weight.grad)
print("done")
