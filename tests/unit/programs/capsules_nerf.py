# Capsule networks and NeRF-style rendering: squash, dynamic routing by agreement (softmax of
# routing logits updated in a loop, the intermediate agreements detached), a margin loss;
# positional encodings of sin/cos at powers of two, volume rendering with cumprod of
# (1 - alpha) made exclusive with cat, opacity exactly 1 in one ray (cumprod through a zero,
# differentiated twice), hierarchical sampling by searchsorted into a CDF of the weights
# (right=True, out_int32, a sorter), and gathered samples; a renderer's rays sharded over
# the workers, and a compiled compositing step on a worker (`shard`, `full`, `W`,
# `compiled`: the runner's, test_programs.py).
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(71)


def squash(s, dim=-1, eps=1e-8):
    sq = (s * s).sum(dim, keepdim=True)
    return sq / (1 + sq) * s / torch.sqrt(sq + eps)


class Capsules(nn.Module):
    def __init__(self, n_in=6, d_in=4, n_out=3, d_out=5, iters=3):
        super().__init__()
        self.W = nn.Parameter(torch.randn(1, n_in, n_out, d_out, d_in) * 0.3)
        self.iters = iters

    def forward(self, u):
        u_hat = (self.W @ u[:, :, None, :, None]).squeeze(-1)  # (b, n_in, n_out, d_out)
        u_detached = u_hat.detach()
        b = torch.zeros(u.shape[0], u.shape[1], self.W.shape[2])
        for i in range(self.iters):
            c = F.softmax(b, dim=2)
            if i == self.iters - 1:
                return squash((c.unsqueeze(-1) * u_hat).sum(1)), c
            v = squash((c.unsqueeze(-1) * u_detached).sum(1))
            b = b + (u_detached * v.unsqueeze(1)).sum(-1)


def margin_loss(v, target, m_plus=0.9, m_minus=0.1, lam=0.5):
    lengths = v.norm(dim=-1)
    onehot = F.one_hot(target, lengths.shape[1]).float()
    loss = onehot * F.relu(m_plus - lengths) ** 2 + lam * (1 - onehot) * F.relu(lengths - m_minus) ** 2
    return loss.sum(1).mean(), lengths


caps = Capsules()
u = squash(torch.randn(8, 6, 4))
target = torch.randint(0, 3, (8,))
opt = torch.optim.Adam(caps.parameters(), lr=0.05)
for step in range(4):
    v, c = caps(u)
    loss, lengths = margin_loss(v, target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), lengths.argmax(1).tolist(), c.sum(2)[0, :3], caps.W.grad.norm().item())
with torch.no_grad():
    v, c = caps(u)
print(v.norm(dim=-1)[:2], c[0, 0], c.requires_grad, torch.allclose(c.sum(2), torch.ones(8, 6)))
s = torch.tensor([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]], requires_grad=True)
squash(s).sum().backward()
print(squash(s.detach()), s.grad)


def encode(x, n_freqs=4):
    freqs = 2.0 ** torch.arange(n_freqs) * math.pi
    xf = x[..., None] * freqs  # (..., 3, n_freqs)
    return torch.cat([x, torch.sin(xf).flatten(-2), torch.cos(xf).flatten(-2)], -1)


class Field(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(27, 16), nn.ReLU(), nn.Linear(16, 4))

    def forward(self, pts):
        out = self.net(encode(pts))
        return F.softplus(out[..., 0]), torch.sigmoid(out[..., 1:])


def render(field, origins, dirs, t):
    pts = origins[:, None, :] + dirs[:, None, :] * t[..., None]
    sigma, rgb = field(pts)
    delta = torch.cat([t[:, 1:] - t[:, :-1], torch.full_like(t[:, :1], 1e10)], -1)
    alpha = 1 - torch.exp(-sigma * delta)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha + 1e-10], -1), -1)[:, :-1]
    weights = alpha * trans
    return (weights[..., None] * rgb).sum(1), weights


