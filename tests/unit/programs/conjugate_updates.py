# Bayesian updating with conjugate pairs as an online A/B test or a bandit keeps it:
# Beta-Bernoulli click rates, Gamma-Poisson arrival rates and Dirichlet-categorical
# choices updated batch by batch until the concentrations reach the thousands (the
# entropies and KLs where float32's digamma and lgamma terms cancel); the information
# gained per batch as the KL between successive posteriors; credible intervals by
# bisection on Gamma.cdf (Beta has none); Thompson sampling from the posteriors; a
# posterior predictive by MixtureSameFamily; then the Gamma posterior on a worker.
import distgrad as torch  # PyTorch: import torch
D = torch.distributions
torch.manual_seed(31)

true_ctr = torch.tensor([0.04, 0.05, 0.07])
a, b = torch.ones(3), torch.ones(3)
for batch in range(5):
    n = 10 ** (batch + 1)
    clicks = D.Binomial(n, true_ctr).sample()
    prior = D.Beta(a, b)
    a, b = a + clicks, b + n - clicks
    post = D.Beta(a, b)
    gain = D.kl_divergence(post, prior)
    print("beta", batch, clicks.tolist(), post.mean.numpy().round(5), post.entropy().numpy().round(4),
          gain.numpy().round(4), post.stddev.numpy().round(6))
thompson = D.Beta(a, b).sample((1000,)).argmax(-1)
print("thompson", torch.bincount(thompson, minlength=3).tolist(), D.Beta(a, b).mode.numpy().round(5))


def credible(dist, mass=0.95, lo=0.0, hi=1.0, steps=40):
    """The central interval of `mass` by bisection on dist.cdf (elementwise)."""
    out = []
    for q in ((1 - mass) / 2, (1 + mass) / 2):
        low, high = torch.full_like(dist.mean, lo), torch.full_like(dist.mean, hi)
        for _ in range(steps):
            mid = (low + high) / 2
            below = dist.cdf(mid) < q
            low, high = torch.where(below, mid, low), torch.where(below, high, mid)
        out.append((low + high) / 2)
    return torch.stack(out, -1)


try:
    credible(D.Beta(a[:2], b[:2]))
except NotImplementedError as e:
    print("Beta has no cdf", type(e).__name__, e)

arrivals = torch.tensor([3.0, 12.0])
shape, rate = torch.tensor([2.0, 2.0]), torch.tensor([1.0, 1.0])
for day in range(4):
    m = 10 ** day
    counts = D.Poisson(arrivals).sample((m,)).sum(0)
    prior = D.Gamma(shape, rate)
    shape, rate = shape + counts, rate + m
    post = D.Gamma(shape, rate)
    print("gamma", day, counts.tolist(), post.mean.numpy().round(4), post.entropy().numpy().round(4),
          D.kl_divergence(post, prior).numpy().round(4), post.cdf(arrivals).numpy().round(4))
print("gamma interval", credible(post, lo=0.0, hi=20.0).numpy().round(4))
predictive = D.MixtureSameFamily(D.Categorical(torch.tensor([0.5, 0.5])), D.Poisson(post.mean))
print("predictive", predictive.log_prob(torch.tensor([3.0, 12.0, 7.0])).numpy().round(4),
      predictive.mean.item(), round(predictive.variance.item(), 4))

prefs = torch.tensor([0.2, 0.5, 0.3])
conc = torch.ones(3)
for round_ in range(4):
    votes = torch.bincount(D.Categorical(prefs).sample((10 ** (round_ + 1),)), minlength=3).float()
    prior = D.Dirichlet(conc)
    conc = conc + votes
    post = D.Dirichlet(conc)
    print("dirichlet", round_, votes.tolist(), post.mean.numpy().round(4), round(post.entropy().item(), 4),
          round(D.kl_divergence(post, prior).item(), 4), post.variance.numpy().round(7))
x = post.rsample()
print("dirichlet draw", x.numpy().round(4), post.log_prob(x).item() > 0)

dev = W[1]
shape_w, rate_w = torch.tensor([2.0, 2.0], device=dev), torch.tensor([1.0, 1.0], device=dev)
for day in range(3):
    counts = D.Poisson(arrivals.to(dev)).sample((100,)).sum(0)
    prior = D.Gamma(shape_w, rate_w)
    shape_w, rate_w = shape_w + counts, rate_w + 100
    post = D.Gamma(shape_w, rate_w)
    print("worker", day, counts.cpu().tolist(), post.entropy().cpu().numpy().round(4),
          D.kl_divergence(post, prior).cpu().numpy().round(4), post.cdf(arrivals.to(dev)).cpu().numpy().round(4))
print("done")
