# In-place writes that training loops make into buffers and through views: a MoCo-style
# queue of keys overwritten by slice with a pointer, a momentum encoder updated by
# mul_/add_ under no_grad, a class-center memory updated by index_put_ with accumulate and
# index_add_, counts by scatter_reduce (sum, mean, amax with include_self), masked_scatter_
# into a view of a buffer, running statistics by lerp_ into a view, and a loss that reads
# the buffers (their writes after the forward are no error: they are not saved) and one
# that reads a buffer written after it was saved (torch's version error).
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(29)
D, K, C = 6, 10, 3

encoder_q = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, D))
encoder_k = copy.deepcopy(encoder_q)
for p in encoder_k.parameters():
    p.requires_grad = False
queue = F.normalize(torch.randn(K, D), dim=1)
ptr = 0
centers = torch.zeros(C, D)
counts = torch.zeros(C)
stats = torch.zeros(2, D)
opt = torch.optim.SGD(encoder_q.parameters(), lr=0.1, momentum=0.9)
for step in range(4):
    x, labels = torch.randn(4, 5), torch.randint(0, C, (4,))
    q = F.normalize(encoder_q(x + 0.1 * torch.randn_like(x)), dim=1)
    with torch.no_grad():
        for pq, pk in zip(encoder_q.parameters(), encoder_k.parameters()):
            pk.data.mul_(0.9).add_(pq.data, alpha=0.1)
        k = F.normalize(encoder_k(x), dim=1)
    l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
    l_neg = torch.einsum("nc,kc->nk", q, queue.clone().detach())
    logits = torch.cat([l_pos, l_neg], dim=1) / 0.2
    center_loss = (q - centers[labels]).pow(2).sum(1).mean()
    loss = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long)) + 0.1 * center_loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        queue[ptr:ptr + 4] = k
        ptr = (ptr + 4) % 8
        centers.index_put_((labels,), q.detach() * 0.1, accumulate=True)
        counts.index_add_(0, labels, torch.ones(4))
        stats[0].lerp_(q.mean(0), 0.1)
        stats[1].lerp_(q.var(0), 0.1)
    print(step, round(loss.item(), 5), ptr, counts.tolist(), centers.abs().sum().item())
print(queue[:4, :3], stats)

src = torch.randn(8, 3, requires_grad=True)
index = torch.tensor([0, 1, 0, 2, 1, 0, 2, 2])
for reduce in ("sum", "mean", "amax", "prod"):
    base = torch.ones(3, 3)
    out = base.scatter_reduce(0, index.unsqueeze(1).expand(-1, 3), src * 2, reduce=reduce, include_self=True)
    g, = torch.autograd.grad(out.pow(2).sum(), src)
    print(reduce, out[0], g[:3])
board = torch.zeros(4, 4)
mask = torch.tensor([[True, False, True, False], [False, True, False, True]])
vals = torch.arange(1.0, 9.0, requires_grad=True)
canvas = board.clone().requires_grad_(False) + 0 * vals.sum()
canvas[1:3].masked_scatter_(mask, vals * 10)
canvas.sum().backward()
print(canvas, vals.grad)
w = torch.randn(5, 2, requires_grad=True)
acc = torch.zeros(3, 2)
acc.index_put_((torch.tensor([0, 2, 0, 1, 0]),), w * w, accumulate=True)
acc[:, 1].mul_(3)
acc.sum().backward()
print(acc, w.grad)
h = torch.randn(3, requires_grad=True) * 1
saved = h.sigmoid()
h2 = h * h
h.add_(1)
try:
    (saved.sum() + h2.sum()).backward()
except RuntimeError as e:
    print("RuntimeError:", str(e)[:110])
print("done")
