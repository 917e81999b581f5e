# A WGAN-GP critic step (the gradient penalty: autograd.grad of the critic at random
# interpolates with create_graph=True, its norm pushed to 1, backpropagated through the
# critic's parameters), RMSprop/Adam with n_critic steps and weight clipping checks; then
# a tied-weight autoencoder (decoder = F.linear with the encoder's weight.t()) with a
# sparsity penalty, and a denoising step.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(29)
G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
C = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Softplus(), nn.Linear(16, 1))
opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.0, 0.9))
opt_c = torch.optim.Adam(C.parameters(), lr=1e-3, betas=(0.0, 0.9))
real_all = torch.randn(64, 2) * torch.tensor([0.5, 1.5]) + torch.tensor([2.0, -1.0])


def gradient_penalty(critic, real, fake):
    eps = torch.rand(real.size(0), 1).expand_as(real)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(mixed)
    grads, = torch.autograd.grad(score, mixed, grad_outputs=torch.ones_like(score),
                                 create_graph=True, retain_graph=True)
    return ((grads.norm(2, dim=1) - 1) ** 2).mean(), grads


for it in range(4):
    for k in range(3):
        real = real_all[torch.randint(0, 64, (16,))]
        fake = G(torch.randn(16, 4)).detach()
        gp, grads = gradient_penalty(C, real, fake)
        loss_c = C(fake).mean() - C(real).mean() + 10 * gp
        opt_c.zero_grad()
        loss_c.backward()
        opt_c.step()
    loss_g = -C(G(torch.randn(16, 4))).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    print(it, round(loss_c.item(), 4), round(gp.item(), 5), round(loss_g.item(), 4), grads.requires_grad)
print(C[0].weight.grad.norm().item(), G[2].bias.detach())
print([p.grad is None for p in G.parameters()], C[4].bias.grad)


class TiedAE(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.enc = nn.Linear(d, h)
        self.dec_bias = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        code = torch.sigmoid(self.enc(x))
        return F.linear(code, self.enc.weight.t(), self.dec_bias), code


ae = TiedAE(8, 5)
opt = torch.optim.SGD(ae.parameters(), lr=0.5, momentum=0.8)
data = torch.rand(20, 8)
for step in range(5):
    noisy = data * torch.bernoulli(torch.full_like(data, 0.8))
    recon, code = ae(noisy)
    rho, rho_hat = 0.1, code.mean(0)
    sparsity = (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
    loss = F.mse_loss(recon, data) + 0.01 * sparsity
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), round(sparsity.item(), 4))
print(ae.enc.weight.grad.shape, ae.dec_bias.grad, len(list(ae.parameters())))
print("done")
