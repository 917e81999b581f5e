# Quantization-aware training by hand: fake_quantize_per_tensor_affine (numbers, and
# one-element tensor qparams) and fake_quantize_per_channel_affine, their straight-through
# gradients (zero where the grid clamped), a float64 input, the errors their arguments
# raise, an STE-quantized linear trained a few steps, and the same on a worker.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(0)
x = (torch.randn(4, 6) * 2).requires_grad_()
y = torch.fake_quantize_per_tensor_affine(x, 0.25, 3, -8, 7)
print(y, y.grad_fn.name())
(y * torch.arange(24.0).view(4, 6)).sum().backward()
print(x.grad)
x.grad = None
y2 = torch.fake_quantize_per_tensor_affine(x, torch.tensor(0.3), torch.tensor(-2, dtype=torch.int32), -128, 127)
print(y2.grad_fn.name(), (y2 - x).abs().max())
y2.pow(2).sum().backward(); print(x.grad)
x.grad = None
s = torch.tensor([0.1, 0.5, 0.05, 1.0]); z = torch.tensor([0, 1, -3, 2], dtype=torch.int32)
y3 = torch.fake_quantize_per_channel_affine(x, s, z, 0, -4, 3)
print(y3, y3.grad_fn.name())
y3.sum().backward(); print(x.grad)
y4 = torch.fake_quantize_per_channel_affine(x.double(), torch.rand(6) + 0.1, torch.zeros(6, dtype=torch.int32), 1, 0, 255)
print(y4, y4.dtype)
for args in ((x, 0.1, 3, 7, -8), (x, 0.1, 30, -8, 7), (x.long(), 0.1, 0, -8, 7)):
    try: torch.fake_quantize_per_tensor_affine(*args)
    except Exception as e: print(type(e).__name__, e)
for args in ((x, s, z.long(), 0, -8, 7), (x, s[:3], z[:3], 0, -8, 7), (x, s, z, 2, -8, 7), (x, s, z * 5, 0, -8, 7)):
    try: torch.fake_quantize_per_channel_affine(*args)
    except Exception as e: print(type(e).__name__, e)
# a QAT-style linear with a learnable scale-free STE
w = torch.randn(3, 4, requires_grad=True)
inp = torch.randn(5, 4)
for step in range(3):
    wq = torch.fake_quantize_per_tensor_affine(w, float(w.detach().abs().max()) / 7, 0, -8, 7)
    out = inp @ wq.t()
    loss = out.pow(2).mean()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
    w.grad = None
    print(step, loss.item())
xw = x.detach().to(W[0]).requires_grad_()
yw = torch.fake_quantize_per_tensor_affine(xw, 0.25, 3, -8, 7)
(yw * torch.arange(24.0).view(4, 6).to(W[0])).sum().backward()
print(yw.detach().cpu(), yw.grad_fn.name(), xw.grad.cpu())
xw.grad = None
yc = torch.fake_quantize_per_channel_affine(xw, s.to(W[0]), z.to(W[0]), 0, -4, 3)
yc.sum().backward()
print(yc.detach().cpu(), yc.grad_fn.name(), xw.grad.cpu())
print("done")
