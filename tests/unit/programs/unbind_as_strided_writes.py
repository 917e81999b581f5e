# Index bookkeeping code that leans on views: unbind/split/chunk outputs read after their
# base changes (in no_grad and in grad mode), as_strided windows over a buffer written
# through a second view, narrow/select/diagonal of views of views used as optimizer
# targets, in-place writes in no_grad to views of parameters, and the same on a worker and
# on shards (distgrad: two workers; torch: the CPU and a copy). `W`, `shard` and `full`
# are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(37)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def lay(t):
    return tuple(t.shape), t.stride(), t.storage_offset(), t.is_contiguous()


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])),
                  ("shard", lambda t: shard(t, 0))):
    leaf = torch.randn(4, 6, requires_grad=True)
    buf = put(leaf * 1)
    win = buf.as_strided((3, 2), (6, 2), 1)
    print(name, lay(win), win.grad_fn.name(), win._base is buf)
    col = buf.t()[3]
    col.mul_(-1)
    print(full(win.detach())[:, 1], win._version, win.grad_fn.name(), buf.grad_fn.name())
    rows = buf.unbind(0)
    with torch.no_grad():
        buf[2].fill_(7.)
    print(full(rows[2].detach())[:2], rows[2]._version, rows[2].requires_grad)
    print(attempt(lambda: rows[2].grad_fn))
    d = buf.narrow(1, 1, 4).diagonal()
    d.add_(100)
    print(full(d.detach()), d._version, d.grad_fn.name(), lay(d))
    (full(win) * 2).sum().backward(retain_graph=True)
    print(leaf.grad[:, 1:5])
    leaf.grad = None
    full(buf).sum().backward()
    print(leaf.grad.sum(0))

# views of parameters written in no_grad (an init function), then trained
lin = torch.nn.Linear(3, 4)
with torch.no_grad():
    lin.weight.diagonal().fill_(1.0)
    lin.weight.t()[2].zero_()
    lin.bias.narrow(0, 1, 2).copy_(torch.tensor([0.5, -0.5]))
print(lin.weight._version, lin.bias._version, lin.weight.is_leaf, lin.weight[0])
opt = torch.optim.SGD([lin.weight], lr=0.5)
xin = torch.tensor([[1.0, 2.0, 3.0]])
lin(xin).sum().backward()
opt.step()
print(lin.weight, lin.weight._version, lin.bias.grad)
print(attempt(lambda: lin.weight.diagonal().fill_(2.0)))

# chunk of a sharded tensor along the sharded dim and across it
s = shard(torch.arange(24.).view(6, 4), 0).requires_grad_()
parts = (s * 1).chunk(3, 0)
cols = (s * 1).chunk(2, 1)
print([tuple(p.shape) for p in parts], [tuple(c.shape) for c in cols], parts[1].grad_fn.name())
(full(parts[1]).sum() + full(cols[1]).pow(2).sum()).backward()
print(full(s.grad))
sp = (s * 1).split([1, 5], 0)
print(attempt(lambda: sp[0].add_(1)), [tuple(p.shape) for p in sp])
print("done")
