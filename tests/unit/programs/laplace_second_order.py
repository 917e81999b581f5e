# Second-order use of torch.distributions: a Bayesian logistic regression fitted to its MAP
# by L-BFGS, then a Laplace approximation (the log joint's Hessian by
# torch.autograd.functional.hessian as a MultivariateNormal's precision_matrix: samples,
# log_prob, entropy, the KL to the prior, a predictive by Monte Carlo); natural-gradient
# steps for a Normal whose Fisher matrix comes from double backward of the KL; a
# gradient penalty through reparameterized Gamma, StudentT and Dirichlet draws (the
# graphs torch records under create_graph, walked by next_functions, and its
# NotImplementedError past the implicit gradient); an RMS-normalised critic whose
# gradient penalty goes through rsqrt twice; a 0-dim prior scale expanded into a batch.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
D = torch.distributions
torch.manual_seed(21)


def chain(node, depth=0, limit=7):
    """The first branch of a grad_fn graph that has one: names down to a leaf."""
    names = []
    while node is not None and depth < limit:
        names.append(node.name().replace("torch::autograd::", ""))
        nxt = [f for f, _ in node.next_functions if f is not None]
        node, depth = (nxt[0] if nxt else None), depth + 1
    return " <- ".join(names)


X = torch.randn(40, 3, dtype=torch.float64)  # (float64: L-BFGS stops where rounding lets it)
true_w = torch.tensor([1.5, -2.0, 0.5], dtype=torch.float64)
y = D.Bernoulli(logits=X @ true_w).sample()
prior = D.MultivariateNormal(torch.zeros(3, dtype=torch.float64),
                             covariance_matrix=4.0 * torch.eye(3, dtype=torch.float64))


def log_joint(w):
    return D.Bernoulli(logits=X @ w).log_prob(y).sum() + prior.log_prob(w)


w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
lbfgs = torch.optim.LBFGS([w], lr=0.5, max_iter=30, history_size=5, line_search_fn="strong_wolfe")


def closure():
    lbfgs.zero_grad()
    loss = -log_joint(w)
    loss.backward()
    return loss


for step in range(3):
    loss = lbfgs.step(closure)
    print("map", step, round(loss.item(), 5), w.detach().numpy().round(4),
          round(w.grad.norm().item(), 6))
H = torch.autograd.functional.hessian(lambda v: -log_joint(v), w.detach())
print("hessian", H.numpy().round(4), torch.allclose(H, H.T, atol=1e-5))
post = D.MultivariateNormal(w.detach(), precision_matrix=H)
print(post.batch_shape, post.event_shape, post.scale_tril.numpy().round(4),
      post.covariance_matrix.diagonal().numpy().round(5))
draws = post.sample((500,))
print("draws", draws.shape, draws.mean(0).numpy().round(3), draws.std(0).numpy().round(3))
print("entropy", round(post.entropy().item(), 5), "kl", round(D.kl_divergence(post, prior).item(), 5),
      "lp", post.log_prob(draws[:3]).numpy().round(4))
x_new = torch.tensor([[0.5, -0.5, 1.0], [-1.0, 0.2, 0.0]], dtype=torch.float64)
pred = torch.sigmoid(draws @ x_new.T).mean(0)
print("predictive", pred.numpy().round(4), torch.sigmoid(x_new @ w.detach()).numpy().round(4))
hvp = torch.autograd.functional.hvp(lambda v: -log_joint(v), w.detach(), torch.ones_like(w))[1]
print("hvp", hvp.numpy().round(4), (H @ torch.ones_like(w)).numpy().round(4), hvp.dtype, post.loc.dtype)

# natural gradient for q = Normal(mu, exp(log_sigma)) towards the data's likelihood
data = torch.randn(30) * 0.7 + 1.2
theta = torch.tensor([0.0, 0.0], requires_grad=True)
for step in range(4):
    q = D.Normal(theta[0], theta[1].exp())
    nll = -q.log_prob(data).mean()
    grad, = torch.autograd.grad(nll, theta, create_graph=True)
    q_fixed = D.Normal(theta[0].detach(), theta[1].detach().exp())
    kl = D.kl_divergence(q_fixed, D.Normal(theta[0], theta[1].exp()))
    g_kl, = torch.autograd.grad(kl, theta, create_graph=True)
    fisher = torch.stack([torch.autograd.grad(g_kl[i], theta, retain_graph=True)[0] for i in range(2)])
    nat = torch.linalg.solve(fisher, grad.detach())
    with torch.no_grad():
        theta -= 0.5 * nat
    print("natgrad", step, round(nll.item(), 5), fisher.numpy().round(4), grad.grad_fn.name(),
          g_kl.grad_fn.name(), theta.detach().numpy().round(4))

