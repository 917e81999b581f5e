# torch.distributions in the low precisions a mixed-precision agent or VAE produces: a
# policy under CPU autocast to bfloat16 whose logits make a Categorical (samples, log_prob,
# entropy and the policy-gradient step in bfloat16), a float16 VAE head's Normal rsample
# and KL, Bernoulli and Poisson draws from bfloat16 rates; then what torch's CPU kernels
# refuse in those dtypes (Gamma, Beta, Dirichlet, Binomial draws; the Cholesky factor,
# triangular solve and inverse a MultivariateNormal needs; the positive-(semi)definite
# checks), each error caught as the user sees it, and the float32 fallback that works;
# isclose on bfloat16 samples.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
D = torch.distributions
torch.manual_seed(4)


def attempt(label, fn):
    try:
        out = fn()
        print(label, out)
    except (NotImplementedError, RuntimeError, ValueError, TypeError) as e:
        print(label, type(e).__name__, e)


policy = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
opt = torch.optim.SGD(policy.parameters(), lr=0.05)
obs = torch.randn(8, 4)
for step in range(3):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = policy(obs)
    pi = D.Categorical(logits=logits)
    actions = pi.sample()
    logp = pi.log_prob(actions)
    returns = (actions == 1).float() - 0.5
    loss = -(logp * returns).mean() - 0.01 * pi.entropy().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("policy", step, logits.dtype, pi.probs.dtype, actions.tolist(), logp.dtype,
          round(loss.item(), 3), loss.dtype, logp.grad_fn.name(),
          policy[0].weight.grad.dtype, round(policy[0].weight.grad.norm().item(), 3))
print(pi.entropy().detach().float().numpy().round(2), pi.probs[0].detach().float().numpy().round(3), pi.logits.dtype)

head = nn.Linear(6, 4).half()
x = torch.randn(5, 6).half()
mu, logvar = head(x).chunk(2, dim=1)
q = D.Normal(mu, (0.5 * logvar).exp())
z = q.rsample()
kl = D.kl_divergence(q, D.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
print("vae", z.dtype, z.grad_fn.name(), kl.dtype, kl.detach().float().numpy().round(2),
      q.log_prob(z).dtype, q.entropy().detach().float().numpy().round(2).tolist())
kl.float().mean().backward()
print("vae grad", head.weight.grad.dtype, head.weight.grad.float().abs().sum().item())

rates = torch.tensor([0.5, 2.0, 7.5], dtype=torch.bfloat16)
counts = D.Poisson(rates).sample((4,))
flips = D.Bernoulli(probs=torch.tensor([0.1, 0.5, 0.9], dtype=torch.bfloat16)).sample((4,))
print("poisson", counts.dtype, counts.float().mean(0).numpy(), D.Poisson(rates).log_prob(counts).dtype,
      "bernoulli", flips.dtype, flips.sum(0).tolist())
exp_draws = D.Exponential(torch.tensor([1.0, 4.0], dtype=torch.float16)).sample((3,))
print("exponential", exp_draws.dtype, exp_draws.float().numpy().round(3))

for dt in (torch.float16, torch.bfloat16):
    one, eye = torch.ones(2, dtype=dt), torch.eye(2, dtype=dt)
    attempt(f"gamma {dt}", lambda: D.Gamma(one, 2.0).sample())
    attempt(f"gamma rsample {dt}", lambda: D.Gamma(one.clone().requires_grad_(), 2.0).rsample())
    attempt(f"beta {dt}", lambda: D.Beta(one, one).sample())
    attempt(f"dirichlet {dt}", lambda: D.Dirichlet(one).sample())
    attempt(f"student {dt}", lambda: D.StudentT(one * 3).sample())
    attempt(f"binomial {dt}", lambda: D.Binomial(one * 10, one * 0.5).sample())
    attempt(f"negative binomial {dt}", lambda: D.NegativeBinomial(one * 3, one * 0.5).sample())
    attempt(f"gamma log_prob {dt}", lambda: D.Gamma(one, 2.0).log_prob(one))
    attempt(f"mvn cov {dt}", lambda: D.MultivariateNormal(torch.zeros(2, dtype=dt), eye))
    attempt(f"mvn precision {dt}", lambda: D.MultivariateNormal(torch.zeros(2, dtype=dt),
                                                                 precision_matrix=eye * 2))
    tril = D.MultivariateNormal(torch.zeros(2, dtype=dt), scale_tril=eye)
    attempt(f"mvn scale_tril sample {dt}", lambda: tril.sample().dtype)
    attempt(f"mvn log_prob {dt}", lambda: tril.log_prob(one))
    attempt(f"mvn precision_matrix {dt}", lambda: tril.precision_matrix)
    attempt(f"mvn kl {dt}", lambda: D.kl_divergence(tril, tril))
    attempt(f"low rank {dt}", lambda: D.LowRankMultivariateNormal(torch.zeros(2, dtype=dt), eye, one))
    attempt(f"positive definite {dt}", lambda: D.constraints.positive_definite.check(eye))
    attempt(f"positive semidefinite {dt}", lambda: D.constraints.positive_semidefinite.check(eye))
    attempt(f"symmetric {dt}", lambda: D.constraints.symmetric.check(eye))

conc = torch.tensor([1.5, 3.0], dtype=torch.bfloat16)
g = D.Gamma(conc.float(), 2.0).sample((3,)).to(conc.dtype)
mvn = D.MultivariateNormal(torch.zeros(2), torch.tensor([[2.0, 0.3], [0.3, 1.0]]))
print("fallback", g.dtype, g.float().numpy().round(3), mvn.sample().bfloat16().dtype,
      mvn.log_prob(torch.ones(2)).item())
a = D.Normal(torch.zeros(4, dtype=torch.bfloat16), 1.0).sample()
print(torch.isclose(a, a + 0.01), torch.isclose(a, a.clone(), atol=0.0, rtol=0.0),
      torch.allclose(a, a + 0.001, atol=0.01))
print("done")
