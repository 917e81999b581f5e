# Mixed dtypes written through views, as preprocessing and mixed-precision code does:
# float64 and int values added in place into float32 views (kept float32), integer views
# refusing a float result, bool masks written with masked_fill_ through a transpose,
# .to(dtype) of views (a copy with its own strides), half views written and read back,
# type promotion in the gradient of a float64 leaf used with float32 tensors, on the
# driver, a worker and shards (distgrad: two workers; torch: the CPU and a copy).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(41)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[1])),
                  ("shard", lambda t: shard(t, 0))):
    a = torch.randn(4, 3, requires_grad=True)
    d = torch.tensor([0.5, 1.5, -2.0], dtype=torch.float64, requires_grad=True)
    x = put(a * 1)
    row = x[1]
    row.add_(d.to(W[1]) if name == "worker" else d)
    print(name, x.dtype, row.dtype, x._version, row.grad_fn.name(), x.grad_fn.name())
    x.t()[2].mul_(torch.tensor(3, dtype=torch.int64))
    x[2:].masked_fill_(x.detach()[2:] > 0.5, 0.0)
    full(x).sum().backward()
    print(a.grad, d.grad, d.grad.dtype)

    i = put(torch.arange(12).view(4, 3))
    print(attempt(lambda: i[0].add_(0.5)), attempt(lambda: i.t()[1].mul_(2).tolist()), full(i)[:, 1])
    print(attempt(lambda: i.float().requires_grad_().t()[0].exp_()), i.dtype)
    h = put(torch.linspace(-1, 1, 12).view(3, 4).half())
    h[:, 1:3].mul_(1000)
    print(h.dtype, full(h)[1], h.t().stride(), h[:, 1].float().stride())
    hv = h.t().to(torch.float32)
    print(hv.dtype, hv.shape, hv.stride(), hv.is_contiguous(), hv._base is None)
    m = put(torch.zeros(3, 4, dtype=torch.bool))
    m.t()[1].fill_(True)
    m[2] |= True
    print(full(m).sum(), m.dtype, attempt(lambda: m.add_(1)))

# a float64 leaf mixed into a float32 graph, and a float32 result written into float64
w64 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
x32 = torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
y = x32 @ w64.float()
z = torch.zeros(2, 2, dtype=torch.float64)
z.t()[0].copy_(y[:, 1])
z[1:].add_(y[0])
print(z, z.dtype, z.grad_fn.name())
(z * torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)).sum().backward()
print(x32.grad, w64.grad, w64.grad.dtype)
acc = torch.zeros(2, dtype=torch.float16)
acc += torch.tensor([1e-3, 70000.0])
print(acc, attempt(lambda: torch.zeros(2, dtype=torch.int32).add_(torch.tensor([1.5, 2.5]))))
print("done")
