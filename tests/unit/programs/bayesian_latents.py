# Latent-variable models with non-Gaussian reparameterized posteriors, as the ProdLDA and
# "implicit reparameterization gradients" papers' code writes them: a Dirichlet VAE topic
# model over bag-of-words counts (softplus concentrations, Dirichlet.rsample, the KL to a
# sparse Dirichlet prior by kl_divergence, a product-of-experts decoder by log_softmax);
# Gamma-Poisson count regression with a Gamma posterior over rates (rsample, Poisson
# log_prob, KL between Gammas); and a robust regression with a Student-t likelihood
# whose degrees of freedom start at 2 (infinite variance) and are learned, the
# predictive variance clamped into a penalty; then Beta posteriors over click rates with
# a flat Uniform prior (the KL by kl_divergence).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
D = torch.distributions
torch.manual_seed(13)

vocab, topics, docs = 12, 3, 16
bow = torch.randint(0, 4, (docs, vocab)).float()
bow[:, :4] *= (torch.arange(docs) % 2 == 0).float().unsqueeze(1) * 3


class ProdLDA(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(vocab, 16), nn.Softplus(), nn.Dropout(0.1))
        self.alpha = nn.Linear(16, topics)
        self.bn = nn.BatchNorm1d(topics, affine=False)
        self.beta = nn.Parameter(torch.randn(topics, vocab) * 0.1)

    def forward(self, x):
        conc = F.softplus(self.bn(self.alpha(self.enc(x)))).clamp(min=1e-3)
        q = D.Dirichlet(conc)
        theta = q.rsample()
        word_probs = theta @ F.softmax(self.beta, dim=1)
        return q, theta, word_probs


lda = ProdLDA()
prior = D.Dirichlet(torch.full((topics,), 0.3))
opt = torch.optim.Adam(lda.parameters(), lr=2e-2)
for epoch in range(5):
    q, theta, word_probs = lda(bow)
    rec = -(bow * (word_probs + 1e-10).log()).sum(1)
    kl = D.kl_divergence(q, prior)
    loss = (rec + kl).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("lda", epoch, round(loss.item(), 4), round(kl.mean().item(), 4),
          theta.grad_fn.name(), round(lda.alpha.weight.grad.norm().item(), 5))
print(theta.shape, theta.sum(1)[:3].detach().numpy().round(5), q.batch_shape, q.event_shape)
lda.eval()
with torch.no_grad():
    top = lda.beta.softmax(1).topk(3, dim=1)
print(top.indices.tolist(), top.values.numpy().round(4), lda.bn.running_var.numpy().round(4))

x = torch.randn(40, 2)
counts = torch.poisson((0.5 * x[:, 0] + 0.2).exp())
shape_raw = nn.Parameter(torch.zeros(40))
rate_raw = nn.Parameter(torch.zeros(40))
gopt = torch.optim.Adam([shape_raw, rate_raw], lr=0.05)
for step in range(6):
    post = D.Gamma(F.softplus(shape_raw) + 0.5, F.softplus(rate_raw) + 0.5)
    lam = post.rsample((4,))
    ll = D.Poisson(lam).log_prob(counts).mean(0).sum()
    kl = D.kl_divergence(post, D.Gamma(torch.tensor(1.0), torch.tensor(1.0))).sum()
    elbo = ll - kl
    gopt.zero_grad()
    (-elbo).backward()
    gopt.step()
    print("gamma", step, round(elbo.item(), 4), lam.grad_fn.name(), lam.shape,
          round(shape_raw.grad.abs().sum().item(), 5))
print(counts[:6].tolist(), post.mean[:4].detach().numpy().round(4))

X = torch.randn(30, 3)
Y = X @ torch.tensor([[1.0], [-2.0], [0.5]]) + D.StudentT(torch.tensor(2.5)).sample((30, 1))
head = nn.Linear(3, 1)
df = nn.Parameter(torch.tensor([2.0]))
log_scale = nn.Parameter(torch.zeros(1))
ropt = torch.optim.SGD([*head.parameters(), df, log_scale], lr=0.02)
for step in range(5):
    lik = D.StudentT(df, head(X), log_scale.exp())
    var = lik.variance
    loss = -lik.log_prob(Y).mean() + 1e-3 * var.clamp(max=50.0).mean()
    ropt.zero_grad()
    loss.backward()
    ropt.step()
    with torch.no_grad():
        df.clamp_(min=1.1)
    print("studentt", step, round(loss.item(), 5), var.grad_fn.name(), var[:2, 0].tolist(),
          df.grad.numpy().round(5), round(df.item(), 5), lik.mean.grad_fn.name())

clicks = (torch.rand(5, 30) < torch.tensor([[0.1], [0.3], [0.5], [0.7], [0.2]])).float()
a_raw, b_raw = nn.Parameter(torch.zeros(5)), nn.Parameter(torch.zeros(5))
bopt = torch.optim.Adam([a_raw, b_raw], lr=0.1)
flat_prior = D.Uniform(torch.zeros(5), torch.ones(5))
for step in range(5):
    q_rate = D.Beta(F.softplus(a_raw) + 1, F.softplus(b_raw) + 1)
    rate = q_rate.rsample((8,)).clamp(1e-4, 1 - 1e-4)
    ll = D.Bernoulli(probs=rate.unsqueeze(-1)).log_prob(clicks).sum(-1).mean(0)
    kl = D.kl_divergence(q_rate, flat_prior)
    loss = (kl - ll).sum()
    bopt.zero_grad()
    loss.backward()
    bopt.step()
    print("beta", step, round(loss.item(), 4), kl.grad_fn.name(), rate.grad_fn.name(),
          q_rate.mode.grad_fn.name(), round(a_raw.grad.norm().item(), 5))
print(q_rate.mean.detach().numpy().round(4), clicks.mean(1).numpy().round(4))
print("done")
