# Tensor creation and printing as notebooks do it: reprs of tensors with grad_fn and
# requires_grad in several dtypes, large and small magnitudes, set_printoptions (precision,
# sci_mode, threshold/edgeitems, linewidth) and back; new_zeros/new_full/new_empty/
# empty_like/zeros_like of transposed and sliced tensors and their strides; torch.where,
# masked_fill and index_put_ with accumulate written through views, with their versions
# and gradients (distgrad: some on a worker; torch: the CPU). `W` is the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(37)

a = torch.randn(2, 3, requires_grad=True)
print(a)
print(a * 2)
print(a.double().sum(1))
print(torch.tensor([1e-8, 1.0, 1e8]), torch.tensor([1e-5, 2e-5]), torch.tensor([123456.0, 1.5]))
print(torch.tensor([[1, -2], [300, 4]]), torch.tensor([True, False]), torch.tensor(3.5))
print(torch.tensor([1.0, float("nan"), float("inf"), -float("inf")]))
print(torch.zeros(2, 0), torch.ones(3, dtype=torch.float16), torch.arange(4, dtype=torch.int32))
print(torch.tensor([0.1, 0.25], dtype=torch.float64, requires_grad=True))
torch.set_printoptions(precision=2, sci_mode=False)
print(torch.tensor([1e-5, 3.14159, 12345.678]), a.detach())
torch.set_printoptions(sci_mode=True)
print(torch.tensor([0.5, 100.0]))
torch.set_printoptions(threshold=5, edgeitems=2)
print(torch.arange(20.), torch.arange(30).view(5, 6))
torch.set_printoptions(linewidth=30)
print(torch.linspace(0, 1, 9))
torch.set_printoptions(profile="default")
print(torch.linspace(0, 1, 9), torch.arange(1001)[-3:])

t = torch.randn(3, 4).t()
s = torch.randn(4, 6)[:, ::2]
for base in (t, s):
    for made in (base.new_zeros(2, 3), base.new_full((2,), 7.0), base.new_empty((3, 1)),
                 torch.empty_like(base), torch.zeros_like(base), torch.ones_like(base, dtype=torch.int64),
                 base.new_tensor([1, 2]), torch.randn_like(base).t()):
        print(tuple(made.shape), made.stride(), made.dtype, made.is_contiguous(), made.requires_grad)
print(torch.empty_like(t, memory_format=torch.contiguous_format).stride(),
      torch.empty_strided((2, 3), (1, 2)).stride())

x = torch.randn(4, 4, requires_grad=True)
y = x.to(W[0]) * 1
rows = y[1:3]
cond = rows > 0
rows.masked_fill_(cond, 0.5)
print(y._version, rows._version, y.grad_fn.name(), rows.grad_fn.name())
w = torch.where(y > 0.4, y, torch.zeros(()).to(W[0]))
idx = (torch.tensor([0, 0, 3]).to(W[0]), torch.tensor([1, 1, 2]).to(W[0]))
col = y.t()[2:]
col.index_put_((torch.tensor([0, 0, 1]).to(W[0]), torch.tensor([1, 1, 3]).to(W[0])), torch.tensor([1.0, 2.0, 4.0]).to(W[0]), accumulate=True)
print(y._version, col.grad_fn.name(), y.cpu()[0])
(w.sum() + (y * y).sum()).backward()
print(x.grad)
m = torch.zeros(3, 3)
m.diagonal().index_put_((torch.tensor([2, 2]),), torch.tensor([1.0, 1.0]), accumulate=True)
m[0].masked_fill_(torch.tensor([True, False, True]), -1.0)
print(m, m._version)
print(torch.where(torch.tensor([True, False]), torch.tensor([1, 2]), torch.tensor([0.5, 0.5])))
print(torch.where(torch.tensor([[1.0, -1.0]]) > 0))
print("done")
