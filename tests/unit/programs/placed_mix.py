# Tutorial pieces with their tensors on workers (distgrad: two workers; torch: the CPU
# twice): a DCGAN step with the generator on one device and the discriminator on the
# other (the fake moved across, detached for D); a DQN update on a worker (gather,
# a masked max of a target net, smooth_l1_loss, clip_grad_value_, a soft update by
# lerp_); a spatial transformer's grid_sample over a sharded batch; style transfer's Gram
# matrices with LBFGS on a worker's image clamped in place; dual tensors on a worker
# written through views; buffers written by index_put_/scatter_reduce/masked_scatter_ on
# a worker; and ddp over a weight-normed model with a backward hook. `W`, `shard`,
# `full` and `ddp` are the runner's (test_programs.py).
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(71)

G = nn.Sequential(nn.ConvTranspose2d(4, 4, 4, 1, 0, bias=False), nn.BatchNorm2d(4), nn.ReLU(True),
                  nn.ConvTranspose2d(4, 1, 4, 2, 1, bias=False), nn.Tanh()).to(W[0])
D = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                  nn.Conv2d(4, 1, 4, 1, 0, bias=False), nn.Flatten(), nn.Sigmoid()).to(W[1])
optG = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
optD = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
real = (torch.rand(4, 1, 8, 8) * 2 - 1).to(W[1])
for step in range(3):
    noise = torch.randn(4, 4, 1, 1).to(W[0])
    fake = G(noise)
    D.zero_grad()
    ones, zeros = torch.full((4,), 1.0).to(W[1]), torch.full((4,), 0.0).to(W[1])
    errD_real = F.binary_cross_entropy(D(real).view(-1), ones)
    errD_fake = F.binary_cross_entropy(D(fake.detach().to(W[1])).view(-1), zeros)
    (errD_real + errD_fake).backward()
    optD.step()
    G.zero_grad()
    errG = F.binary_cross_entropy(D(fake.to(W[1])).view(-1), ones)
    errG.backward()
    optG.step()
    print(step, round((errD_real + errD_fake).item(), 5), round(errG.item(), 5), G[1].running_mean.cpu())

policy = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).to(W[1])
target = copy.deepcopy(policy)
opt = torch.optim.AdamW(policy.parameters(), lr=1e-2, amsgrad=True)
states, next_states = torch.randn(6, 4).to(W[1]), torch.randn(6, 4).to(W[1])
actions = torch.tensor([[0], [1], [1], [0], [1], [0]]).to(W[1])
rewards = torch.linspace(-1, 1, 6).to(W[1])
non_final = torch.tensor([True, True, False, True, False, True]).to(W[1])
for step in range(3):
    q = policy(states).gather(1, actions)
    nxt = torch.zeros(6).to(W[1])
    with torch.no_grad():
        nxt[non_final] = target(next_states[non_final]).max(1).values
    loss = F.smooth_l1_loss(q, (nxt * 0.9 + rewards).unsqueeze(1))
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_value_(policy.parameters(), 0.1)
    opt.step()
    with torch.no_grad():
        for pt, pp in zip(target.parameters(), policy.parameters()):
            pt.lerp_(pp, 0.5)
    print(step, round(loss.item(), 6), target[2].bias.detach().cpu())

imgs = torch.rand(4, 2, 5, 5, requires_grad=True)
theta = torch.tensor([[0.9, 0.1, 0.0], [-0.1, 1.1, 0.05]]).repeat(4, 1, 1).requires_grad_()
xs = shard(imgs * 1, 0)
grid = F.affine_grid(shard(theta * 1, 0), (4, 2, 4, 4), align_corners=False)
warped = F.grid_sample(xs, grid, padding_mode="border", align_corners=False)
warped.pow(2).sum().backward()
print(full(warped.detach()).sum().item(), imgs.grad.abs().sum().item(), theta.grad[0])


def gram(f):
    b, c, h, w = f.shape
    m = f.view(b * c, h * w)
    return m @ m.t() / (b * c * h * w)


conv = nn.Conv2d(3, 4, 3, padding=1).to(W[0]).requires_grad_(False)
style = gram(conv(torch.rand(1, 3, 6, 6).to(W[0])))
image = torch.rand(1, 3, 6, 6).to(W[0]).requires_grad_()
lbfgs = torch.optim.LBFGS([image], max_iter=5)


def closure():
    with torch.no_grad():
        image.clamp_(0, 1)
    lbfgs.zero_grad()
    loss = F.mse_loss(gram(conv(image)), style) * 1e3
    loss.backward()
    return loss


print(round(lbfgs.step(closure).item(), 5), image.detach().cpu()[0, 0, 0])

fwAD = torch.autograd.forward_ad
with fwAD.dual_level():
    p = torch.randn(3, 4).to(W[1])
    d = fwAD.make_dual(p, torch.ones(3, 4).to(W[1]))
    out = torch.zeros(3, 4).to(W[1])
    out[1:].copy_(d[:2].sin())
    d.t()[0].mul_(3)
    print(fwAD.unpack_dual(out).tangent.cpu(), fwAD.unpack_dual(d).tangent.cpu())

w = torch.randn(5, 3, requires_grad=True)
bank = torch.zeros(3, 3).to(W[0])
bank.index_put_((torch.tensor([2, 0, 2, 1, 2]).to(W[0]),), w.to(W[0]) * 2, accumulate=True)
view = bank[1:]
view.masked_scatter_(torch.tensor([[True, False, True], [False, False, True]]).to(W[0]),
                     w.to(W[0])[2:].flatten())
red = bank.scatter_reduce(0, torch.tensor([[0, 1, 0]]).to(W[0]), w[:1].to(W[0]), reduce="amax")
(bank.sum() + red.pow(2).sum()).backward()
print(bank.detach().cpu(), red.detach().cpu(), w.grad)

hooked = []
net = nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(5, 6)), nn.Tanh(), nn.Linear(6, 2))
net[2].register_full_backward_hook(lambda m, gi, go: hooked.append(round(go[0].abs().sum().item(), 5)))
model = ddp(net)
sgd = torch.optim.SGD(model.parameters(), lr=0.2)
xb, yb = torch.randn(8, 5), torch.randint(0, 2, (8,))
for step in range(3):
    sgd.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    sgd.step()
    print(step, round(loss.item(), 5), net[0].parametrizations.weight.original0.grad.view(-1)[:3].cpu())
print(len(hooked) > 0, net[0].weight.detach().cpu()[0])
print("done")
