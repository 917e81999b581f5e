# A variational autoencoder as tutorials write it, with its latent split over the workers
# by batch: the encoder on W[0] gives mu and logvar (one Linear, sliced: two views of one
# output, logvar clamped in place through its view; a chunk's views refuse that write),
# the reparameterisation with seeded randn_like over the sharded std, the same sample
# drawn through a custom autograd Function (its saved tensors and a hand-written backward),
# the KL term in closed form, the decoder on W[1] run under torch.utils.checkpoint, an Adam
# step with clip_grad_norm_, sampling from the prior under no_grad, and the latent means of
# a batch under inference_mode. `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
checkpoint = torch.utils.checkpoint.checkpoint
torch.manual_seed(17)
B, X, Z, Hd = 6, 10, 4, 12


class Reparam(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mu, logvar, eps):
        std = (0.5 * logvar).exp()
        ctx.save_for_backward(std, eps)
        return mu + eps * std

    @staticmethod
    def backward(ctx, grad):
        std, eps = ctx.saved_tensors
        return grad, grad * eps * std * 0.5, None


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(X, Hd), nn.Tanh(), nn.Linear(Hd, 2 * Z)).to(W[0])
        self.dec = nn.Sequential(nn.Linear(Z, Hd), nn.ReLU(), nn.Linear(Hd, X)).to(W[1])

    def encode(self, x):
        h = self.enc(x.to(W[0]))
        mu, logvar = h[:, :Z], h[:, Z:]
        logvar.clamp_(-4.0, 4.0)
        return shard(mu, 0), shard(logvar, 0), h

    def forward(self, x, custom=False):
        mu, logvar, h = self.encode(x)
        eps = torch.randn_like(mu)
        z = Reparam.apply(mu, logvar, eps) if custom else mu + eps * (0.5 * logvar).exp()
        logits = checkpoint(self.dec, full(z).to(W[1]), use_reentrant=False)
        rec = F.binary_cross_entropy_with_logits(logits, x.to(W[1]), reduction="sum") / B
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / B
        return rec.cpu(), full(kl).cpu(), z, h


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


x = (torch.rand(B, X) > 0.5).float()
vae = VAE()
print(attempt(lambda: vae.enc(x.to(W[0])).chunk(2, dim=-1)[1].clamp_(-4.0, 4.0)))
mu, logvar, h = vae.encode(x)
print(h.grad_fn.name(), h._version, logvar._version, mu.shape, full(logvar).grad_fn is not None)
print(full(mu).detach().cpu()[0], full(logvar).detach().cpu().max().item() <= 4.0)

for custom in (False, True):
    vae.zero_grad()
    torch.manual_seed(5)
    rec, kl, z, h = vae(x, custom)
    (rec + kl).backward()
    print(custom, round(rec.item(), 4), round(kl.item(), 4), z.grad_fn.name(), h._version)
    print(vae.enc[2].bias.grad.cpu(), vae.dec[0].weight.grad.cpu().sum(0))

opt = torch.optim.Adam(vae.parameters(), lr=5e-3)
for step in range(3):
    opt.zero_grad()
    rec, kl, _, _ = vae(x)
    loss = rec + min(1.0, 0.5 * (step + 1)) * kl
    loss.backward()
    norm = nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
    opt.step()
    print(step, round(loss.item(), 4), round(norm.item(), 4), vae.dec[2].weight._version)

with torch.no_grad():
    prior = torch.randn(3, Z).to(W[1])
    samples = torch.sigmoid(vae.dec(prior))
print(samples.requires_grad, samples.grad_fn, samples.cpu().round(decimals=3)[0])
with torch.inference_mode():
    mu, logvar, h = vae.encode(x)
    means = full(mu).cpu()
print(means.is_inference(), means.requires_grad, means.mean(0))
print("done")
