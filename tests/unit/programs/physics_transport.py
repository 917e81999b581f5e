# Differentiable simulation and optimal transport as research code writes them: a
# mass-spring cloth stepped by semi-implicit Euler with its state kept in preallocated
# buffers written in place under a loop (positions pinned through index_fill_ and a mask),
# the initial velocity fitted by backpropagating through the whole rollout; entropic
# optimal transport by log-domain Sinkhorn iterations (logsumexp, in-place updates of the
# potentials under no_grad, then a differentiable last sweep), its plan's marginals and the
# transport cost's gradient with respect to the points; and quantization-aware training
# with a straight-through estimator written three ways (detach trick, custom Function,
# round with a hook), fake-quantized weights of a small model trained by SGD with momentum.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)

# --- mass-spring rollout -------------------------------------------------------------
n = 5
grid = torch.stack(torch.meshgrid(torch.arange(n, dtype=torch.float32),
                                  torch.arange(n, dtype=torch.float32), indexing="ij"), -1)
rest = grid.reshape(-1, 2) * 0.5
idx = torch.arange(n * n).reshape(n, n)
springs = torch.cat([torch.stack([idx[:, :-1].reshape(-1), idx[:, 1:].reshape(-1)], 1),
                     torch.stack([idx[:-1].reshape(-1), idx[1:].reshape(-1)], 1),
                     torch.stack([idx[:-1, :-1].reshape(-1), idx[1:, 1:].reshape(-1)], 1)])
rest_len = (rest[springs[:, 0]] - rest[springs[:, 1]]).norm(dim=1)
pinned = torch.zeros(n * n, dtype=torch.bool)
pinned[idx[0, [0, -1]]] = True
print("springs", springs.shape, rest_len[:4], pinned.nonzero().flatten())


def rollout(v0, steps=12, dt=0.05, k=40.0, device="cpu"):
    rest_, springs_, pinned_, rest_len_ = (t.to(device) for t in (rest, springs, pinned, rest_len))
    x = rest_.clone()
    v = v0.to(device).clone()
    v.index_fill_(0, pinned_.nonzero().flatten(), 0.0)
    trail = torch.empty(steps, n * n, 2, device=device)
    for t in range(steps):
        d = x[springs_[:, 1]] - x[springs_[:, 0]]
        length = d.norm(dim=1, keepdim=True).clamp_min(1e-6)
        f_spring = k * (length - rest_len_[:, None]) * d / length
        force = torch.zeros_like(x).index_add_(0, springs_[:, 0], f_spring)
        force.index_add_(0, springs_[:, 1], -f_spring)
        force[:, 1] -= 9.8
        v = v + dt * force
        v[pinned_] = 0.0
        v *= 0.98
        x = x + dt * v
        trail[t] = x
    return x, trail


target = rest + torch.tensor([0.3, -0.4])
v0 = torch.zeros(n * n, 2, requires_grad=True)
opt = torch.optim.Adam([v0], lr=0.1)
for it in range(4):
    x, trail = rollout(v0)
    loss = (x - target)[~pinned].pow(2).mean() + 1e-3 * trail.diff(dim=0).pow(2).sum()
    opt.zero_grad()
    loss.backward()
    print("rollout", it, round(loss.item(), 5), round(v0.grad.norm().item(), 5),
          v0.grad[pinned].abs().sum().item(), trail.requires_grad, trail.grad_fn is not None)
    opt.step()
print("v0", v0.detach()[:3], v0._version)
placed_v0 = v0.detach().clone().to(W[0]).requires_grad_()
x, trail = rollout(placed_v0, device=W[1])
loss = (x.cpu() - target)[~pinned].pow(2).mean() + 1e-3 * trail.diff(dim=0).pow(2).sum().cpu()
loss.backward()
print("placed rollout", round(loss.item(), 5), placed_v0.grad.norm().item(), trail.device == x.device)

