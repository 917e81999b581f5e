# A sharded tensor given another layout in place (t_, unsqueeze_, squeeze_), then written
# through a view taken of it before: the write is the tensor's too (its node becomes
# CopySlices) and its gradient reaches the leaf it was made from, as torch's view of the
# relaid tensor. `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch

weights = torch.arange(16., dtype=torch.float64).reshape(4, 4) + 1
for take in (lambda a: a[1], lambda a: a[:, 1], lambda a: a[1:3, 2]):
    for relayout in (torch.Tensor.t_, lambda a: a.unsqueeze_(0)):
        x = torch.arange(16., dtype=torch.float64).reshape(4, 4).requires_grad_()
        a = shard(x.clone(), 0)
        v = take(a)
        relayout(a)
        v.mul_(2)
        print(a.shape, a.grad_fn.name(), v.grad_fn.name(), a._version, v._version)
        (a * weights.reshape(a.shape)).sum().backward()
        print(full(a.detach()), x.grad)

x = torch.arange(24., dtype=torch.float64).reshape(4, 6).requires_grad_()
s = shard(x * 1, 1)
rows = s[1:3]
column = rows[:, 2]
rows.t_()
column.add_(100)
print(rows.shape, s.grad_fn.name(), rows.grad_fn.name(), column.grad_fn.name(), s._version)
(s * s).sum().backward()
print(full(s.detach()), x.grad)
print("done")
