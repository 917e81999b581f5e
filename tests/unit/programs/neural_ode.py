# Neural ODEs as the papers' small reference scripts write them: a time-conditioned vector
# field (t concatenated to the state by expand/cat) integrated by a hand-written RK4 and
# trained through every step on a spiral's trajectory (AdamW + CosineAnnealingLR, the
# loss over torch.stack of the states); the Jacobian of the flow map by
# autograd.functional.jacobian; then a continuous normalizing flow in 2-D (FFJORD with the
# exact divergence by autograd.grad per dimension, create_graph=True) whose log-likelihood
# is integrated alongside the state, and a sample pushed back through the flow.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)


class ODEFunc(nn.Module):
    def __init__(self, dim=2, hidden=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.Tanh(), nn.Linear(hidden, dim))
        self.nfe = 0

    def forward(self, t, x):
        self.nfe += 1
        return self.net(torch.cat([x, t.expand(x.shape[0], 1)], dim=1))


def rk4(func, x0, ts):
    xs, x = [x0], x0
    for t0, t1 in zip(ts[:-1], ts[1:]):
        h = t1 - t0
        k1 = func(t0, x)
        k2 = func(t0 + h / 2, x + h / 2 * k1)
        k3 = func(t0 + h / 2, x + h / 2 * k2)
        k4 = func(t1, x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        xs.append(x)
    return torch.stack(xs)


ts = torch.linspace(0, 2, 9)
theta = ts * math.pi / 2
true = torch.stack([theta.cos() * (1 - 0.2 * ts), theta.sin() * (1 - 0.2 * ts)], dim=-1)
x0 = true[:1] + 0.01 * torch.randn(1, 2)
func = ODEFunc()
opt = torch.optim.AdamW(func.parameters(), lr=2e-2, weight_decay=1e-3)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=12)
for it in range(12):
    pred = rk4(func, x0, ts)
    loss = (pred.squeeze(1) - true).abs().mean()
    opt.zero_grad()
    loss.backward()
    gnorm = nn.utils.clip_grad_norm_(func.parameters(), 1.0)
    opt.step()
    sched.step()
    if it % 4 == 3:
        print("ode", it, round(loss.item(), 5), round(gnorm.item(), 5), func.nfe,
              round(sched.get_last_lr()[0], 6))
print(pred.shape, pred.grad_fn.name(), pred[-1].detach().numpy().round(4))

flow_map = lambda x: rk4(func, x.view(1, 2), ts[:5])[-1].view(2)
jac = torch.autograd.functional.jacobian(flow_map, true[0].clone())
print("jacobian", jac.shape, jac.numpy().round(4), round(torch.linalg.det(jac).item(), 5))


class CNF(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = ODEFunc(hidden=12)

    def forward(self, t, state):
        z, _ = state[:, :2], state[:, 2:]
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.requires_grad_()
            dz = self.f(t, z)
            div = sum(torch.autograd.grad(dz[:, i].sum(), z, create_graph=True)[0][:, i]
                      for i in range(2))
        return torch.cat([dz, -div.unsqueeze(1)], dim=1)


cnf = CNF()
copt = torch.optim.Adam(cnf.parameters(), lr=1e-2)
data = torch.randn(32, 2) * torch.tensor([0.3, 1.0]) + torch.tensor([1.0, 0.0])
t_back = torch.tensor([1.0, 0.5, 0.0])
base = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
for it in range(5):
    state = torch.cat([data, torch.zeros(32, 1)], dim=1)
    out = rk4(cnf, state, t_back)[-1]
    z, delta_logp = out[:, :2], out[:, 2]
    nll = -(base.log_prob(z) - delta_logp).mean()
    copt.zero_grad()
    nll.backward()
    copt.step()
    print("cnf", it, round(nll.item(), 5), round(delta_logp.mean().item(), 5),
          round(cnf.f.net[0].weight.grad.norm().item(), 5))
with torch.no_grad():
    z = base.sample((4,))
    print(z.requires_grad)
samples = rk4(cnf, torch.cat([z, torch.zeros(4, 1)], 1), t_back.flip(0))[-1]
print(samples.requires_grad, samples.grad_fn.name(), samples[:, :2].detach().numpy().round(4))
print("done")
