# Sharded inputs to indexing and reductions in an ordinary analysis script (distgrad: split
# over two workers; torch: a copy): index_select, gather/scatter/scatter_add, masked_select,
# boolean and advanced setitem, take_along_dim; sums, means and norms over the split dim and
# the other (keepdim, dtype=), var/std with correction, median/mode/kthvalue, cumsum/cumprod,
# logcumsumexp, sort/topk/argsort, amax/amin/aminmax, all/any, their grads reaching the
# sharded input, and what users print of them (tolist, numpy, item, the return types).
# `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(19)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


x = torch.randn(6, 5, requires_grad=True)
for dim in (0, 1):
    x.grad = None
    s = shard(x * 1, dim)
    picked = s.index_select(dim, torch.tensor([4, 0, 2, 2]))
    g = s.gather(1, torch.tensor([[0, 1], [2, 2], [4, 0], [1, 1], [3, 0], [0, 4]]))
    m = s.masked_select(s > 0.3)
    print(dim, picked.shape, full(g.detach())[2], m.shape, m.grad_fn.name(), g.grad_fn.name())
    t = s.take_along_dim(s.argmax(1, keepdim=True), 1)
    print(full(t.detach()).view(-1).tolist() == full(s.detach()).max(1).values.tolist())
    (picked.sum() + (g * g).sum() + m.exp().sum() + t.sum()).backward(retain_graph=True)
    print(x.grad)

    r = s.sum(dim)
    rk = s.mean(dim, keepdim=True)
    r64 = s.sum(dim, dtype=torch.float64)
    print(r.shape, rk.shape, r64.dtype, full(r64.detach()).tolist()[:2])
    print([t.grad_fn.name() for t in (r, rk, r64, s.mean(), s.sum(), s.norm(), s.mean((0, 1)))])
    v0, v1 = s.var(dim), s.std(1 - dim, correction=0)
    vm = torch.var_mean(s, dim, correction=2, keepdim=True)
    print(full(v0.detach()), full(v1.detach()), [t.shape for t in vm], type(vm).__name__)
    med = s.median(dim)
    mo = s.round().mode(1 - dim)
    kth = s.kthvalue(2, dim, keepdim=True)
    print(type(med).__name__, full(med.values.detach()), full(med.indices), med.indices.dtype)
    print(full(mo.values.detach()), full(mo.indices), kth.values.shape, full(kth.indices).view(-1))
    cs, cp = s.cumsum(dim), s.cumprod(1 - dim)
    lc = s.logcumsumexp(dim)
    print(full(cs.detach())[-1], full(cp.detach())[:, -1], full(lc.detach())[2], cs.grad_fn.name())
    srt = s.sort(dim, descending=True)
    top = s.topk(2, dim=1 - dim, largest=False)
    print(full(srt.values.detach())[0], full(srt.indices)[0], full(top.indices), top.values.grad_fn.name())
    print(full(s.argsort(dim=dim, stable=True))[:, 0], s.amax(dim).shape, full(s.amin(1 - dim).detach()))
    mn, mx = s.aminmax(dim=dim)
    print(full(mn.detach()), full(mx.detach()), s.gt(0).all(dim).tolist(), s.lt(-2).any().item())
    x.grad = None
    loss = (r.pow(2).sum() + rk.sum() + v0.sum() + v1.sum() + vm[0].sum() + med.values.sum()
            + kth.values.sum() + cs.sum() + cp.sum() + lc.sum() + srt.values[0].sum()
            + top.values.sum() + mn.sum() + mx.sum() + s.norm(dim=dim).sum()
            + s.logsumexp(dim).sum() + s.prod(dim).sum())
    loss.backward()
    print(round(loss.item(), 3), x.grad)

# -- writes by index and mask --------------------------------------------------------------
y = torch.randn(6, 4, requires_grad=True)
s = shard(y * 2, 0)
s[s.abs() > 1.5] = 0.0
s[torch.tensor([0, 5]), torch.tensor([1, 3])] = torch.tensor([7.0, 8.0])
s[[1, 2]] += 1.0
s[:, torch.tensor([True, False, True, False])] *= -1
s.index_fill_(1, torch.tensor([2]), 0.25)
print(s.grad_fn.name(), s._version, full(s.detach()))
src = torch.arange(12.).view(6, 2)
sc = s.scatter(1, torch.tensor([[0, 3]] * 6), src)
sa = torch.zeros(3, 4).scatter_add(0, torch.tensor([[0, 1, 2, 0]] * 6), s)
sr = s.scatter_reduce(0, torch.tensor([[0, 1, 1, 0]] * 6), torch.ones(6, 4), "amax",
                      include_self=False)
print(full(sc.detach())[0], sa.shape, full(sa.detach()), sr.grad_fn.name())
ip = s.index_put((torch.tensor([1, 1]), torch.tensor([0, 0])), torch.tensor([1.0, 2.0]),
                 accumulate=True)
(sc.sum() + sa.pow(2).sum() + ip.pow(2).sum() + sr.sum()).backward()
print(y.grad)
print(attempt(lambda: s.index_select(0, torch.tensor([6]))))
print(attempt(lambda: s.index_select(1, torch.tensor([0, 4]))))
print(attempt(lambda: s.gather(1, torch.tensor([[4]] * 6))))
print(attempt(lambda: s.take(torch.tensor([3, 24]))))
print(attempt(lambda: s[torch.tensor([0, 9])]))
print(attempt(lambda: s[:, torch.tensor([[1], [-5]])]))
print(full(s[torch.tensor([5, -6]), 1:].detach()), s[s[:, 0] > 0, torch.tensor([1])].shape)
print(attempt(lambda: s[torch.tensor([True, False])]))
print(attempt(lambda: s.kthvalue(7, 0)))
print(attempt(lambda: s.topk(5, 1)))
print(attempt(lambda: s.masked_select(torch.ones(6, 3, dtype=torch.bool))))

# -- what users print --------------------------------------------------------------------------
z = shard(torch.arange(24.).view(4, 6) / 7, 1)
print(z.sum().item(), z.max().item(), z[2, 3].item(), z.mean(0).tolist())
print(full(z).numpy().round(3)[1], full(z.detach()).numpy().dtype, z.int().tolist()[3])
print(full(z.median()), full(z.var()), z.std(0, keepdim=True).shape, z.argmax().item(), full(z.argmin(1)))
print(full(z.sum(0)[2]), full(z[:, 1].sum()), z.T.cumsum(0)[-1, -1].item(), float(z.norm()), int(z.sum()))
print(attempt(lambda: z.item()), attempt(lambda: z.sum(0).item()))
print("done")
