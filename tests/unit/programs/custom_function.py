# Custom autograd.Functions inside a training loop: a straight-through quantiser
# (round in forward, identity gradient), a fused "linear + leaky relu" saving its input
# and weight with save_for_backward and answering needs_input_grad, an argmax returned as
# a non-differentiable output (mark_non_differentiable), a clamp whose backward is
# @once_differentiable, and set_materialize_grads(False) with an unused output.
import distgrad as torch  # PyTorch: import torch
once_differentiable = torch.autograd.function.once_differentiable
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(31)


class STEQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, levels):
        return torch.round(x * levels) / levels

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class LinearLeaky(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, slope):
        pre = x @ weight.t() + bias
        ctx.save_for_backward(x, weight, pre)
        ctx.slope = slope
        return torch.where(pre > 0, pre, pre * slope)

    @staticmethod
    def backward(ctx, grad):
        x, weight, pre = ctx.saved_tensors
        g = grad * torch.where(pre > 0, torch.ones_like(pre), torch.full_like(pre, ctx.slope))
        gx = g @ weight if ctx.needs_input_grad[0] else None
        gw = g.t() @ x if ctx.needs_input_grad[1] else None
        gb = g.sum(0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb, None


class MaxWithIndex(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        values, idx = x.max(dim=1)
        ctx.save_for_backward(idx)
        ctx.mark_non_differentiable(idx)
        ctx.shape = x.shape
        return values, idx

    @staticmethod
    def backward(ctx, grad_values, grad_idx):
        idx, = ctx.saved_tensors
        out = torch.zeros(ctx.shape, dtype=grad_values.dtype)
        return out.scatter(1, idx.unsqueeze(1), grad_values.unsqueeze(1))


class SoftClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi), (x - x.clamp(lo, hi)).abs()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad, grad_excess):
        x, = ctx.saved_tensors
        inside = ((x >= ctx.lo) & (x <= ctx.hi)).to(x.dtype)
        out = grad * (0.1 + 0.9 * inside)
        if grad_excess is not None:
            out = out + grad_excess * torch.sign(x - x.clamp(ctx.lo, ctx.hi))
        return out, None, None


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(12, 6) * 0.4)
        self.b1 = nn.Parameter(torch.zeros(12))
        self.head = nn.Linear(12, 4)

    def forward(self, x):
        h = LinearLeaky.apply(STEQuant.apply(x, 4.0), self.w1, self.b1, 0.05)
        h, _ = SoftClamp.apply(h, -1.0, 1.0)
        return self.head(h)


net = Net()
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
x, y = torch.randn(16, 6), torch.randint(0, 4, (16,))
for step in range(5):
    logits = net(x)
    best, idx = MaxWithIndex.apply(logits)
    loss = F.cross_entropy(logits, y) - 0.1 * best.mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), idx.tolist()[:6], idx.requires_grad, best.grad_fn is not None)
print(net.w1.grad[:2], net.b1.grad.abs().sum().item())
xq = torch.randn(3, 6, requires_grad=True)
out = LinearLeaky.apply(xq, net.w1.detach(), net.b1.detach(), 0.05)
out.sum().backward()
print(xq.grad, type(out.grad_fn).__name__)
z = torch.tensor([-2.0, -0.5, 0.5, 3.0], requires_grad=True)
c, excess = SoftClamp.apply(z, -1.0, 1.0)
(c * 2).sum().backward()
print(c, excess, z.grad)
z.grad = None
c, excess = SoftClamp.apply(z, -1.0, 1.0)
(c.sum() + excess.sum()).backward(create_graph=True)
print(z.grad, z.grad.requires_grad)
print("done")
