# Sharded tensors through the autograd machinery a research script reaches for: saved-tensor
# hooks packing the shards' saved values, non-reentrant checkpoint of a sharded input,
# forward-mode AD with a sharded tangent, jacobian and vmap of sharded inputs, rows and
# columns of a sharded non-leaf written in place through views (both split dims), and a
# Linear whose weight is replaced by a sharded Parameter, its state_dict loaded into a
# plain one (distgrad: two workers; torch: copies). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def attempt(f):
    try:
        r = f()
        return r
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def sec(name, f):
    print("--", name)
    r = attempt(f)
    if r is not None:
        print(r)


def s1():
    packed = []
    def pack(t):
        packed.append(tuple(t.shape))
        return t
    x = shard(torch.randn(4, 3), 0).requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = (x * x).sum()
    y.backward()
    print(sorted(packed), full(x.grad)[0])
sec("sharded saved hooks", s1)


def s2():
    checkpoint = torch.utils.checkpoint.checkpoint
    x = shard(torch.randn(4, 3), 0).requires_grad_()
    out = checkpoint(lambda t: (t.sin() * t).sum(), x, use_reentrant=False)
    out.backward()
    print(full(x.grad)[1])
sec("sharded checkpoint", s2)


def s3():
    fwAD = torch.autograd.forward_ad
    x = shard(torch.randn(4, 3), 0)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, shard(torch.ones(4, 3), 0))
        y = (d * d).sum(1)
        p, t = fwAD.unpack_dual(y)
        print(full(t) if t is not None else None)
sec("sharded forward ad", s3)


def s4():
    x = shard(torch.randn(4, 3), 0)
    J = torch.autograd.functional.jacobian(lambda t: (t * t).sum(1), x)
    print(J.shape)
    print(full(J)[0])
sec("sharded jacobian", s4)


def s5():
    x = shard(torch.randn(4, 3), 0)
    out = torch.func.vmap(lambda r: r.sum())(x)
    print(out.shape, full(out))
sec("sharded vmap", s5)


def s6():
    x = shard(torch.randn(4, 3), 0).requires_grad_()
    y = x * 1
    v = y[1]
    w = y[:, 0]
    v.mul_(2)
    w.add_(1)
    print(y._version, v._version, w._version, full(w.detach()), full(y.detach())[1])
    (y * y).sum().backward()
    print(full(x.grad)[1], full(x.grad)[:, 0])
    print(v.grad_fn.name(), w.grad_fn.name(), y.grad_fn.name())
sec("sharded views written", s6)


def s7():
    x = shard(torch.randn(4, 3), 1).requires_grad_()
    y = x * 1
    y.t()[1].zero_()
    y[2:, :].mul_(3)
    print(full(y.detach()), y._version)
    y.exp().sum().backward()
    print(full(x.grad))
sec("sharded dim1 views written", s7)


def s8():
    lin = nn.Linear(3, 4)
    lin.weight = nn.Parameter(shard(lin.weight.detach(), 0))
    x = torch.randn(2, 3)
    y = lin(x)
    print(y.shape, y.requires_grad, type(lin.weight).__name__)
    y.sum().backward()
    print(full(lin.weight.grad)[0], lin.bias.grad)
    sd = lin.state_dict()
    print(sorted(sd), sd["weight"].shape)
    plain = nn.Linear(3, 4)
    plain.load_state_dict({"weight": full(sd["weight"]), "bias": sd["bias"]})
    print(torch.allclose(plain(x), full(y.detach())))
sec("sharded param module", s8)

print("done")
