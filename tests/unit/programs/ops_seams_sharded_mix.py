# Tensor ops scripts mix, with sharded and placed operands beside plain ones: einsum,
# bmm over a broadcast batch, baddbmm/addmm with beta and alpha, cumsum/cumprod backward
# through zeros, sort/topk/kthvalue with ties, gather/scatter_add, index_put_ with
# accumulate, masked_scatter, unfold/fold, pad modes, interpolate, grid_sample,
# repeat_interleave and tril/triu masks (distgrad: two workers; torch: the CPU and a copy).
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(41)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def show(tag, t):
    print(tag, tuple(t.shape), t.dtype, t.grad_fn.name() if t.grad_fn else None)
    print(full(t.detach()))


a = torch.randn(4, 3, requires_grad=True)
b = torch.randn(3, 5, requires_grad=True)
sa = shard(a.detach(), 0).requires_grad_()
e = torch.einsum("ij,jk->ik", sa, b)
show("einsum", e)
e.sum().backward()
show("sa.grad", sa.grad)
show("b.grad", b.grad)

batch = torch.randn(2, 1, 3, 4)
mat = torch.randn(4, 2).to(W[1])
print(attempt(lambda: torch.bmm(batch[:, 0], torch.randn(3, 4, 2))))
show("matmul bcast", torch.matmul(batch.to(W[1]), mat))
m1 = torch.randn(2, 3, 4, requires_grad=True)
m2 = torch.randn(2, 4, 2, requires_grad=True)
inp = torch.randn(3, 2, requires_grad=True)
out = torch.baddbmm(inp, m1, m2, beta=0.5, alpha=2.0)
out.pow(2).sum().backward()
print("baddbmm", out.grad_fn.name(), inp.grad.sum().item(), m1.grad.shape)
print("addmm", torch.addmm(inp.detach(), m1[0].detach(), m2[0].detach(), beta=0, alpha=-1))

z = torch.tensor([2.0, 0.0, 3.0, 0.0, 1.5], requires_grad=True)
sz = shard(z.detach(), 0).requires_grad_()
(torch.cumprod(sz, 0).sum() + torch.cumsum(sz, 0).pow(2).sum()).backward()
show("cumprod zeros grad", sz.grad)

ties = torch.tensor([[3.0, 1.0, 3.0, 2.0, 1.0], [0.0, 0.0, 5.0, 5.0, 0.0]], requires_grad=True)
st = shard(ties.detach(), 0).requires_grad_()
vals, idx = torch.sort(st, dim=1, descending=True, stable=True)
print("sort", full(vals).detach(), full(idx))
tv, ti = st.topk(2, dim=1)
print("topk", full(tv).detach(), full(ti))
kv, ki = torch.kthvalue(ties, 2, dim=1)
print("kthvalue", kv, ki)
(vals[:, 0].sum() + tv.sum() + kv.sum()).backward()
print("ties grad", full(st.grad), ties.grad)

src = torch.arange(6.0).reshape(2, 3).requires_grad_()
index = torch.tensor([[0, 1, 0], [2, 2, 1]])
acc = torch.zeros(2, 3).scatter_add(1, index, src)
print("scatter_add", acc, acc.grad_fn.name())
g = torch.gather(acc, 1, index)
g.sum().backward()
print("gather grad", src.grad)
buf = torch.zeros(5).to(W[0])
buf.index_put_((torch.tensor([1, 3, 1]).to(W[0]),), torch.tensor([1.0, 2.0, 3.0]).to(W[0]), accumulate=True)
print("index_put_", buf.cpu(), buf._version)
mask = torch.tensor([[True, False, True], [False, True, False]])
ms = torch.zeros(2, 3).masked_scatter(mask, torch.tensor([7.0, 8.0, 9.0, 10.0]))
print("masked_scatter", ms)

img = torch.arange(32.0).reshape(1, 2, 4, 4).requires_grad_()
cols = F.unfold(img, kernel_size=2, stride=2)
back = F.fold(cols, output_size=(4, 4), kernel_size=2, stride=2)
print("unfold", cols.shape, torch.equal(back, img), back.grad_fn.name())
for mode in ("constant", "reflect", "replicate", "circular"):
    p = F.pad(img, (1, 1, 1, 0), mode=mode)
    print(mode, p.shape, p[0, 0, 0].detach(), p.grad_fn.name())
up = F.interpolate(img, scale_factor=1.5, mode="bilinear", align_corners=False)
print("interpolate", up.shape, up[0, 0, 0].detach())
theta = torch.tensor([[[0.8, 0.1, 0.0], [-0.1, 0.8, 0.1]]], requires_grad=True)
grid = F.affine_grid(theta, (1, 2, 3, 3), align_corners=False)
gs = F.grid_sample(img, grid, align_corners=False, padding_mode="border")
gs.sum().backward()
print("grid_sample", gs[0, 1].detach(), theta.grad[0, :, 2])
r = torch.repeat_interleave(torch.tensor([1.0, 2.0, 3.0]).to(W[1]), torch.tensor([2, 0, 1]).to(W[1]))
print("repeat_interleave", r.cpu(), r.shape)
causal = torch.ones(4, 4).tril().bool()
scores = shard(torch.randn(4, 4), 1).masked_fill(~causal, float("-inf"))
print("tril mask", full(scores.softmax(-1)).triu(1).abs().sum().item(), torch.ones(3, 3).triu(-1))
print("done")
