# compiled() steps over placed and sharded tensors beside custom autograd Functions and
# hooks: a compiled function calling a Function with save_for_backward and
# mark_non_differentiable, tensor hooks and retain_grad on its inputs, a compiled loss
# with a masked in-place write, and repeated calls whose leaves' grads accumulate
# (distgrad: two workers and distgrad.compile; torch: the CPU and the function itself).
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(53)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class ClampGrad(torch.autograd.Function):
    """Identity forward; the backward clamps the gradient, and a mask says where."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.bound = bound
        mask = x.abs() > bound
        ctx.mark_non_differentiable(mask)
        ctx.save_for_backward(mask)
        return x.view_as(x), mask

    @staticmethod
    def backward(ctx, g, _):
        (mask,) = ctx.saved_tensors
        return g.clamp(-ctx.bound, ctx.bound) * (~mask), None


@compiled
def score(x, w):
    y, mask = ClampGrad.apply(x @ w, 1.0)
    return (y.tanh() * 3).sum(), mask


@compiled
def masked_loss(logits, target, keep):
    z = logits * 1
    z.masked_fill_(~keep, 0.0)
    return F.cross_entropy(z, target, reduction="sum") / keep.sum()


w = torch.randn(3, 2).to(W[1]).requires_grad_()
grads = []
w.register_hook(lambda g: grads.append(tuple(g.shape)))
for step in range(3):
    x = torch.randn(4, 3).to(W[1])
    s, mask = score(x, w)
    print(step, round(s.item(), 4), mask.cpu(), mask.requires_grad, s.grad_fn is not None)
    s.backward()
    print("  w.grad", w.grad.cpu(), len(grads))

xs = shard(torch.randn(6, 3), 0).requires_grad_()
y, mask = ClampGrad.apply(xs, 0.5)
y.retain_grad()
print("function on shard", y._is_view(), y._base is xs, mask.dtype, mask.requires_grad)
(y * torch.arange(3.0)).sum().backward()
print("xs.grad", full(xs.grad), "y.grad", full(y.grad)[0])

logits = torch.randn(5, 4).to(W[0]).requires_grad_()
target = torch.tensor([0, 3, 1, 1, 2]).to(W[0])
keep = torch.tensor([[True, True, False, True]] * 5).to(W[0])
for step in range(2):
    loss = masked_loss(logits, target, keep)
    loss.backward()
    print("masked", step, round(loss.item(), 5), logits.grad.cpu()[0], logits.is_leaf,
          logits._version)
with torch.no_grad():
    logits.sub_(0.1 * logits.grad)
    logits.grad.zero_()
print("after step", logits._version, logits.grad._version, masked_loss(logits, target, keep).item())
print(attempt(lambda: masked_loss(logits, target.float(), keep)))
print("done")
