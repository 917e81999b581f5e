# Autograd through autograd: a physics-informed net (u_x, u_xx by autograd.grad with
# create_graph) trained by LBFGS with a strong-Wolfe line search; a MAML inner step with
# functional_call; a policy gradient (Categorical samples, discounted returns).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(4)
torch.set_default_dtype(torch.float64)
u = nn.Sequential(nn.Linear(2, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 1))
xt = torch.rand(20, 2, requires_grad=True)


def residual():
    out = u(xt)
    du = torch.autograd.grad(out.sum(), xt, create_graph=True)[0]
    u_x, u_t = du[:, :1], du[:, 1:]
    u_xx = torch.autograd.grad(u_x.sum(), xt, create_graph=True)[0][:, :1]
    return u_t - 0.1 * u_xx + out * u_x


opt = torch.optim.LBFGS(u.parameters(), lr=0.5, max_iter=5, history_size=5,
                        line_search_fn="strong_wolfe")


def closure():
    opt.zero_grad()
    loss = residual().pow(2).mean() + (u(torch.zeros(1, 2)) - 1).pow(2).sum()
    loss.backward()
    return loss


for step in range(3):
    print("pinn", step, opt.step(closure).item())
print(opt.state_dict()["state"][0]["n_iter"])
torch.set_default_dtype(torch.float32)

net = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))
meta = torch.optim.Adam(net.parameters(), lr=1e-2)
for it in range(3):
    meta.zero_grad()
    total = 0.0
    for task in range(2):
        amp, phase = torch.rand(1) * 2 + 0.5, torch.rand(1) * 3
        xs, xq = torch.rand(5, 1) * 6 - 3, torch.rand(5, 1) * 6 - 3
        ys, yq = amp * torch.sin(xs + phase), amp * torch.sin(xq + phase)
        params = dict(net.named_parameters())
        inner = F.mse_loss(torch.func.functional_call(net, params, (xs,)), ys)
        grads = torch.autograd.grad(inner, list(params.values()), create_graph=True)
        fast = {k: p - 0.1 * g for (k, p), g in zip(params.items(), grads)}
        outer = F.mse_loss(torch.func.functional_call(net, fast, (xq,)), yq)
        outer.backward()
        total += outer.item()
    meta.step()
    print("maml", it, round(total, 5))

policy = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
popt = torch.optim.Adam(policy.parameters(), lr=1e-2)
for episode in range(3):
    log_probs, rewards, entropies = [], [], []
    state = torch.randn(4)
    for t in range(6):
        dist = torch.distributions.Categorical(logits=policy(state))
        action = dist.sample()
        log_probs.append(dist.log_prob(action))
        entropies.append(dist.entropy())
        rewards.append(float(action.item() == t % 3))
        state = state * 0.9 + torch.randn(4) * 0.1
    returns, g = [], 0.0
    for r in reversed(rewards):
        g = r + 0.99 * g
        returns.insert(0, g)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + 1e-8)
    loss = -(torch.stack(log_probs) * returns).sum() - 0.01 * torch.stack(entropies).sum()
    popt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
    popt.step()
    print("pg", episode, rewards, round(loss.item(), 5))
print("done")
