# In-place shape methods and writes through split views, on plain, placed and sharded
# tensors: chunk/split pieces written in place (versions, _base, storage pointers),
# expand then contiguous, t_() and transpose_() on non-leaves and their graph,
# squeeze_/unsqueeze_/t_ on leaves that require grad (torch's errors), in-place type
# promotion errors and allowed casts, and the gradients through all of it (distgrad: two
# workers; torch: the CPU and a copy). `W`, `shard` and `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(7)


def attempt(f):
    try:
        f()
        return "ok"
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def ptr(t):
    return t.untyped_storage().data_ptr()


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[1])),
                  ("shard", lambda t: shard(t, t.dim() - 1))):
    print("==", name)
    leaf = put(torch.randn(4, 6)).requires_grad_()
    h = leaf * 1
    c0, c1 = h.chunk(2, dim=0)
    s0, s1, s2 = h.split([1, 2, 3], dim=1)
    print("chunk views", c0._is_view(), c0._base is h, c1.is_contiguous(), c1.stride())
    print("split views", s2._is_view(), s2.shape, s2.is_contiguous(), s2.stride())
    if name == "cpu":
        print("ptrs", ptr(c1) == ptr(h), c1.data_ptr() - h.data_ptr(), ptr(s2) == ptr(h))
    print("chunk write", attempt(lambda: c1.mul_(2)))
    print("split write", attempt(lambda: s0.add_(1)))
    u0, u1 = h.unbind(1)[:2]
    print("unbind write", attempt(lambda: u1.zero_()))
    with torch.no_grad():
        c1.mul_(2)
        s0.add_(1)
    print("versions", h._version, c0._version, s0._version, h.grad_fn.name(),
          attempt(lambda: c1.grad_fn), attempt(lambda: c0.grad_fn))
    print(attempt(lambda: h.sum().backward()))
    h = leaf * 1
    n0 = h.narrow(0, 2, 2)
    n0.mul_(2)
    print("narrow write", h._version, n0.grad_fn.name(), h.grad_fn.name())
    h.sum().backward()
    print("grad", full(leaf.grad))

    row = put(torch.arange(3.0)).requires_grad_()
    ex = row.expand(4, 3)
    print("expand", ex.stride(), ex.is_contiguous(), ex._is_view(), ex._base is row)
    co = ex.contiguous()
    print("contiguous", co.stride(), co._is_view(), co.grad_fn.name())
    print(attempt(lambda: ex.add_(1)))
    (co * co).sum().backward()
    print("row grad", full(row.grad))

    m = put(torch.randn(2, 3)).requires_grad_()
    n = m * 2
    n.t_()
    print("t_", n.shape, n.stride(), n.grad_fn.name(), n._version, n.is_contiguous())
    n.transpose_(0, 1)
    print("transpose_", n.shape, n.grad_fn.name(), n._version)
    n.unsqueeze_(0)
    print("unsqueeze_", n.shape, n.grad_fn.name(), n.stride())
    n.squeeze_(0)
    (n * n).sum().backward()
    print("m grad", full(m.grad))
    print("leaf squeeze_", attempt(lambda: m.unsqueeze_(0)))
    print("leaf t_", attempt(lambda: m.t_()))
    with torch.no_grad():
        print("no_grad t_", attempt(lambda: m.t_()), m.shape, m.is_leaf)
        m.t_()

    ints = put(torch.arange(6).reshape(2, 3))
    print("int += float", attempt(lambda: ints.add_(0.5)))
    print("int *= float tensor", attempt(lambda: ints.mul_(put(torch.ones(2, 3)))))
    f = put(torch.ones(2, 3))
    print("float += int", attempt(lambda: f.add_(ints)), f.dtype, full(f)[0])
    print("float += double", attempt(lambda: f.add_(put(torch.ones(2, 3, dtype=torch.float64)))),
          f.dtype)
    b = put(torch.zeros(2, 3, dtype=torch.bool))
    print("bool += int", attempt(lambda: b.add_(ints)))
    print("float.copy_(int)", attempt(lambda: f.copy_(ints)), full(f)[1], f._version)
print("done")
