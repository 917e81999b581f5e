# Models defined by a scalar's gradient wrt its inputs: a Hamiltonian neural network
# (dH/dq, dH/dp by autograd.grad with create_graph, the symplectic field by chunk/cat,
# fitted to a spring's derivatives, then a leapfrog rollout whose energy drift is
# measured); an energy-based model trained by contrastive divergence with SGLD samples
# (x.requires_grad_(), the energy's input gradient, in-place noise and clamp_ under
# no_grad, a replay buffer refreshed by torch.where); and sliced score matching
# (Hutchinson's v^T (ds/dx) v by a second autograd.grad); then the curvature of a frozen
# CNN's class score wrt its features (adaptive average pooling into a linear head) and the
# input Laplacian of its log-sum-exp through conv, ReLU and max-pooling; and the input
# Hessian of a frozen piecewise-linear net (PReLU, RReLU in eval), zero but defined.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(23)


class HNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.H = nn.Sequential(nn.Linear(2, 24), nn.Softplus(), nn.Linear(24, 1, bias=False))

    def forward(self, x):
        if not x.requires_grad:
            x = x.requires_grad_(True)
        dH = torch.autograd.grad(self.H(x).sum(), x, create_graph=self.training)[0]
        dHdq, dHdp = dH.chunk(2, dim=1)
        return torch.cat([dHdp, -dHdq], dim=1)


q, p = torch.rand(64, 1) * 2 - 1, torch.rand(64, 1) * 2 - 1
x = torch.cat([q, p], 1)
dx = torch.cat([p, -q], 1) + 0.01 * torch.randn(64, 2)
hnn = HNN()
opt = torch.optim.Adam(hnn.parameters(), lr=3e-2)
for step in range(15):
    loss = F.mse_loss(hnn(x.clone()), dx)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if step % 5 == 4:
        print("hnn", step, round(loss.item(), 6), hnn.H[0].weight.grad.abs().max().item())
print(x.requires_grad, x.grad, hnn.H[2].weight.grad.shape)

hnn.eval()
state = torch.tensor([[0.5, 0.0]], requires_grad=True)
energies, h = [], 0.1
for t in range(20):
    qd, pd = state.detach().unbind(1)
    p_half = pd + h / 2 * hnn(state)[:, 1].detach()
    mid = torch.stack([qd + h * p_half, p_half], dim=1).requires_grad_()
    p_new = p_half + h / 2 * hnn(mid)[:, 1].detach()
    state = torch.stack([mid[:, 0].detach(), p_new], dim=1).requires_grad_()
    energies.append(hnn.H(state).item())
e = torch.tensor(energies)
print("leapfrog", state.detach().numpy().round(4), round((e.max() - e.min()).item(), 6))


class Energy(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(2, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU(),
                               nn.Linear(32, 1))

    def forward(self, x):
        return self.f(x).squeeze(-1)


def sgld(energy, x, steps=10, step_size=0.05, noise=0.01):
    energy.requires_grad_(False)
    x = x.clone().requires_grad_(True)
    for _ in range(steps):
        g, = torch.autograd.grad(energy(x).sum(), x)
        with torch.no_grad():
            x.sub_(step_size * g)
            x.add_(noise * torch.randn_like(x))
            x.clamp_(-3, 3)
    energy.requires_grad_(True)
    return x.detach()


E = Energy()
eopt = torch.optim.Adam(E.parameters(), lr=1e-3, betas=(0.0, 0.999))
buffer = torch.rand(100, 2) * 6 - 3
real = torch.randn(256, 2) * 0.4 + torch.tensor([1.0, -1.0])
for it in range(6):
    batch = real[it * 32:(it + 1) * 32]
    idx = torch.randint(0, 100, (32,))
    fresh = torch.rand(32, 1) < 0.05
    init = torch.where(fresh, torch.rand(32, 2) * 6 - 3, buffer[idx])
    neg = sgld(E, init)
    buffer[idx] = neg
    e_pos, e_neg = E(batch), E(neg)
    loss = e_pos.mean() - e_neg.mean() + 0.1 * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
    eopt.zero_grad()
    loss.backward()
    eopt.step()
    print("ebm", it, round(loss.item(), 5), round(e_pos.mean().item(), 5),
          round(e_neg.mean().item(), 5), neg.requires_grad, e_neg.grad_fn.name())
print(buffer.mean(0).numpy().round(4), all(p.requires_grad for p in E.parameters()))

score = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))
sopt = torch.optim.SGD(score.parameters(), lr=0.05, momentum=0.9)
for it in range(5):
    xb = real[:64].clone().requires_grad_(True)
    s = score(xb)
    v = torch.randn_like(xb)
    vjv = (torch.autograd.grad((s * v).sum(), xb, create_graph=True)[0] * v).sum(1)
    loss = (vjv + 0.5 * (s * v).sum(1) ** 2).mean()
    sopt.zero_grad()
    loss.backward()
    sopt.step()
    print("ssm", it, round(loss.item(), 5), xb.grad is None or round(xb.grad.norm().item(), 5))

cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(4, 6, 3, padding=1), nn.Tanh())
head = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 3))
for m in (cnn, head):
    m.eval().requires_grad_(False)
img = torch.randn(2, 1, 8, 8, requires_grad=True)
feats = cnn(img)
acts = feats.detach().requires_grad_()
score = head(acts)[torch.arange(2), score_idx := head(acts).argmax(1)].sum()
g_acts, = torch.autograd.grad(score, acts, create_graph=True)
hvp, = torch.autograd.grad((g_acts * acts.detach().sign()).sum(), acts)
print("curvature", score_idx.tolist(), g_acts.requires_grad, g_acts.grad_fn.name(),
      hvp.abs().sum().item(), g_acts[0, :, 0, 0].detach().numpy().round(5))
g_img, = torch.autograd.grad(head(feats).logsumexp(1).sum(), img, create_graph=True)
lap = sum(torch.autograd.grad(g_img[:, 0, i, i].sum(), img, retain_graph=True)[0][:, 0, i, i]
          for i in range(8))
print(g_img.requires_grad, g_img.grad_fn.name(), lap.detach().numpy().round(5),
      g_img.abs().mean().item())

pwl = nn.Sequential(nn.Linear(2, 8), nn.PReLU(8), nn.Linear(8, 8), nn.RReLU(), nn.Linear(8, 1))
pwl.eval().requires_grad_(False)
pts = torch.randn(4, 2, requires_grad=True)
g_pts, = torch.autograd.grad(pwl(pts).sum(), pts, create_graph=True)
hess_rows = [torch.autograd.grad(g_pts[:, i].sum(), pts, retain_graph=True)[0] for i in range(2)]
print("piecewise linear", g_pts.requires_grad, g_pts.grad_fn.name(),
      g_pts.detach().numpy().round(5), torch.stack(hess_rows, 1).abs().max().item())
print("done")