# --- entropic optimal transport --------------------------------------------------------
a_pts = torch.randn(6, 2, requires_grad=True)
b_pts = (torch.randn(7, 2) + 1.0).requires_grad_()
a_w = torch.full((6,), 1 / 6)
b_w = torch.softmax(torch.randn(7), 0)


def sinkhorn(xa, xb, eps=0.1, iters=40):
    C = torch.cdist(xa, xb).pow(2)
    f, g = torch.zeros(len(xa)), torch.zeros(len(xb))
    with torch.no_grad():
        for _ in range(iters):
            f.copy_(-eps * torch.logsumexp((g[None] - C) / eps + b_w.log()[None], 1))
            g.copy_(-eps * torch.logsumexp((f[:, None] - C) / eps + a_w.log()[:, None], 0))
    f = -eps * torch.logsumexp((g[None] - C) / eps + b_w.log()[None], 1)
    g = -eps * torch.logsumexp((f[:, None] - C) / eps + a_w.log()[:, None], 0)
    log_plan = (f[:, None] + g[None] - C) / eps + a_w.log()[:, None] + b_w.log()[None]
    plan = log_plan.exp()
    return (plan * C).sum(), plan


cost, plan = sinkhorn(a_pts, b_pts)
cost.backward()
print("ot", round(cost.item(), 5), plan.sum(1), plan.sum(0) - b_w)
print("ot grads", a_pts.grad.norm().item(), b_pts.grad.sum(0))
moved = a_pts.detach().clone().requires_grad_()
for _ in range(3):
    c, _ = sinkhorn(moved, b_pts.detach())
    (gx,) = torch.autograd.grad(c, moved)
    with torch.no_grad():
        moved.sub_(gx, alpha=2.0)
print("flow", round(c.item(), 5), moved.mean(0))
sharded_a = shard(a_pts.detach().clone(), 0).requires_grad_()
cost_s, plan_s = sinkhorn(sharded_a, b_pts.detach())
cost_s.backward()
print("sharded ot", round(cost_s.item(), 5), full(plan_s).sum(1), full(sharded_a.grad).norm().item())


# --- quantization-aware training ------------------------------------------------------
class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.bound = 127 * scale
        return torch.round(x / scale).clamp(-128, 127) * scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= ctx.bound), None


def fake_quant_detach(w, scale):
    q = (w / scale).round().clamp(-128, 127) * scale
    return w + (q - w).detach()


def fake_quant_hook(w, scale):
    q = w + 0 * w  # the identity's gradient; its values overwritten below
    with torch.no_grad():
        q.copy_((w / scale).round().clamp(-128, 127) * scale)
    return q


class QLinear(nn.Linear):
    def __init__(self, *args, how, **kwargs):
        super().__init__(*args, **kwargs)
        self.how = how

    def forward(self, x):
        scale = self.weight.detach().abs().max() / 127
        if self.how == "function":
            w = RoundSTE.apply(self.weight, scale)
        elif self.how == "detach":
            w = fake_quant_detach(self.weight, scale)
        else:
            w = fake_quant_hook(self.weight, scale)
        return F.linear(x, w, self.bias)


xs = torch.randn(32, 6)
ys = (xs[:, :2].sum(1, keepdim=True) > 0).float()
for how in ("function", "detach", "inplace"):
    torch.manual_seed(2)
    model = nn.Sequential(QLinear(6, 8, how=how), nn.ReLU(), QLinear(8, 1, how=how))
    sgd = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True)
    for step in range(5):
        try:
            loss = F.binary_cross_entropy_with_logits(model(xs), ys)
            sgd.zero_grad()
            loss.backward()
            sgd.step()
        except RuntimeError as e:
            print(how, "error", str(e).split("\n")[0])
            break
    else:
        w = model[0].weight
        levels = torch.unique((w / (w.abs().max() / 127)).round()).numel()
        print(how, round(loss.item(), 5), levels, sgd.state[w]["momentum_buffer"].norm().item())
print("done")
