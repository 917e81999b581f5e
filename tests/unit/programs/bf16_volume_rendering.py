# Volume rendering in bfloat16 as memory-bound NeRF-style scripts write it, on a worker (`W`):
# a small MLP (made bfloat16 by .to(torch.bfloat16)) giving densities and colours along rays,
# alphas 1 - exp(-sigma * delta), each sample's transmittance as the product of the earlier
# (1 - alpha) (prod over slices, and the whole ray's by prod(-1)), weights written into a
# preallocated buffer through views (versions, the buffer's base), the rendered colour's
# loss in float32, one step of SGD on the bfloat16 weights; a product over a long ray (four
# vectors and more) and a geometric mean of probabilities by prod, with their gradients.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(17)
R, S = 4, 6

field = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 4)).to(torch.bfloat16).to(W[0])
opt = torch.optim.SGD(field.parameters(), lr=0.5)
points = torch.randn(R, S, 3).to(torch.bfloat16).to(W[0])
delta = torch.full((R, S), 0.3, dtype=torch.bfloat16).to(W[0])
target = torch.rand(R, 3).to(W[0])
for step in range(2):
    raw = field(points)
    sigma, rgb = F.softplus(raw[..., 0]), torch.sigmoid(raw[..., 1:])
    alpha = 1 - torch.exp(-sigma * delta)
    print(step, raw.dtype, alpha.dtype, type(alpha.grad_fn).__name__, alpha.shape)
    keep = 1 - alpha
    weights = torch.empty(R, S, dtype=torch.bfloat16, device=alpha.device)
    weights[:, 0] = alpha[:, 0]
    for s in range(1, S):
        weights[:, s] = alpha[:, s] * keep[:, :s].prod(-1)
    print(weights._version, type(weights.grad_fn).__name__, weights.is_leaf, weights.requires_grad)
    through = keep.prod(-1)
    color = (weights.unsqueeze(-1) * rgb).sum(1)
    loss = F.mse_loss(color.float(), target) + through.float().mean()
    opt.zero_grad()
    loss.backward()
    g = field[0].weight.grad
    print(round(loss.item(), 4), g.dtype, [round(v, 4) for v in g.float().flatten()[:6].tolist()])
    print([round(v, 4) for v in through.float().tolist()], [round(v, 4) for v in weights[0].float().tolist()])
    opt.step()
    print(field[0].weight._version, round(field[2].bias.float().sum().item(), 4))

# a long ray, a transposed one and a geometric mean of probabilities
long = (torch.rand(3, 70) * 0.2 + 0.85).to(torch.bfloat16).to(W[0]).requires_grad_()
p = long.prod(-1)
p.sum().backward()
print([round(v, 5) for v in p.float().tolist()], [round(v, 5) for v in long.grad[0, :5].float().tolist()])
cols = long.detach().t()
print(cols.is_contiguous(), cols._is_view(), [round(v, 5) for v in cols.prod(0).float().tolist()])
probs = torch.softmax(torch.randn(5, 8), -1).to(torch.bfloat16).requires_grad_()
geo = probs.prod(-1, keepdim=True) ** (1 / 8)
geo.sum().backward()
print(geo.shape, type(geo.grad_fn).__name__, [round(v, 6) for v in geo.float().flatten().tolist()])
print([round(v, 4) for v in probs.grad[1].float().tolist()])
print(torch.prod(probs[:2], 0, dtype=torch.float32).dtype, round(probs.prod().float().item(), 40) == 0)
print("done")
