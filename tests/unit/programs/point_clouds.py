# Point clouds as PointNet and DGCNN tutorials train on them: a shared Linear over points,
# max pooling over points (its gradient to one point of a tie, amax's split over ties),
# a k-nearest-neighbour edge feature by cdist + topk + gather, a chamfer distance by min
# over both dims, a T-net's orthogonality penalty, random rotations under a seed; in-place
# centering of a view, a hook on the pooled features; voxel downsampling (unique rows,
# scatter_reduce amax/mean) and farthest point sampling; no_grad evaluation, a state_dict
# and a batch sharded over the workers.
import math

import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)
B, N, K = 4, 10, 3


def rotations(n, gen):
    angle = torch.rand(n, generator=gen) * 2 * math.pi
    c, s = angle.cos(), angle.sin()
    zero, one = torch.zeros(n), torch.ones(n)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], 1).view(n, 3, 3)


def knn_features(x, k):
    """Each point's k nearest neighbours (itself left out) as (neighbour - point, point)."""
    dist = torch.cdist(x, x)
    idx = dist.topk(k + 1, dim=-1, largest=False).indices[..., 1:]
    neighbours = torch.gather(x.unsqueeze(1).expand(-1, x.size(1), -1, -1), 2,
                              idx.unsqueeze(-1).expand(-1, -1, -1, x.size(-1)))
    centre = x.unsqueeze(2).expand_as(neighbours)
    return torch.cat([neighbours - centre, centre], -1), idx


def chamfer(a, b):
    d = torch.cdist(a, b).pow(2)
    return d.min(dim=2).values.mean(1) + d.min(dim=1)[0].mean(1)


class PointNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.tnet = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 9))
        self.edge = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2))
        self.shared = nn.Sequential(nn.Linear(16, 32), nn.LayerNorm(32), nn.ReLU())
        self.head = nn.Linear(32, 2)
        self.decoder = nn.Linear(32, N * 3)
        nn.init.zeros_(self.tnet[2].weight)
        with torch.no_grad():
            self.tnet[2].bias.copy_(torch.eye(3).flatten())

    def forward(self, pts):
        t = self.tnet(pts).max(dim=1).values.view(-1, 3, 3)
        pts = torch.bmm(pts, t)
        edges, idx = knn_features(pts, K)
        local = self.edge(edges).max(dim=2)[0]
        glob, arg = self.shared(local).max(dim=1)
        return self.head(glob), self.decoder(glob).view(-1, N, 3), t, arg, idx


gen = torch.Generator().manual_seed(9)
clouds = torch.randn(B, N, 3, generator=gen)
clouds[:, :, 2] *= 0.1                              # flat plates ...
clouds[2:, :, 2] += clouds[2:, :, 0].pow(2)         # ... and bowls
labels = torch.tensor([0, 0, 1, 1])
clouds.sub_(clouds.mean(1, keepdim=True))           # centred in place
print(clouds.abs().mean(1), clouds._version)

model = PointNet()
pooled = []
model.shared.register_forward_hook(lambda m, i, o: pooled.append(o.detach().amax(1)[0, :3]))
opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.99))
for step in range(5):
    rotated = torch.bmm(clouds, rotations(B, gen))
    logits, recon, t, arg, idx = model(rotated)
    eye = torch.eye(3).expand(B, 3, 3)
    reg = (torch.bmm(t, t.transpose(1, 2)) - eye).pow(2).sum((1, 2)).mean()
    ce, ch = F.cross_entropy(logits, labels), chamfer(recon, rotated).mean()
    loss = ce + 0.1 * ch + 1e-3 * reg
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(ce.item(), 5), round(ch.item(), 5), round(reg.item(), 6), arg[0, :5].tolist(), idx[1, 0].tolist())
print(pooled[-1], model.tnet[2].bias.grad, model.edge[0].weight.grad[:2])

