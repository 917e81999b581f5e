# Probabilistic models with torch.distributions: a 1-D normalizing flow as a
# TransformedDistribution (a learned affine, a sigmoid, an affine onto the data's range)
# fitted by maximum likelihood; Bayesian linear regression by variational inference (rsample
# reparameterisation, a Normal prior, analytic kl_divergence, the ELBO); then an
# Independent MultivariateNormal's log_prob/entropy and a Categorical mixture.
import math
import distgrad as torch  # PyTorch: import torch
D = torch.distributions
nn = torch.nn
torch.manual_seed(17)
data = torch.cat([torch.randn(40) * 0.5 - 1.0, torch.randn(40) * 0.3 + 1.5])

loc = nn.Parameter(torch.zeros(1))
log_scale = nn.Parameter(torch.zeros(1))
shift = nn.Parameter(torch.zeros(1))
opt = torch.optim.Adam([loc, log_scale, shift], lr=0.05)
base = D.Normal(torch.zeros(1), torch.ones(1))
for step in range(30):
    flow = D.TransformedDistribution(base, [D.AffineTransform(loc, log_scale.exp()),
                                            D.transforms.SigmoidTransform(),
                                            D.AffineTransform(shift - 2.0, 5.0)])
    nll = -flow.log_prob(data.clamp(-1.99, 2.99).unsqueeze(-1)).mean()
    opt.zero_grad()
    nll.backward()
    opt.step()
    if step % 10 == 9:
        print(step, round(nll.item(), 4), round(loc.item(), 4), round(log_scale.item(), 4))
s = flow.rsample((5,))
print(s.shape, s.requires_grad, flow.event_shape, flow.batch_shape, flow.support)

X = torch.randn(30, 3)
true_w = torch.tensor([1.5, -2.0, 0.5])
y = X @ true_w + 0.1 * torch.randn(30)
q_mu = nn.Parameter(torch.zeros(3))
q_rho = nn.Parameter(torch.full((3,), -3.0))
prior = D.Normal(torch.zeros(3), torch.ones(3))
opt = torch.optim.Adam([q_mu, q_rho], lr=0.1)
for step in range(40):
    q = D.Normal(q_mu, nn.functional.softplus(q_rho))
    w = q.rsample((4,))
    lik = D.Normal(w @ X.T, 0.1).log_prob(y).sum(-1).mean()
    kl = D.kl_divergence(q, prior).sum()
    loss = -(lik - kl)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 10 == 9:
        print(step, round(loss.item(), 2), round(kl.item(), 4), q_mu.detach())
print(q.stddev, q.entropy().sum().item(), q_rho.grad.shape)

cov = torch.tensor([[1.0, 0.3], [0.3, 0.5]])
mvn = D.MultivariateNormal(torch.zeros(3, 2), covariance_matrix=cov)
pts = torch.randn(4, 3, 2)
print(mvn.batch_shape, mvn.event_shape, mvn.log_prob(pts).shape, mvn.entropy())
ind = D.Independent(D.Normal(torch.zeros(3, 2), torch.ones(3, 2)), 1)
print(ind.log_prob(pts).sum().item(), D.kl_divergence(mvn, mvn).abs().max().item() < 1e-5)
mix = D.MixtureSameFamily(D.Categorical(logits=torch.tensor([0.0, 1.0])),
                          D.Normal(torch.tensor([-1.0, 2.0]), torch.tensor([0.5, 1.0])))
grid = torch.linspace(-3, 4, 6)
print(mix.log_prob(grid), mix.mean, mix.variance, mix.sample((4,)))
print(round(math.exp(mix.log_prob(grid).logsumexp(0).item()), 4))
print("done")
