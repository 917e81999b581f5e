# A leaf's first gradient, when nothing else uses it, becomes its .grad as it is, never
# written (`_version` 0), as torch's AccumulateGrad takes it: a part of a bigger gradient
# (cat's), a sharded leaf's after a norm or a matrix product over its split dim;
# one spread by expand is copied into place (`_version` 1). `shard` and `full` are the
# runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch

a = torch.ones(2, 3, requires_grad=True)
b = torch.ones(2, 3, requires_grad=True)
(torch.cat([a, b]).t() @ torch.ones(4, 2)).sum().backward()
print(a.grad._version, b.grad._version, a.grad._base is None, a.grad)
a.grad.mul_(2)
print(a.grad, b.grad)

for name, f in [("norm", lambda s: s.norm()), ("norm(dim=0)", lambda s: s.norm(dim=0)),
                ("mm", lambda s: s.t() @ torch.linspace(0, 1, 8, dtype=torch.float64).reshape(4, 2)),
                ("sum(0)", lambda s: s.sum(0))]:
    x = torch.linspace(-1, 2, 12, dtype=torch.float64).reshape(4, 3)
    leaf = shard(x, 0).requires_grad_()
    out = f(leaf)
    (out * torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)).sum() \
        .backward()
    print(name, out.grad_fn.name(), leaf.grad._version, full(leaf.grad))
print("done")
