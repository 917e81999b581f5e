# A GAN training step as tutorials write it, its two networks on two workers: the generator
# on W[0] making a batch that is split over the workers (`shard`), the discriminator on W[1]
# with spectral_norm on a layer, fake.detach() for the discriminator's step (no gradient
# reaches the generator: its grads stay None), requires_grad_(False) on the discriminator
# while the generator steps, two Adam optimizers with their own betas, a gradient penalty
# through autograd.grad(create_graph=True) on interpolates written in place, the
# discriminator's grads after the generator's backward (its own step's, kept), an in-place
# label-smoothing write into the targets, and both models' state saved together and
# restored into fresh ones that give the same next step. `W`, `shard`, `full` are the
# runner's.
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(47)
Z, D, B = 3, 4, 6


def make():
    torch.manual_seed(5)
    g = nn.Sequential(nn.Linear(Z, 8), nn.LeakyReLU(0.2), nn.Linear(8, D)).to(W[0])
    d = nn.Sequential(nn.utils.spectral_norm(nn.Linear(D, 8)), nn.LeakyReLU(0.2), nn.Linear(8, 1)).to(W[1])
    return g, d


def set_grad(model, flag):
    for p in model.parameters():
        p.requires_grad_(flag)


def step(g, d, opt_g, opt_d, real, z, log=True):
    # -- the discriminator: fake detached, a gradient penalty on interpolates --------------
    fake = shard(g(z.to(W[0])).cpu(), 0)
    set_grad(d, True)
    opt_d.zero_grad()
    targets = torch.ones(B, 1)
    targets.mul_(0.9)  # one-sided label smoothing, in place
    d_real = d(real.to(W[1])).cpu()
    d_fake = d(full(fake.detach()).to(W[1])).cpu()
    alpha = torch.rand(B, 1)
    inter = real.clone()
    inter.mul_(alpha).add_((1 - alpha) * full(fake.detach()))
    inter.requires_grad_(True)
    score = d(inter.to(W[1])).sum()
    (grad,) = torch.autograd.grad(score, inter, create_graph=True)
    penalty = (grad.norm(dim=1) - 1).pow(2).mean()
    loss_d = (F.binary_cross_entropy_with_logits(d_real, targets)
              + F.binary_cross_entropy_with_logits(d_fake, torch.zeros(B, 1)) + penalty)
    loss_d.backward()
    if log:
        print("d", round(loss_d.item(), 4), round(penalty.item(), 4), [p.grad is None for p in g.parameters()],
              d[2].bias.grad.cpu(), inter.grad, grad.grad_fn is not None)
    opt_d.step()
    # -- the generator: the discriminator frozen -------------------------------------------
    set_grad(d, False)
    opt_g.zero_grad()
    loss_g = F.binary_cross_entropy_with_logits(d(full(fake).to(W[1])).cpu(), torch.ones(B, 1))
    loss_g.backward()
    if log:
        print("g", round(loss_g.item(), 4), fake.grad_fn is not None, [p.grad is None for p in d.parameters()][-2:],
              g[2].bias.grad.cpu(), d[2].weight.requires_grad)
    opt_g.step()
    return loss_d.item(), loss_g.item()


g, d = make()
opt_g = torch.optim.Adam(g.parameters(), lr=2e-3, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.0, 0.9))
real = torch.randn(B, D) * 0.5 + 1.0
for it in range(3):
    torch.manual_seed(100 + it)
    z = torch.randn(B, Z)
    step(g, d, opt_g, opt_d, real, z, log=it == 0)
    print(it, d[0].weight_u.cpu()[:3], d[0].weight_orig._version, g[0].weight._version,
          opt_d.state[d[2].bias]["step"].item(), len(opt_g.state))

buf = io.BytesIO()
torch.save({"g": g.state_dict(), "d": d.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict()}, buf)
buf.seek(0)
ckpt = torch.load(buf)
g2, d2 = make()
opt_g2 = torch.optim.Adam(g2.parameters(), lr=2e-3, betas=(0.5, 0.999))
opt_d2 = torch.optim.Adam(d2.parameters(), lr=1e-3, betas=(0.0, 0.9))
print(g2.load_state_dict(ckpt["g"]), d2.load_state_dict(ckpt["d"]))
opt_g2.load_state_dict(ckpt["opt_g"])
opt_d2.load_state_dict(ckpt["opt_d"])
print(sorted(ckpt["d"]), opt_d2.param_groups[0]["betas"])
torch.manual_seed(200)
z = torch.randn(B, Z)
torch.manual_seed(201)
a = step(g, d, opt_g, opt_d, real, z, log=False)
torch.manual_seed(201)
b = step(g2, d2, opt_g2, opt_d2, real, z, log=False)
print([round(v, 4) for v in a], [round(v, 4) for v in b], torch.allclose(g[2].weight.cpu(), g2[2].weight.cpu()))
print("done")
