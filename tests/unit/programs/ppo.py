# PPO on a toy bandit-like environment: an actor-critic with a Categorical head and a
# tanh-squashed Normal head (Independent over the action dims, TransformedDistribution
# with TanhTransform), rollouts sampled under a seed into preallocated buffers, GAE
# written backwards in place into an advantage buffer, advantage normalisation, the
# clipped ratio objective with clamp, a smooth-L1 value loss, an entropy bonus,
# clip_grad_norm_; an A2C pass writing values into buffers that keep their history (the
# edges torch's setitem gives them); a soft update of a target critic by
# p.data.mul_().add_() and by lerp_ under no_grad; then a replay buffer indexed by index
# tensors on a worker.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
D = torch.distributions
torch.manual_seed(11)

OBS, ACTS, CONT, T, GAMMA, LAM, CLIP = 4, 3, 2, 6, 0.9, 0.95, 0.2


class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(OBS, 16), nn.Tanh())
        self.logits = nn.Linear(16, ACTS)
        self.mu = nn.Linear(16, CONT)
        self.log_std = nn.Parameter(torch.full((CONT,), -0.5))
        self.value = nn.Linear(16, 1)

    def forward(self, obs):
        h = self.body(obs)
        cat = D.Categorical(logits=self.logits(h))
        base = D.Independent(D.Normal(self.mu(h), self.log_std.exp()), 1)
        squashed = D.TransformedDistribution(D.Normal(self.mu(h), self.log_std.exp()),
                                             [D.transforms.TanhTransform(cache_size=1)])
        return cat, base, squashed, self.value(h).squeeze(-1)


net = ActorCritic()
target_value = nn.Linear(16, 1)
target_value.load_state_dict(net.value.state_dict())
opt = torch.optim.Adam(net.parameters(), lr=3e-3)

obs_buf = torch.zeros(T, OBS)
act_buf = torch.zeros(T, dtype=torch.long)
cont_buf = torch.zeros(T, CONT)
logp_buf = torch.zeros(T)
rew_buf = torch.zeros(T)
val_buf = torch.zeros(T + 1)
done_buf = torch.zeros(T)
adv_buf = torch.zeros(T)

gen = torch.Generator().manual_seed(3)
obs = torch.randn(OBS, generator=gen)
with torch.no_grad():
    for t in range(T):
        cat, base, squashed, v = net(obs)
        a = cat.sample()
        u = base.sample()
        obs_buf[t] = obs
        act_buf[t] = a
        cont_buf[t] = u
        logp_buf[t] = cat.log_prob(a) + base.log_prob(u)
        val_buf[t] = v
        rew_buf[t] = 1.0 - (a.float() - 1).abs() - u.pow(2).sum() * 0.1
        done_buf[t] = float(t == 3)
        obs = obs * 0.8 + torch.randn(OBS, generator=gen) * 0.3
    val_buf[T] = net(obs)[3]
print(act_buf, cont_buf, logp_buf)
print(rew_buf, obs_buf._version, val_buf._version)

last = 0.0
for t in reversed(range(T)):
    nonterm = 1.0 - done_buf[t]
    delta = rew_buf[t] + GAMMA * val_buf[t + 1] * nonterm - val_buf[t]
    last = delta + GAMMA * LAM * nonterm * last
    adv_buf[t] = last
returns = adv_buf + val_buf[:T]
adv = (adv_buf - adv_buf.mean()) / (adv_buf.std() + 1e-8)
print(adv_buf, adv_buf._version, returns, adv.mean().abs() < 1e-6)

for epoch in range(3):
    cat, base, squashed, v = net(obs_buf)
    logp = cat.log_prob(act_buf) + base.log_prob(cont_buf)
    ratio = (logp - logp_buf).exp()
    surr = torch.min(ratio * adv, ratio.clamp(1 - CLIP, 1 + CLIP) * adv)
    entropy = cat.entropy().mean() + base.entropy().mean()
    v_loss = F.smooth_l1_loss(v, returns, beta=0.5)
    loss = -surr.mean() + 0.5 * v_loss - 0.01 * entropy
    opt.zero_grad()
    loss.backward()
    norm = nn.utils.clip_grad_norm_(net.parameters(), max_norm=0.5)
    opt.step()
    clipped = ((ratio - 1).abs() > CLIP).float().mean()
    print(epoch, round(loss.item(), 5), round(norm.item(), 5), clipped.item(), ratio.grad_fn.name())