# gradient penalties through reparameterized draws
for name, make in (("gamma", lambda c: D.Gamma(c, torch.tensor(2.0))),
                   ("chi2", lambda c: D.Chi2(c)),
                   ("studentt", lambda c: D.StudentT(c, 0.0, 0.5)),
                   ("dirichlet", lambda c: D.Dirichlet(torch.stack([c, c + 1.0]))),
                   ("beta", lambda c: D.Beta(c, torch.tensor(3.0)))):
    torch.manual_seed(3)
    c = torch.tensor(2.5, requires_grad=True)
    x = make(c).rsample()
    g, = torch.autograd.grad(x.sum(), c, create_graph=True)
    print(name, x.detach().numpy().round(4), chain(x.grad_fn), "|", round(g.item(), 5),
          g.requires_grad, chain(g.grad_fn) if g.grad_fn is not None else None)
    try:
        gg, = torch.autograd.grad(g, c)
        print("  second derivative", gg)
    except (NotImplementedError, RuntimeError) as e:
        print("  ", type(e).__name__, e)

c = torch.tensor([1.5, 3.0], requires_grad=True)
x = D.Gamma(c, 1.0).rsample((4,))
penalty_grad, = torch.autograd.grad(x.sum(), c, create_graph=True)
print("batched", penalty_grad.detach().numpy().round(4), chain(penalty_grad.grad_fn))
x.sum().backward()
print("first order only", c.grad.numpy().round(4), x.grad_fn.name())


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, h):
        return h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


critic = nn.Sequential(nn.Linear(3, 8), RMSNorm(8), nn.Tanh(), nn.Linear(8, 1))
copt = torch.optim.Adam(critic.parameters(), lr=1e-2)
real = D.MultivariateNormal(torch.ones(3), scale_tril=torch.tensor(
    [[1.0, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.2, 0.1, 0.5]])).sample((16,))
fake = D.Normal(torch.zeros(3), 1.0).sample((16,))
for step in range(3):
    eps = D.Uniform(0.0, 1.0).sample((16, 1))
    mix = (eps * real + (1 - eps) * fake).requires_grad_()
    score = critic(mix)
    g, = torch.autograd.grad(score.sum(), mix, create_graph=True)
    gp = ((g.norm(dim=1) - 1) ** 2).mean()
    loss = critic(fake).mean() - critic(real).mean() + 10 * gp
    copt.zero_grad()
    loss.backward()
    copt.step()
    print("critic", step, round(loss.item(), 5), round(gp.item(), 5), g.grad_fn.name(),
          round(critic[1].weight.grad.norm().item(), 5))

# Newton's method for a Beta's concentrations (digamma's and trigamma's float32 values)
rates = D.Beta(torch.tensor(2.5), torch.tensor(6.0)).sample((400,))
ab = torch.tensor([1.0, 1.0])
for step in range(4):
    nll = lambda v: -D.Beta(v[0], v[1]).log_prob(rates).mean()
    g = torch.autograd.functional.jacobian(nll, ab)
    Hb = torch.autograd.functional.hessian(nll, ab)
    ab = ab - torch.linalg.solve(Hb, g)
    print("newton", step, ab.numpy().round(5), g.numpy().round(6), Hb.numpy().round(5))
conc = torch.tensor([0.4, 3.0, 25.0], requires_grad=True)
kl = D.kl_divergence(D.Beta(conc, torch.tensor(6.0)), D.Beta(torch.tensor(2.0), torch.tensor(5.0)))
g, = torch.autograd.grad(kl.sum(), conc, create_graph=True)
gg, = torch.autograd.grad(g.sum(), conc)
print("kl grads", kl.detach().numpy().round(5), g.detach().numpy().round(6), gg.numpy().round(6))
scale = torch.tensor(0.8, requires_grad=True)
batch = D.Normal(torch.zeros(5), scale.expand(5))
lp = batch.log_prob(torch.linspace(-1, 1, 5)).sum()
g, = torch.autograd.grad(lp, scale, create_graph=True)
g2, = torch.autograd.grad(g, scale)
print("0-dim scale", round(g.item(), 5), g.grad_fn.name(), chain(g.grad_fn, limit=4), round(g2.item(), 5))
print("done")
