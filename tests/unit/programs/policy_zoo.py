# Policy-gradient heads as RL code writes them, beyond PPO's: REINFORCE with a learned
# baseline and a Categorical head on a worker (rewards-to-go by flip/cumsum, the score
# function's gradient); a Beta policy for bounded actions (rsample vs sample, actions
# clamped off the boundary, log_prob's gradients to both concentrations); a full-covariance
# Gaussian policy whose scale_tril comes from the network (tril plus a softplus diagonal),
# its KL to the old policy for early stopping; a discrete SAC head (OneHotCategorical
# probabilities, the soft value, automatic entropy-temperature tuning); then expand and
# batch_shape of the heads over a batch of environments, and the errors a wrong action
# shape or an action outside the support raises.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
D = torch.distributions
torch.manual_seed(12)

dev = W[1]
OBS, ACTS, T = 4, 3, 6
policy = nn.Sequential(nn.Linear(OBS, 16), nn.ReLU(), nn.Linear(16, ACTS)).to(dev)
baseline = nn.Linear(OBS, 1).to(dev)
opt = torch.optim.Adam([*policy.parameters(), *baseline.parameters()], lr=1e-2)
for episode in range(3):
    obs = torch.randn(T, OBS, device=dev)
    pi = D.Categorical(logits=policy(obs))
    actions = pi.sample()
    rewards = (actions == 2).float() - 0.1 * obs[:, 0]
    to_go = rewards.flip(0).cumsum(0).flip(0)
    values = baseline(obs).squeeze(-1)
    adv = (to_go - values).detach()
    loss = -(pi.log_prob(actions) * adv).mean() + F.mse_loss(values, to_go) - 0.01 * pi.entropy().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("reinforce", episode, actions.tolist(), round(loss.item(), 4), pi.logits.device == obs.device,
          to_go.cpu().numpy().round(3), round(policy[0].weight.grad.norm().item(), 5))

net = nn.Linear(OBS, 2 * 2)
bopt = torch.optim.SGD(net.parameters(), lr=0.05)
low, high = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 2.0])
for step in range(3):
    obs = torch.randn(5, OBS)
    alpha, beta = (F.softplus(net(obs)) + 1.0).chunk(2, dim=-1)
    pi = D.Beta(alpha, beta)
    u = pi.rsample().clamp(1e-6, 1 - 1e-6)
    action = low + (high - low) * u
    q = -(action - torch.tensor([0.3, 1.5])).pow(2).sum(-1)
    sampled = pi.sample()
    lp = pi.log_prob(sampled)
    loss = -(q.mean()) - 0.1 * (lp.sum(-1) * q.detach()).mean()
    bopt.zero_grad()
    loss.backward()
    bopt.step()
    print("beta", step, round(loss.item(), 4), u.grad_fn.name(), sampled.requires_grad, lp.grad_fn.name(),
          pi.mean.detach().numpy().round(4)[0], round(net.weight.grad.abs().sum().item(), 5))
print(pi.batch_shape, pi.event_shape, pi.entropy().detach().numpy().round(4)[:2],
      pi.log_prob(torch.tensor([0.0, 1.0])).detach().numpy().round(3)[:2])


class GaussianPolicy(nn.Module):
    def __init__(self, d=2):
        super().__init__()
        self.d = d
        self.mu = nn.Linear(OBS, d)
        self.chol = nn.Linear(OBS, d * d)

    def forward(self, obs):
        raw = self.chol(obs).view(-1, self.d, self.d)
        diag = F.softplus(raw.diagonal(dim1=-2, dim2=-1)) + 1e-3
        tril = raw.tril(-1) + torch.diag_embed(diag)
        return D.MultivariateNormal(self.mu(obs), scale_tril=tril)


gp = GaussianPolicy()
gopt = torch.optim.Adam(gp.parameters(), lr=5e-3)
obs = torch.randn(8, OBS)
with torch.no_grad():
    old = gp(obs)
    acts = old.sample()
    adv = torch.randn(8)