def sample_pdf(bins, weights, n):
    pdf = (weights + 1e-5) / (weights + 1e-5).sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    uniform = torch.linspace(0.05, 0.95, n).expand(cdf.shape[0], n).contiguous()
    idx = torch.searchsorted(cdf, uniform, right=True)
    below, above = (idx - 1).clamp(min=0), idx.clamp(max=cdf.shape[1] - 1)
    cdf_g = torch.stack([cdf.gather(1, below), cdf.gather(1, above)], -1)
    bins_g = torch.stack([bins.gather(1, below), bins.gather(1, above)], -1)
    denom = cdf_g[..., 1] - cdf_g[..., 0]
    denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
    frac = (uniform - cdf_g[..., 0]) / denom
    return bins_g[..., 0] + frac * (bins_g[..., 1] - bins_g[..., 0]), idx


field = Field()
origins, dirs = torch.randn(6, 3) * 0.1, F.normalize(torch.randn(6, 3), dim=-1)
target_rgb = torch.rand(6, 3)
t = torch.linspace(0.5, 2.5, 8).expand(6, 8)
opt = torch.optim.Adam(field.parameters(), lr=0.01)
for step in range(3):
    rgb, weights = render(field, origins, dirs, t)
    with torch.no_grad():
        mids = 0.5 * (t[:, 1:] + t[:, :-1])
        fine_t, idx = sample_pdf(mids, weights[:, 1:-1], 6)
    fine_t, _ = torch.sort(torch.cat([t, fine_t], -1), -1)
    rgb_fine, _ = render(field, origins, dirs, fine_t)
    loss = F.mse_loss(rgb, target_rgb) + F.mse_loss(rgb_fine, target_rgb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 6), idx[0].tolist(), weights.sum(-1)[:3], fine_t.requires_grad)
print(encode(torch.tensor([[0.25, -0.5, 1.0]]))[0, :9])

alpha = torch.tensor([[0.5, 1.0, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4]], requires_grad=True)
keep = 1 - alpha
keep.register_hook(lambda g: print("keep grad", g))
trans = torch.cumprod(keep, -1)
excl = torch.cat([torch.ones_like(trans[:, :1]), trans[:, :-1]], -1)
(alpha * excl).sum().backward()
print(trans, excl, alpha.grad)
kept = (1 - alpha.detach()).requires_grad_()
g, = torch.autograd.grad(torch.cumprod(kept, -1).sum(), kept, create_graph=True)
print(g, torch.autograd.grad(g.pow(2).sum(), kept)[0])
cdf = torch.tensor([[0.0, 0.2, 0.2, 0.7, 1.0]])
vals = torch.tensor([[0.2, 0.0, 0.99, 1.0, 0.5]])
print(torch.searchsorted(cdf, vals), torch.searchsorted(cdf, vals, right=True, out_int32=True),
      torch.searchsorted(cdf[0], torch.tensor(0.2), side="right"))
unsorted = torch.tensor([0.7, 0.0, 1.0, 0.2])
order = torch.argsort(unsorted)
print(torch.searchsorted(unsorted, torch.tensor([0.1, 0.75]), sorter=order), torch.bucketize(vals, cdf[0]))

rays = shard(torch.randn(8, 3), 0)
dirs8 = shard(F.normalize(torch.randn(8, 3), dim=-1), 0)
t8 = shard(torch.linspace(0.5, 2.5, 8).expand(8, 8).contiguous(), 0)
rgb8, w8 = render(field, rays, dirs8, t8)
rgb8.sum().backward()
print(full(rgb8)[:2], full(w8).sum(-1)[:4], field.net[0].bias.grad[:4])

sigma = torch.randn(4, 6).to(W[0]).requires_grad_()


@compiled
def composite(sig, z):
    alpha = 1 - torch.exp(-F.relu(sig))
    w = alpha * torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha], -1), -1)[:, :-1]
    cdf = torch.cumsum(w / w.sum(-1, keepdim=True), -1)
    idx = torch.searchsorted(cdf.detach(), torch.full((sig.shape[0], 2), 0.5).to(W[0]))
    depth = (w * z).sum(-1)
    depth.sum().backward()
    return depth.detach(), idx


for i in range(3):
    depth, idx = composite(sigma, torch.linspace(1, 2, 6).to(W[0]) * (i + 1))
    print(i, depth.cpu(), idx.cpu().tolist(), sigma.grad.cpu()[0])
print("done")
