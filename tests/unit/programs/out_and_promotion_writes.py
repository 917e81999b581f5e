# Results written into existing tensors the ways numeric code writes them, on a worker and
# split over workers: out= into views (a row, a transposed block, a flat slice) and into a
# tensor of another shape (torch's resize warning is not printed; its result is), out= into
# a tensor that requires grad (refused), in-place ops whose operand is of another dtype
# (float32 kept, an integer tensor refusing a float result), copy_ between dtypes and
# through broadcasting, and the versions, strides and gradients they leave (distgrad: two
# workers; torch: the CPU and a copy). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(71)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def name(t):
    return t.grad_fn.name() if t.grad_fn is not None else None


places = (("worker", lambda t: t.to(W[0]), lambda t: t.cpu()), ("shard", lambda t: shard(t, 0), full))
for where, put, back in places:
    buf = put(torch.zeros(4, 6))
    a, b = put(torch.randn(4, 6)), put(torch.randn(4, 6))
    torch.add(a[1], b[1], alpha=2, out=buf[1])
    torch.mul(a[:, :3], b[:, :3], out=buf[:, 3:])
    torch.exp(a[2:], out=buf.view(-1)[12:].view(2, 6)) if where == "worker" else None
    print(where, buf._version, buf.stride(), back(buf)[1].sub(back(a)[1] + 2 * back(b)[1]).abs().max().item(),
          back(buf)[:, 3:].sub(back(a)[:, :3] * back(b)[:, :3]).abs().max().item())
    small = put(torch.zeros(2))
    r = torch.sum(a, 0, out=small)
    print(r is small, small.shape, small.stride(), small._version, back(small).sub(back(a).sum(0)).abs().max().item())
    g = put(torch.zeros(4, 6)).requires_grad_()
    print(attempt(lambda: torch.add(a, b, out=g)))
    h = put(torch.zeros(4, 6, requires_grad=True) * 1)
    print(attempt(lambda: torch.add(a, b, out=h)), h._version)

    f = put(torch.ones(3, 4))
    f.mul_(torch.tensor(2.5, dtype=torch.float64))
    f.add_(put(torch.arange(12, dtype=torch.int64).view(3, 4)))
    print(f.dtype, f._version, back(f)[2])
    n = put(torch.arange(6).view(2, 3))
    print(attempt(lambda: n.add_(1.5)), attempt(lambda: n.mul_(put(torch.ones(2, 3)))), n._version)
    n.add_(torch.tensor(2))
    n.t()[1].mul_(3)
    print(n.dtype, back(n), n._version)

    leaf = torch.randn(3, 4, requires_grad=True)
    x = put(leaf * 1)
    d = put(torch.arange(4, dtype=torch.float64))
    x[1].copy_(d)  # float64 values copied into a float32 row
    x.t()[0].copy_(torch.tensor(7))  # broadcast of an integer 0-dim
    x[2:].mul_(d)  # the float64 operand's gradient is not asked for
    print(name(x), x.dtype, x._version, back(x.detach()))
    (back(x) * torch.arange(12.).view(3, 4)).sum().backward()
    print(leaf.grad)
    hw = put(torch.zeros(2, 3, dtype=torch.float64, requires_grad=True) * 1)
    src = torch.randn(2, 3, requires_grad=True)
    hw.copy_(put(src * 1))
    (back(hw) * 2).sum().backward()
    print(name(hw), hw.dtype, src.grad, src.grad.dtype)
print("done")
