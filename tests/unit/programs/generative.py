# Generative models' training steps: a VAE (reparameterisation with randn_like, BCE plus
# KL), a GAN step (detach for the discriminator, two optimizers, BCEWithLogits), and a
# GRU seq2seq with teacher forcing and masked loss.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(3)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(12, 8)
        self.mu, self.logvar = nn.Linear(8, 2), nn.Linear(8, 2)
        self.dec = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 12), nn.Sigmoid())

    def forward(self, x):
        h = F.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec(z), mu, logvar


vae = VAE()
opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
x = torch.rand(6, 12)
for step in range(4):
    recon, mu, logvar = vae(x)
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    loss = bce + kld
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("vae", step, round(loss.item(), 4))

G = nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 4), nn.Tanh())
D = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
crit = nn.BCEWithLogitsLoss()
real = torch.randn(5, 4)
for step in range(3):
    fake = G(torch.randn(5, 3))
    d_loss = crit(D(real), torch.ones(5, 1)) + crit(D(fake.detach()), torch.zeros(5, 1))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = crit(D(fake), torch.ones(5, 1))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    print("gan", step, round(d_loss.item(), 5), round(g_loss.item(), 5))


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(9, 6, padding_idx=0)
        self.enc = nn.GRU(6, 10, batch_first=True)
        self.dec = nn.GRUCell(6, 10)
        self.out = nn.Linear(10, 9)

    def forward(self, src, tgt, teacher):
        _, h = self.enc(self.emb(src))
        h = h[0]
        tok, logits = tgt[:, 0], []
        for t in range(1, tgt.size(1)):
            h = self.dec(self.emb(tok), h)
            step = self.out(h)
            logits.append(step)
            tok = tgt[:, t] if teacher[t] else step.argmax(-1)
        return torch.stack(logits, 1)


s2s = Seq2Seq()
opt = torch.optim.SGD(s2s.parameters(), lr=0.5, momentum=0.9, nesterov=True)
src = torch.randint(1, 9, (4, 5))
tgt = torch.cat([torch.full((4, 1), 1), torch.randint(0, 9, (4, 4))], 1)
for step in range(3):
    teacher = (torch.rand(tgt.size(1)) < 0.5).tolist()
    logits = s2s(src, tgt, teacher)
    loss = F.cross_entropy(logits.reshape(-1, 9), tgt[:, 1:].reshape(-1), ignore_index=0)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("s2s", step, teacher, round(loss.item(), 5))
print(s2s.emb.weight.grad[0], s2s.out.bias)
print("done")
