# A gradient penalty through F.normalize when a row (or the whole batch) is all zeros: the
# first-order gradient is finite (1/eps), the second-order one NaN, as torch's norm's
# double backward at 0 gives it (its masked quotient's own derivative there is 0/0). The
# same with the batch sharded over the workers, along the normalized dim and across it.
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional

for how, place in (("plain", lambda t: t), ("rows sharded", lambda t: shard(t, 0)),
                   ("normalized dim sharded", lambda t: shard(t, 1))):
    x = place(torch.tensor([[0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 4.0, 0.0]])).requires_grad_()
    y = F.normalize(x, dim=1)
    g, = torch.autograd.grad((y * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum(), x,
                             create_graph=True)
    h, = torch.autograd.grad(g.pow(2).sum() * 1e-24, x)
    print(how, full(g).detach(), full(h))
print("done")
