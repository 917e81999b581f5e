# A VAE trained with the importance-weighted bound (IWAE), as its paper's code writes it:
# an Independent Normal posterior drawn K times by rsample((K,)), an Independent
# Bernoulli decoder, a mixture-of-Gaussians prior (MixtureSameFamily over Independent
# Normals, its weights learned), log weights combined by logsumexp over K, the ELBO and
# the KL estimated by Monte Carlo (no closed form for a mixture prior), KL annealing;
# then the doubly-reparameterized gradient (DReG) with a stop-gradient posterior,
# the effective sample size of the weights, and the trained model on a worker scoring
# held-out data with the posterior's log_prob and the prior's cdf-free marginals.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
D = torch.distributions
torch.manual_seed(19)

X = (torch.rand(24, 10) < torch.linspace(0.1, 0.9, 10)).float()
Z, K, COMP = 2, 5, 3


class IWAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 2 * Z))
        self.dec = nn.Sequential(nn.Linear(Z, 16), nn.Tanh(), nn.Linear(16, 10))
        self.prior_logits = nn.Parameter(torch.zeros(COMP))
        self.prior_means = nn.Parameter(torch.randn(COMP, Z))

    def prior(self):
        comps = D.Independent(D.Normal(self.prior_means, torch.ones_like(self.prior_means)), 1)
        return D.MixtureSameFamily(D.Categorical(logits=self.prior_logits), comps)

    def posterior(self, x):
        mu, log_sigma = self.enc(x).chunk(2, -1)
        return D.Independent(D.Normal(mu, log_sigma.clamp(-4, 2).exp()), 1)

    def log_weights(self, x, k=K, stop_q=False):
        q = self.posterior(x)
        z = q.rsample((k,))
        if stop_q:  # DReG: the posterior's score without its parameters' gradient
            q = D.Independent(D.Normal(q.base_dist.loc.detach(), q.base_dist.scale.detach()), 1)
        lik = D.Independent(D.Bernoulli(logits=self.dec(z)), 1).log_prob(x.expand(k, -1, -1))
        return lik + self.prior().log_prob(z) - q.log_prob(z), z, q


model = IWAE()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(6):
    beta = min(1.0, 0.4 + 0.2 * step)
    lw, z, q = model.log_weights(X)
    iwae = (torch.logsumexp(lw, 0) - math.log(K)).mean()
    lik = lw + q.log_prob(z) - model.prior().log_prob(z)
    elbo = (lik - beta * (q.log_prob(z) - model.prior().log_prob(z))).mean()
    loss = -iwae if step % 2 == 0 else -elbo
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("step", step, round(iwae.item(), 4), round(elbo.item(), 4), z.shape, lw.shape,
          lw.grad_fn.name(), round(model.prior_logits.grad.norm().item(), 5),
          round(model.enc[0].weight.grad.norm().item(), 5))

lw, z, q = model.log_weights(X, stop_q=True)
w = F.softmax(lw, 0).detach()
dreg = -(w.pow(2) * lw).sum(0).mean()
opt.zero_grad()
dreg.backward()
ess = 1.0 / w.pow(2).sum(0)
print("dreg", round(dreg.item(), 5), round(model.enc[2].weight.grad.norm().item(), 5),
      ess[:4].numpy().round(3), round(ess.mean().item(), 4))
prior = model.prior()
print(prior.batch_shape, prior.event_shape, prior.mixture_distribution.probs.detach().numpy().round(4),
      prior.mean.detach().numpy().round(4), prior.variance.detach().numpy().round(4))
draws = prior.sample((6,))
print("prior draws", draws.shape, prior.log_prob(draws).detach().numpy().round(4),
      prior.component_distribution.log_prob(draws.unsqueeze(-2)).shape)

dev = W[0]
model.to(dev)
held = (torch.rand(8, 10) < 0.5).float().to(dev)
with torch.no_grad():
    lw, z, q = model.log_weights(held, k=20)
    bound = torch.logsumexp(lw, 0) - math.log(20)
    post = model.posterior(held)
print("held-out", bound.cpu().numpy().round(3), round(bound.mean().item(), 4), z.device == held.device,
      post.entropy().cpu().numpy().round(4), post.mean.cpu().numpy().round(3)[:2])
print("done")
