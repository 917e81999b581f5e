# Normalization layers in a user's models: a CNN with BatchNorm2d trained and evaluated
# (running statistics, momentum=None's cumulative average, num_batches_tracked, state_dict
# round trips, reset_running_stats), its batch norms made SyncBatchNorm, BatchNorm1d
# without running statistics or affine parameters, the batch-of-one error, InstanceNorm
# with running statistics and affine, GroupNorm, LayerNorm and RMSNorm variants,
# LocalResponseNorm, F.normalize and F.batch_norm with no running statistics, gradients of
# inputs, a spectral-normed critic trained with a gradient penalty through RMSNorm, and
# weight normalization.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(13)


def tryp(f):
    try:
        print(f())
    except Exception as e:
        print(type(e).__name__, str(e)[:200])


class Net(nn.Module):
    def __init__(self, momentum=0.1):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4, momentum=momentum)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 9, 8, bias=False),
                                  nn.BatchNorm1d(8, affine=False), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x):
        return self.head(F.relu(self.bn(self.conv(x))))


images, labels = torch.randn(6, 1, 3, 3), torch.tensor([0, 1, 2, 0, 1, 2])
for momentum in (0.1, None):
    net = Net(momentum)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for step in range(3):
        net.train()
        loss = F.cross_entropy(net(images * (step + 1)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(momentum, step, round(loss.item(), 5), net.bn.num_batches_tracked.item())
    print(net.bn.running_mean, net.bn.running_var, net.head[2].running_var[:3])
    net.eval()
    x = images.clone().requires_grad_()
    out = net(x)
    out[:, 0].sum().backward()
    print(out[:2], out.grad_fn.name(), x.grad[0, 0])
    state = net.state_dict()
    print(list(state), state["bn.num_batches_tracked"])
    copy = Net(momentum)
    print(copy.load_state_dict(state))
    copy.eval()
    print(torch.equal(copy(images), net(images).detach()), copy.bn.running_mean)
    copy.bn.reset_running_stats()
    print(copy.bn.running_mean, copy.bn.running_var, copy.bn.num_batches_tracked)
del state["bn.num_batches_tracked"]
print(copy.load_state_dict(state, strict=False), copy.bn.num_batches_tracked)

# a model's batch norms made SyncBatchNorm (one process: nothing to synchronize with)
synced = nn.SyncBatchNorm.convert_sync_batchnorm(Net())
print(synced.bn, synced.head[2], synced.bn.process_group)
synced(images).sum().backward()
print(synced.bn.running_mean, synced.head[2].num_batches_tracked, synced.conv.weight.grad[0, 0])
tryp(lambda: nn.SyncBatchNorm(4)(torch.randn(4)))

# batch statistics only: no running buffers, no affine parameters
plain = nn.BatchNorm1d(3, track_running_stats=False, affine=False)
print(plain, list(plain.state_dict()), plain.running_mean)
z = torch.randn(5, 3, 4, requires_grad=True)
y = plain(z)
g, = torch.autograd.grad((y ** 3).sum(), z, create_graph=True)
print(y[0, :, 0], y.grad_fn.name(), g[0, :, 0])
print(torch.autograd.grad(g.pow(2).sum(), z)[0][0, :, 0])
plain.eval()
print(plain(z)[0, :, 0])
tryp(lambda: nn.BatchNorm1d(3)(torch.randn(1, 3)))
tryp(lambda: nn.BatchNorm1d(3)(torch.randn(1, 3, 1)))
print(nn.BatchNorm1d(3)(torch.randn(1, 3, 2)).shape, nn.BatchNorm1d(3).eval()(torch.randn(1, 3)).shape)
tryp(lambda: nn.BatchNorm1d(3)(torch.randn(4, 4)))
tryp(lambda: nn.BatchNorm2d(3)(torch.randn(4, 3, 2)))
tryp(lambda: nn.BatchNorm3d(3)(torch.randn(4, 3, 2, 2)))
cumulative = nn.BatchNorm3d(2, momentum=None)
for i in range(3):
    cumulative(torch.randn(2, 2, 2, 2, 2) + i)
print(cumulative.running_mean, cumulative.running_var, cumulative.num_batches_tracked)

# the functional form, with and without running statistics
feats = torch.randn(6, 3, requires_grad=True)
w = torch.rand(3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
out = F.batch_norm(feats, None, None, w, b, training=True, eps=1e-3)
gx, gw, gb = torch.autograd.grad((out ** 2).sum(), (feats, w, b))
print(out[:2], out.grad_fn.name(), gx[:2], gw, gb)
mean, var = torch.zeros(3), torch.ones(3)
print(F.batch_norm(feats, mean, var, training=True, momentum=0.5)[:2], mean, var)
print(F.batch_norm(feats, mean, var, w, b)[:2])
tryp(lambda: F.batch_norm(feats, None, None, training=False))
tryp(lambda: F.batch_norm(feats, torch.zeros(2), var, training=True))

# instance, group, layer and RMS norms
seq = torch.randn(2, 3, 6, requires_grad=True)
for kw in (dict(), dict(affine=True), dict(track_running_stats=True),
           dict(affine=True, track_running_stats=True, momentum=0.2)):
    inorm = nn.InstanceNorm1d(3, **kw)
    y = inorm(seq)
    g, = torch.autograd.grad((y ** 3).sum(), seq)
    print(inorm, list(inorm.state_dict()), y[0, 0], y.grad_fn.name(), g[0, 0])
    inorm.eval()
    print(inorm(seq)[1, 2], getattr(inorm, "running_var", None))
print(nn.InstanceNorm1d(3)(torch.randn(3, 6)).shape)
tryp(lambda: nn.InstanceNorm1d(3, affine=True)(torch.randn(2, 4, 6)))
tryp(lambda: nn.InstanceNorm1d(3)(torch.randn(3, 1)))
groups = nn.GroupNorm(3, 6)
fm = torch.randn(2, 6, 3, requires_grad=True)
y = groups(fm)
y.pow(3).sum().backward()
print(groups, y.grad_fn.name(), fm.grad[0, 0], groups.weight.grad, groups.bias.grad)
print(nn.GroupNorm(2, 6, affine=False)(fm)[0, 0], list(nn.GroupNorm(2, 6).state_dict()))
tryp(lambda: nn.GroupNorm(4, 6))
tryp(lambda: groups(torch.randn(2, 4, 3)))
rows = torch.randn(3, 4, requires_grad=True)
for norm in (nn.LayerNorm(4), nn.LayerNorm(4, elementwise_affine=False), nn.LayerNorm(4, bias=False),
             nn.LayerNorm([3, 4], eps=1e-3), nn.RMSNorm(4), nn.RMSNorm(4, eps=1e-2),
             nn.RMSNorm([3, 4], elementwise_affine=False)):
    y = norm(rows)
    g, = torch.autograd.grad((y ** 3).sum(), rows)
    print(norm, list(norm.state_dict()), y.grad_fn.name(), y[0], g[0])
print(F.rms_norm(torch.full((2, 3), 1e-4), (3,)), F.rms_norm(torch.full((2, 3), 1e-4, dtype=torch.float64), (3,)))
tryp(lambda: nn.LayerNorm(5)(rows))
tryp(lambda: F.layer_norm(rows, (4,), torch.ones(3)))
tryp(lambda: F.rms_norm(rows, (4,), torch.ones(3)))
lrn = nn.LocalResponseNorm(3, alpha=1e-2, beta=0.75, k=2.0)
chans = torch.randn(2, 5, 3, requires_grad=True)
y = lrn(chans)
g, = torch.autograd.grad(y.pow(2).sum(), chans, create_graph=True)
print(lrn, y[0, :, 0], y.grad_fn.name(), g[0, :, 0], torch.autograd.grad(g.sum(), chans)[0][0, :, 0])
print(nn.LocalResponseNorm(2)(torch.randn(2, 4, 3, 3)).shape)
tryp(lambda: nn.LocalResponseNorm(2)(torch.randn(4)))
vecs = torch.randn(3, 4, requires_grad=True)
for kw in (dict(), dict(p=1, dim=0), dict(p=3.0, eps=0.5)):
    y = F.normalize(vecs, **kw)
    g, = torch.autograd.grad(y.pow(3).sum(), vecs, create_graph=True)
    print(y[0], y.grad_fn.name(), g[0], torch.autograd.grad(g.sum(), vecs)[0][0])
print(F.normalize(torch.zeros(2, 3)), F.normalize(torch.tensor([3.0, 4.0]), dim=0))

# a spectral-normed critic with a gradient penalty through RMSNorm
SN = torch.nn.utils.parametrizations.spectral_norm
critic = nn.Sequential(SN(nn.Linear(4, 6)), nn.RMSNorm(6), nn.LeakyReLU(0.2), SN(nn.Linear(6, 1)))
print(critic, list(critic.state_dict()))
copt = torch.optim.Adam(critic.parameters(), lr=1e-2, betas=(0.5, 0.9))
real, fake = torch.randn(5, 4) + 1, torch.randn(5, 4)
for step in range(3):
    mix = (0.3 * real + 0.7 * fake).requires_grad_()
    grad, = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
    penalty = ((grad.norm(2, dim=1) - 1) ** 2).mean()
    loss = critic(fake).mean() - critic(real).mean() + 10 * penalty
    copt.zero_grad()
    loss.backward()
    copt.step()
    print(step, round(loss.item(), 5), round(penalty.item(), 5), critic[0].parametrizations.weight.original.grad[0])
critic.eval()
print(critic(real).flatten(), critic[3].weight)

# weight normalization: the parametrization, the older hooks, and a gradient's gradient
WN = torch.nn.utils.parametrizations.weight_norm
for dim in (0, 1, None):
    layer = WN(nn.Linear(4, 3), dim=dim)
    g, v = layer.parametrizations.weight.original0, layer.parametrizations.weight.original1
    inp = torch.randn(2, 4, requires_grad=True)
    gi, gg, gv = torch.autograd.grad(layer(inp).pow(2).sum(), (inp, g, v), create_graph=True)
    print(dim, layer.weight.grad_fn.name(), g.shape, gg.grad_fn.name(), gv[0], gv.grad_fn.name())
    print(torch.autograd.grad(gi.pow(2).sum(), (inp, g, v))[1:])
    print(list(layer.state_dict()))
hooked = nn.utils.weight_norm(nn.Conv1d(2, 3, 2))
hooked(torch.randn(1, 2, 4)).sum().backward()
print(hooked.weight.grad_fn.name(), hooked.weight_g.grad.flatten(), hooked.weight_v.grad[0])
print("done")
