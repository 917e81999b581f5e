# Advanced indexing as users write it: boolean masks read and assigned with broadcasting,
# index_put_ with accumulate (a histogram, a sparse update), scatter_reduce for segment
# statistics, gather on views (top-k per row, a transposed batch), writes through views of
# a non-leaf with their CopySlices graphs printed, keys with None, True and several
# ellipses, and the errors of the wrong shapes and dtypes.
import distgrad as torch  # PyTorch: import torch


def tryp(f):
    try:
        print(f())
    except Exception as e:
        print(type(e).__name__, str(e)[:200])


def chain(t, depth=3):
    """The grad_fn chain as nested names (what users print to see a graph)."""
    def walk(fn, d):
        if fn is None:
            return "None"
        kids = ", ".join(walk(c, d - 1) for c, _ in fn.next_functions) if d else "..."
        return f"{fn.name()}({kids})" if fn.next_functions else fn.name()
    return walk(t.grad_fn, depth)


torch.manual_seed(0)
x = torch.randn(4, 5)
mask = x > 0
print(mask.sum(), x[mask].shape, x[mask.any(1)].shape)
y = x.clone()
y[mask] = 0.0
y[~mask] *= 2
print(y)
rows = x.abs().sum(1) > 4
z = x.clone()
z[rows] = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])  # one row broadcast into every row picked
z[:, torch.tensor([True, False, True, False, False])] = torch.tensor([[-1.0], [-2.0], [-3.0], [-4.0]])
print(z)
tryp(lambda: z.__setitem__(rows, torch.ones(3)))
tryp(lambda: x[torch.ones(4, 4, dtype=torch.bool)])

# index_put_ with accumulate: a histogram, and a sparse update with repeated rows
bins = torch.tensor([0, 2, 2, 1, 0, 2])
hist = torch.zeros(3).index_put_((bins,), torch.ones(6), accumulate=True)
print(hist, torch.bincount(bins, minlength=3))
emb = torch.zeros(4, 3)
ids = torch.tensor([1, 3, 1])
emb.index_put_((ids,), torch.arange(9.0).reshape(3, 3), accumulate=True)
print(emb)
emb.index_put_((ids, torch.tensor([0, 0, 2])), torch.tensor(10.0))
print(emb)
tryp(lambda: emb.index_put_((ids,), torch.ones(3, 3, dtype=torch.float64)))
tryp(lambda: emb.index_put_((ids,), torch.ones(2, 3), accumulate=True))

# scatter_reduce: per-segment sums, means, maxima, with gradients for sum and mean
seg = torch.tensor([0, 1, 0, 2, 1, 0])
vals = torch.tensor([1.0, 5.0, 3.0, -2.0, 4.0, 2.0], requires_grad=True)
for reduce in ("sum", "mean", "amax", "amin", "prod"):
    out = torch.zeros(3).scatter_reduce(0, seg, vals, reduce=reduce, include_self=False)
    print(reduce, out.detach(), chain(out, 1))
mean = torch.zeros(3).scatter_reduce(0, seg, vals, reduce="mean", include_self=False)
(mean * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
print(vals.grad)
tryp(lambda: torch.zeros(3).scatter_reduce(0, seg, vals, reduce="median"))

# gather on views: the top-2 of each row of a transposed matrix, and per-sample picks
w = torch.randn(5, 4, requires_grad=True)
wt = w.t()
top = wt.topk(2, dim=1).indices
picked = wt.gather(1, top)
print(picked.shape, chain(picked), wt.is_contiguous())
picked.sum().backward()
print(w.grad)
logits = torch.randn(3, 6, requires_grad=True)
target = torch.tensor([5, 0, 2])
nll = -logits.log_softmax(1)[:, 1:].gather(1, (target - 1).clamp(min=0)[:, None])
print(nll.squeeze(1), chain(nll, 2))
tryp(lambda: wt.gather(1, top.float()))
tryp(lambda: wt.gather(1, top[:, None]))

# writes through views of a non-leaf: what the graph looks like, and the gradients
base = torch.arange(12.0, requires_grad=True)
h = base.reshape(3, 4) * 1
h[0].mul_(2)
print(chain(h))
h[:, 1:3] += torch.ones(3, 2)
h[1, torch.tensor([0, 3])] = torch.tensor([-1.0, -2.0])
h.t()[2].clamp_(max=5.0)
g = torch.ones(4, requires_grad=True)
h[2].addcmul_(g, g, value=0.5)
print(chain(h, 2))
(h * h).sum().backward()
print(base.grad.reshape(3, 4), g.grad)

# None, True and several ellipses in keys, read and written
v = torch.arange(24.0).reshape(2, 3, 4)
print(v[..., None].shape, v[None, ..., 0].shape, v[..., True].shape, v[True, ..., False].shape)
print(v[..., 1, ...].shape, v[0, ..., 2, ...], v[1, ..., ...].sum())
u = torch.zeros(2, 3)
u[..., True] = torch.tensor([[1.0], [2.0], [3.0]])
print(u)
u[True, ...] = torch.tensor([7.0, 8.0, 9.0])
u[..., None] = torch.tensor([[4.0], [5.0], [6.0]])
print(u)
tryp(lambda: u.__setitem__((..., True), torch.ones(2, 1)))
tryp(lambda: u.__setitem__((..., False), torch.ones(5)))
tryp(lambda: v[..., ..., 0])
leaf = torch.zeros(2, 3, requires_grad=True)
tryp(lambda: leaf.__setitem__((..., True), 1.0))
q = leaf * 1
q[..., True] = torch.full((3, 1), 2.0, requires_grad=True)
print(chain(q, 1))
print(torch.quantile(torch.arange(5.0), torch.tensor([0.25, 0.5])))
tryp(lambda: torch.quantile(torch.arange(5.0), [0.5]))
tryp(lambda: torch.arange(4).clamp_(0.5, 2.5))

# the same on a worker: a mask write, a write through a view, index_put_ with accumulate
p = torch.arange(12.0).to(W[1]).requires_grad_()
ph = p.reshape(3, 4) * 1
ph[ph > 8] = 0.0
ph[1].mul_(torch.tensor([1.0, 2.0, 3.0, 4.0]).to(W[1]))
ph[..., True] = ph[..., None] + 1
ph.index_put_((torch.tensor([0, 0]).to(W[1]),), torch.ones(2, 4).to(W[1]), accumulate=True)
print(ph.detach().cpu(), chain(ph, 2))
(ph * ph).sum().backward()
print(p.grad.cpu(), ph.t()[1:].gather(1, torch.tensor([[0], [2], [1]]).to(W[1])).detach().cpu())
print("done")