for epoch in range(4):
    new = gp(obs)
    ratio = (new.log_prob(acts) - old.log_prob(acts)).exp()
    kl = D.kl_divergence(old, new).mean()
    loss = -(ratio * adv).mean()
    gopt.zero_grad()
    loss.backward()
    gopt.step()
    print("mvn", epoch, round(loss.item(), 5), round(kl.item(), 6), new.scale_tril.grad_fn.name(),
          round(gp.chol.weight.grad.norm().item(), 5), new.entropy().detach().numpy().round(4)[:3])
    if kl.item() > 0.01:
        print("early stop at", epoch)
        break
print(new.batch_shape, new.event_shape, new.covariance_matrix[0].detach().numpy().round(4),
      new.variance[0].detach().numpy().round(4), new.mode.shape)

logits_net = nn.Linear(OBS, ACTS)
q_net = nn.Linear(OBS, ACTS)
log_alpha = torch.zeros((), requires_grad=True)
aopt = torch.optim.Adam([log_alpha], lr=0.05)
popt = torch.optim.Adam(logits_net.parameters(), lr=0.01)
target_entropy = -0.98 * torch.log(torch.tensor(1.0 / ACTS))
for step in range(3):
    obs = torch.randn(6, OBS)
    pi = D.OneHotCategorical(logits=logits_net(obs))
    probs, log_probs = pi.probs, pi.logits
    q = q_net(obs).detach()
    alpha = log_alpha.exp()
    soft_v = (probs * (q - alpha.detach() * log_probs)).sum(-1)
    policy_loss = (probs * (alpha.detach() * log_probs - q)).sum(-1).mean()
    entropy = pi.entropy()
    alpha_loss = -(log_alpha * (target_entropy - entropy).detach()).mean()
    popt.zero_grad()
    aopt.zero_grad()
    (policy_loss + alpha_loss).backward()
    popt.step()
    aopt.step()
    a = pi.sample()
    print("sac", step, round(policy_loss.item(), 5), round(alpha_loss.item(), 5), round(log_alpha.item(), 5),
          soft_v.detach().numpy().round(3)[:2], a.argmax(-1).tolist(), entropy.grad_fn.name(),
          round(target_entropy.item(), 5))

envs = 4
heads = {"categorical": D.Categorical(logits=torch.zeros(ACTS)),
         "beta": D.Independent(D.Beta(torch.ones(2), torch.ones(2)), 1),
         "mvn": D.MultivariateNormal(torch.zeros(2), scale_tril=torch.eye(2)),
         "onehot": D.OneHotCategorical(logits=torch.zeros(ACTS))}
for name, head in heads.items():
    wide = head.expand((envs,))
    draws = wide.sample((2,))
    print(name, wide.batch_shape, wide.event_shape, tuple(draws.shape), tuple(wide.log_prob(draws).shape))
checked = {"categorical": D.Categorical(logits=torch.zeros(envs, ACTS), validate_args=True),
           "beta": D.Beta(torch.ones(envs), torch.ones(envs), validate_args=True),
           "mvn": D.MultivariateNormal(torch.zeros(envs, 2), torch.eye(2), validate_args=True),
           "onehot": D.OneHotCategorical(logits=torch.zeros(envs, ACTS), validate_args=True)}
bad_actions = {"categorical": [torch.tensor([0, 1, 3, 2]), torch.zeros(envs, 1, 2, dtype=torch.long)],
               "beta": [torch.tensor([0.5, 1.0, 0.2, 0.3]), torch.full((3,), 0.5)],
               "mvn": [torch.zeros(envs, 3), torch.zeros(5, 2)],
               "onehot": [torch.eye(ACTS)[[0, 1, 2, 2]] * 2, torch.zeros(envs, ACTS + 1)]}
for name, actions in bad_actions.items():
    for a in actions:
        try:
            print(name, checked[name].log_prob(a).shape)
        except (ValueError, RuntimeError, IndexError) as e:
            print(name, type(e).__name__, e)
print("done")
