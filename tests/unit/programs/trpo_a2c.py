# Policy-gradient methods beyond PPO: an A2C update (shared body, RMSprop, n-step returns
# written backwards into a buffer through done masks, orthogonal init), a TRPO step
# (the surrogate's gradient, Fisher-vector products by double backward of the mean KL
# between Categoricals, conjugate gradient, a backtracking line search through
# parameters_to_vector / vector_to_parameters), prioritized replay drawn by multinomial
# with importance weights, a straight-through Bernoulli and gumbel_softmax, and a critic
# on a worker whose Hessian-vector product comes from torch.autograd.functional.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
D = torch.distributions
torch.manual_seed(10)


class A2C(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.pi = nn.Linear(8, 3)
        self.v = nn.Linear(8, 1)
        nn.init.orthogonal_(self.pi.weight, gain=0.01)
        nn.init.constant_(self.pi.bias, 0.0)

    def forward(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h).squeeze(-1)


net = A2C()
print(net.pi.weight, net.pi.weight._version)
opt = torch.optim.RMSprop(net.parameters(), lr=7e-4, alpha=0.99, eps=1e-5)
obs = torch.randn(5, 2, 4)
masks = torch.tensor([[1., 1.], [1., 0.], [1., 1.], [0., 1.], [1., 1.]])
rewards = torch.randn(5, 2)
for update in range(2):
    logits, values = net(obs)
    dist = D.Categorical(logits=logits)
    actions = dist.sample()
    with torch.no_grad():
        next_v = net(obs[-1] * 0.9)[1]
    returns = torch.empty(6, 2)
    returns[-1] = next_v
    for t in reversed(range(5)):
        returns[t] = rewards[t] + 0.99 * returns[t + 1] * masks[t]
    adv = returns[:-1] - values
    loss = -(adv.detach() * dist.log_prob(actions)).mean() + 0.5 * adv.pow(2).mean() \
        - 0.01 * dist.entropy().mean()
    opt.zero_grad()
    loss.backward()
    gn = nn.utils.clip_grad_norm_(net.parameters(), 0.5)
    opt.step()
    print(update, actions.tolist(), round(loss.item(), 5), round(gn.item(), 5), returns._version)
print(returns[:, 0], opt.state[net.pi.bias]["square_avg"], logits.grad_fn.name())
logp = F.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
print(torch.allclose(logp, dist.log_prob(actions)), F.one_hot(actions, 3).sum((0, 1)))
norm_adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
print(norm_adv.mean().abs() < 1e-6, norm_adv.grad_fn.name(), round(adv.var(correction=0).item(), 5))

# TRPO
policy = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
states, acts, advs = torch.randn(16, 4), torch.randint(0, 3, (16,)), torch.randn(16)
with torch.no_grad():
    old = D.Categorical(logits=policy(states))
old_logp = old.log_prob(acts)
params = list(policy.parameters())


def surrogate():
    d = D.Categorical(logits=policy(states))
    return (torch.exp(d.log_prob(acts) - old_logp) * advs).mean()


def fisher_vector(v):
    kl = D.kl_divergence(old, D.Categorical(logits=policy(states))).mean()
    grads = torch.autograd.grad(kl, params, create_graph=True)
    flat = torch.cat([g.view(-1) for g in grads])
    hv = torch.autograd.grad((flat * v).sum(), params)
    return torch.cat([h.contiguous().view(-1) for h in hv]) + 0.1 * v


loss = surrogate()
g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(loss, params)])
x, r, p = torch.zeros_like(g), g.clone(), g.clone()
rr = r @ r
for i in range(5):
    Ap = fisher_vector(p)
    alpha = rr / (p @ Ap)
    x += alpha * p
    r -= alpha * Ap
    new_rr = r @ r
    p = r + new_rr / rr * p
    rr = new_rr
shs = 0.5 * x @ fisher_vector(x)
full_step = x * torch.sqrt(0.01 / shs)
print(g.shape, round(g.norm().item(), 5), x[:4], round(shs.item(), 5), x._version)
old_params = torch.nn.utils.parameters_to_vector(policy.parameters())
print(old_params.shape, old_params.grad_fn.name())
for frac in [1.0, 0.5, 0.25]:
    torch.nn.utils.vector_to_parameters(old_params + frac * full_step, policy.parameters())
    with torch.no_grad():
        new_loss = surrogate()
        kl = D.kl_divergence(old, D.Categorical(logits=policy(states))).mean()
    print(frac, round(new_loss.item(), 5), round(kl.item(), 6), policy[0].weight.is_leaf)
    if kl < 0.01 and new_loss > loss:
        break
print(type(policy[0].weight).__name__, policy[2].bias)
try:
    torch.nn.utils.vector_to_parameters(old_params[:5], policy.parameters())
except RuntimeError as e:
    print("RuntimeError", e)

# prioritized replay, straight-through and relaxed samples
prio = torch.rand(10) + 0.01
probs = prio ** 0.6 / (prio ** 0.6).sum()
idx = torch.multinomial(probs, 4)
w = (10 * probs[idx]) ** -0.4
w /= w.max()
prio[idx] = torch.tensor([0.5, 0.1, 0.2, 0.9])
print(idx, w, prio._version)
logit = torch.randn(4, requires_grad=True)
b = D.Bernoulli(logits=logit)
s = b.sample()
st = s + b.probs - b.probs.detach()
(st * torch.arange(4.)).sum().backward()
print(s, st.grad_fn.name(), logit.grad)
print(F.gumbel_softmax(torch.zeros(2, 3), tau=0.5, hard=True), D.Gumbel(0., 1.).sample((3,)))

# a critic on a worker: its value's Hessian-vector product in the input
critic = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1)).to(W[0])
s0 = torch.tensor([0.5, -0.2, 0.1]).to(W[0])
f = lambda s: critic(s).sum()
val, hv = torch.autograd.functional.hvp(f, s0, torch.ones(3).to(W[0]))
jac = torch.autograd.functional.jacobian(f, s0)
print(round(val.item(), 5), hv.cpu(), jac.cpu(), hv.device == s0.device)
print("done")