# max over points: the gradient goes to one point of a tie; amax splits it
x = torch.tensor([[[1.0, 2.0], [3.0, 2.0], [3.0, 0.0]]], requires_grad=True)
x.max(dim=1).values.sum().backward()
g_max = x.grad.clone()
x.grad = None
x.amax(dim=1).sum().backward()
g_amax = x.grad.clone()
x.grad.zero_()
x.max().backward()
print(g_max, g_amax, x.grad, x.max(dim=1))
y = torch.tensor([[0.5, 0.5, 0.1], [2.0, 1.0, 2.0]], requires_grad=True)
y.max(1, keepdim=True)[0].sum().backward()
print(y.grad, torch.max(y, 1).indices, y.argmax(1), y.amin(1), torch.min(y, 0))

# cdist's gradient at equal points (0 distance) and the p=1 / p=inf norms
a = torch.tensor([[0.0, 0.0], [1.0, 1.0]], requires_grad=True)
b = torch.tensor([[0.0, 0.0], [2.0, 1.0], [1.0, 1.0]])
for p in (2.0, 1.0, float("inf"), 3.0):
    a.grad = None
    d = torch.cdist(a, b, p=p)
    d.sum().backward()
    print(p, d, a.grad)
chamfer_ab = chamfer(a.unsqueeze(0), b.unsqueeze(0))
print(chamfer_ab, chamfer_ab.grad_fn.name())

# knn with ties: topk's indices, gather's gradient into repeated indices
grid = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]], requires_grad=True)
feats, idx = knn_features(grid, 2)
feats.pow(2).sum().backward()
print(idx[0], torch.cdist(grid, grid)[0, 0], grid.grad)

# voxel downsampling: points binned by unique rows, features pooled per voxel by
# scatter_reduce (amax's gradient split over ties, mean), farthest point sampling, normals
# (a degenerate one: torch's cross of a vector with itself is its rounding error, not 0)
cloud = (clouds[2] * 2).requires_grad_()
cells = torch.div(cloud.detach() + 8, 4.0, rounding_mode="floor").long()
voxels, which, counts = torch.unique(cells, dim=0, return_inverse=True, return_counts=True)
idx3 = which.unsqueeze(1).expand(-1, 3)
peak = torch.zeros(len(voxels), 3).scatter_reduce(0, idx3, cloud.abs().round(), "amax", include_self=False)
mean = torch.zeros(len(voxels), 3).scatter_reduce(0, idx3, cloud, "mean", include_self=False)
(peak.sum() + mean.pow(2).sum()).backward()
print(voxels.shape, which, counts, peak[:3], mean[:2], cloud.grad[:4])
print(torch.unique(cloud.detach().round()), torch.unique(cloud.detach().round(), sorted=False).shape)
far = torch.full((N,), float("inf"))
chosen = [0]
for _ in range(3):
    far = torch.minimum(far, (clouds[2] - clouds[2, chosen[-1]]).pow(2).sum(1))
    chosen.append(int(far.argmax()))
normals = F.normalize(torch.linalg.cross(clouds[2, 1:] - clouds[2, :1], -clouds[2, :1], dim=1), dim=1)
edges = clouds[2, 1:4] - clouds[2, :1]
degenerate = torch.linalg.cross(edges, edges[1:2], dim=1)  # (row 1 crosses itself: a rounding error)
print(degenerate[1].abs().max() < 1e-6, F.normalize(degenerate, dim=1).norm(dim=1))
print(chosen, normals[:2], torch.gather(clouds[2], 0, torch.tensor([[1, 0, 2]]), sparse_grad=False))

# evaluation without grad, a state_dict, a batch sharded over the workers
model.eval()
with torch.no_grad():
    logits, recon, t, _, _ = model(clouds)
    print(logits.softmax(1), logits.argmax(1).eq(labels).float().mean(), t.requires_grad)
state = model.state_dict()
print(len(state), sorted(state)[:4], state["tnet.2.bias"])
placed = shard(clouds, 0)
placed_model = PointNet()
placed_model.load_state_dict(state)
out, _, _, arg, _ = placed_model(placed)
ce = F.cross_entropy(out, shard(labels, 0))
ce.backward()
print(full(out).detach(), round(ce.item(), 5), full(arg), placed_model.head.bias.grad)
print("done")