print(net.log_std.grad, net.mu.bias.detach(), logp.grad_fn.name(), surr.grad_fn.name())

# an A2C-style pass: values and log-probs written step by step into buffers that keep
# their history, n-step returns read back from them
vbuf, lbuf = torch.zeros(T), torch.zeros(T, 2)
for t in range(T):
    cat, base, squashed, v = net(obs_buf[t])
    vbuf[t] = v
    lbuf[t] = torch.stack([cat.log_prob(act_buf[t]), base.log_prob(cont_buf[t])])
bad = lbuf.clone()
bad[:, 1] = bad[:, 1].clamp(-5.0, 5.0)  # (clamp saved the column it then overwrites)
try:
    bad.sum().backward()
except RuntimeError as e:
    print("RuntimeError", str(e)[:150])
lbuf[:, 1] = lbuf[:, 1].clone().clamp(-5.0, 5.0)
edges = lambda b: [n.name() if n else None for n, _ in b.grad_fn.next_functions]
print(edges(vbuf), edges(lbuf), vbuf._version, lbuf._version)
a2c = -(lbuf.sum(1) * (returns - vbuf).detach()).mean() + (returns - vbuf).pow(2).mean()
opt.zero_grad()
a2c.backward()
print(round(a2c.item(), 5), net.value.bias.grad, net.logits.bias.grad)

# the squashed Normal's samples, log_prob and rsample gradient
torch.manual_seed(4)
cat, base, squashed, v = net(obs_buf[:2])
y = squashed.rsample()
lp = squashed.log_prob(y)
print(y, lp, y.grad_fn.name(), lp.grad_fn.name())
lp.sum().backward()
print(net.log_std.grad)
bern = D.Bernoulli(logits=torch.tensor([0.3, -1.2, 2.0]))
b = bern.sample((2,))
print(b, bern.log_prob(b), bern.entropy(), bern.probs)
try:
    D.Categorical(probs=torch.tensor([0.5, -0.5]))
except ValueError as e:
    print("ValueError", str(e)[:70])

# soft updates of the target critic, two ways
tau = 0.1
for tp, p in zip(target_value.parameters(), net.value.parameters()):
    tp.data.mul_(1 - tau).add_(tau * p.data)
print(target_value.bias, target_value.weight._version)
with torch.no_grad():
    for tp, p in zip(target_value.parameters(), net.value.parameters()):
        tp.lerp_(p, tau)
print(target_value.bias, target_value.weight._version, target_value.weight.requires_grad)
try:
    target_value.weight.lerp_(net.value.weight, tau)
except RuntimeError as e:
    print("RuntimeError", str(e)[:80])

# a replay buffer on a worker, sampled by index tensors
cap = 10
states = torch.zeros(cap, OBS).to(W[1])
actions = torch.zeros(cap, dtype=torch.long).to(W[1])
rewards = torch.zeros(cap).to(W[1])
ptr = 0
for i in range(13):
    idx = ptr % cap
    states[idx] = torch.randn(OBS).to(W[1])
    actions[idx] = i % ACTS
    rewards[idx] = i * 0.5
    ptr += 1
sample = torch.randint(0, cap, (5,), generator=torch.Generator().manual_seed(1)).to(W[1])
s, a, r = states[sample], actions[sample], rewards[sample]
print(sample.cpu(), a.cpu(), r.cpu(), states._version)
q_net = nn.Linear(OBS, ACTS).to(W[1])
q = q_net(s).gather(1, a.unsqueeze(1)).squeeze(1)
loss = F.huber_loss(q, r.detach(), delta=1.0)
loss.backward()
nn.utils.clip_grad_value_(q_net.parameters(), 0.05)
print(round(loss.item(), 5), q_net.weight.grad.cpu(), q.grad_fn.name())
print(q_net.bias.grad.abs().max().item() <= 0.05, q_net.weight.grad.shape)
print("done")
