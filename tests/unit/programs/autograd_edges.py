# Autograd as libraries push it: a custom Function with needs_input_grad, non-
# differentiable outputs and double backward; hooks that rescale gradients; gradients
# accumulated over backward calls with retain_graph; post-accumulate hooks; .grad of a
# non-leaf; torch.autograd.grad with allow_unused and grad_outputs.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(2)


class ScaledSort(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        values, idx = torch.sort(x * scale, dim=-1)
        ctx.save_for_backward(idx, scale)
        ctx.mark_non_differentiable(idx)
        return values, idx

    @staticmethod
    def backward(ctx, grad_values, grad_idx):
        idx, scale = ctx.saved_tensors
        gx = torch.zeros_like(grad_values).scatter(-1, idx, grad_values) * scale
        gs = None
        if ctx.needs_input_grad[1]:
            gs = (torch.zeros_like(grad_values).scatter(-1, idx, grad_values) * 0 + gx).sum()
        return gx, gs


x = torch.randn(2, 5, requires_grad=True)
s = torch.tensor(1.5, requires_grad=True)
v, i = ScaledSort.apply(x, s)
print(v, i, i.requires_grad)
(v[:, -1] ** 2).sum().backward(create_graph=True)
print(x.grad, s.grad)
g2 = torch.autograd.grad(x.grad.sum(), s, allow_unused=True)
print(g2)
x.grad = None
h = x * 2
h.register_hook(lambda g: g * 10)
h.retain_grad()
seen = []
x.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.sum().item()))
out = (h.sin()).sum()
out.backward(retain_graph=True)
out.backward()
print(x.grad, h.grad, seen)
y = x.exp()
print(y.grad)
a, b = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
ga, gb = torch.autograd.grad((a * 2).sum(), [a, b], allow_unused=True, materialize_grads=True)
print(ga, gb)
print(torch.autograd.grad(a.pow(3), a, grad_outputs=torch.tensor([1.0, 0.0, 2.0])))
with torch.no_grad():
    z = a * 2
print(z.requires_grad, (z * a).requires_grad, a.detach().requires_grad)
print("done")
