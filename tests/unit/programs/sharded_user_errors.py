# The mistakes users make with a batch split over workers, caught and printed as they
# print them (distgrad: sharded over two workers along the batch or the feature dim;
# torch: a copy): a layer of the wrong width, an expand, a permute with a repeated dim, a
# squeeze of a dim that is not there, the mean of an integer tensor, a lerp with a weight
# of the wrong shape, a view of a transposed batch, shapes that do not broadcast, a
# backward of a non-scalar, and the script going on after each to train one step.
# `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)


def attempt(f):
    try:
        out = f()
        return ("ok", tuple(out.shape), out.dtype) if hasattr(out, "shape") else ("ok", out)
    except Exception as e:
        return f"{type(e).__name__}: {e}"


x = torch.randn(6, 4, requires_grad=True)
labels = torch.tensor([0, 1, 2, 1, 0, 2])
for dim in (0, 1):
    x.grad = None
    batch = shard(x * 2, dim)
    print("split on", dim)
    wrong = nn.Linear(3, 3)
    print(attempt(lambda: wrong(batch)))
    print(attempt(lambda: batch @ torch.ones(3, 2)))
    print(attempt(lambda: batch.mm(torch.ones(5, 2))))
    print(attempt(lambda: batch.expand(3, 4)))
    print(attempt(lambda: batch.expand(2, 6, 4)))
    print(attempt(lambda: batch.permute(0, 0)))
    print(attempt(lambda: batch.permute(1, 0, 2)))
    print(attempt(lambda: batch.squeeze(3)))
    print(attempt(lambda: batch.unsqueeze(-4)))
    print(attempt(lambda: batch.long().mean()))
    print(attempt(lambda: batch.int().std()))
    print(attempt(lambda: batch.lerp(batch, torch.ones(2))))
    print(attempt(lambda: batch + torch.ones(5)))
    print(attempt(lambda: batch * torch.ones(6, 1)))
    print(attempt(lambda: batch.t().view(24)))
    print(attempt(lambda: batch.view(5, -1)))
    print(attempt(lambda: batch.sum(dim=2)))
    print(attempt(lambda: batch.transpose(0, 2)))
    print(attempt(lambda: torch.cat([batch, torch.ones(6, 3)], 0)))
    print(attempt(lambda: batch.narrow(0, 5, 3)))
    print(attempt(lambda: batch.unflatten(1, (3, 2))))
    print(attempt(lambda: F.cross_entropy(batch, labels[:4])))
    print(attempt(lambda: F.mse_loss(batch, torch.zeros(6, 4, 1)).shape))
    print(attempt(lambda: batch.backward()))
    right = nn.Linear(4, 3)
    loss = F.cross_entropy(right(batch), labels)
    loss.backward()
    print(round(loss.item(), 5), x.grad[0], right.weight.grad.shape)
print("done")
