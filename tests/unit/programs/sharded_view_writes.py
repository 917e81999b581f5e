# A user's matrix code with its tensors split over workers (distgrad: two workers; torch: a
# copy): a kernel matrix's diagonal jittered in place, attention scores viewed into heads
# and a head masked in place through the view, a flattened parameter buffer written
# through its flat view, the nodes the writes leave (CopySlices), version counters, the
# error of writing one of several outputs of a view that returns many (refused before
# any write, an as_strided of one too), a write to one shard that makes every shard's
# saved values stale, an empty slice's layout, and the gradients that reach the leaves.
# `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(31)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


# -- a kernel matrix, jittered on its diagonal ----------------------------------------------------
pts = torch.randn(6, 2, requires_grad=True)
scale = torch.tensor(0.7, requires_grad=True)
d2 = torch.cdist(pts, pts).pow(2)
K = shard((-d2 / (2 * scale ** 2)).exp(), 0)
K.diagonal().add_(1e-2)
K.diagonal(1).mul_(0.5)
print(K.grad_fn.name(), K._version, full(K.detach()).diagonal(), full(K.detach())[0, 1])
L = torch.linalg.cholesky(full(K))
y = torch.arange(6.)
alpha = torch.cholesky_solve(y.unsqueeze(1), L)
nll = 0.5 * (y.unsqueeze(0) @ alpha).squeeze() + L.diagonal().log().sum()
nll.backward()
print(round(nll.item(), 5), pts.grad, scale.grad)

# -- attention scores viewed into heads, a head masked through the view ----------------------------
q = torch.randn(4, 8, requires_grad=True)
k = torch.randn(4, 8, requires_grad=True)
for dim in (0, 1):
    q.grad = k.grad = None
    scores = shard(q @ k.t(), dim)
    heads = scores.view(2, 2, 4)
    heads[1].mul_(0.0)
    heads[:, :, 0].sub_(1.0)
    print(dim, scores.grad_fn.name(), heads.grad_fn.name(), scores._version, heads._version)
    flat = scores.reshape(16)
    flat[3:6].fill_(2.0)
    print(scores.grad_fn.name(), flat.grad_fn.name(), flat._version, flat.is_contiguous())
    attn = full(scores).softmax(-1)
    (attn * torch.arange(16.).view(4, 4)).sum().backward()
    print(q.grad[1], k.grad[2])

# -- a flat parameter buffer, written through views ------------------------------------------------
buf = shard(torch.zeros(12), 0).requires_grad_()
print(attempt(lambda: buf.view(3, 4).add_(1)))
work = buf * 1
w_view, b_view = work[:8].view(2, 4), work[8:]
w_view.t()[1].fill_(3.0)
b_view.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
print(work.grad_fn.name(), w_view.grad_fn.name(), b_view.grad_fn.name(), work._version)
(work * torch.linspace(0, 1, 12)).sum().backward()
print(full(work.detach()), full(buf.grad))

# -- one of several views written: refused before it writes -----------------------------------------
m = torch.randn(6, 6, requires_grad=True)
sm = shard(m * 1, 0)
part = sm.diagonal().split(2)[1]
print(attempt(lambda: part.mul_(2)))
print(sm._version, part._version, full(sm.detach()).diagonal()[2:4].sub(full(part.detach())).abs().max())
chunk = sm.t().chunk(3)[2]
print(attempt(lambda: chunk.zero_()), sm._version)
with torch.no_grad():
    chunk.zero_()
print(sm._version, full(sm.detach())[:, 4:].abs().sum())
print(attempt(lambda: (part * 1).sum().backward()))
for t in (m * 1, shard(m * 1, 0), shard(m * 1, 1)):
    window = t.unbind(0)[1].as_strided((3, 3), (6, 1), 2)
    print(attempt(lambda: window.mul_(2)), t._version)

# -- a write to one shard's columns: every shard's saved values are stale ---------------------------
cols = shard(torch.arange(12.).view(3, 4), 1).requires_grad_()
sq = cols * cols
with torch.no_grad():
    cols.t()[0].zero_()
print(cols._version, attempt(lambda: sq.sum().backward()), cols.grad)
cols.exp().sum().backward()
print(full(cols.grad)[2], cols._version)

# -- empty slices keep torch's layout ---------------------------------------------------------------
e = sm.detach()[..., None].permute(2, 1, 0)[1:]
print(e.shape, e.stride(), e.is_contiguous(), sm.t()[6:].shape, sm.t()[6:].is_contiguous())
print("done")
