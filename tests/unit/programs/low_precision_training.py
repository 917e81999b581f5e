# Training in float16 and bfloat16 as memory-bound scripts do it: a convolutional
# autoencoder made bfloat16 (Conv2d, BatchNorm2d with bfloat16 running statistics, SiLU,
# ConvTranspose2d back to the image) on a worker with an MSE loss, a half() MLP with
# BatchNorm1d and SiLU trained by plain backward on another worker, the dtype errors of
# mixing a float32 batch into a half model, and an autocast region around a float32
# decoder; losses, gradients, statistics and dtypes printed.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(71)


def host(t):
    return t.detach().float().cpu()


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.SiLU())
        self.dec = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        return self.dec(self.enc(x))


ae = AutoEncoder().to(W[0]).bfloat16()
opt = torch.optim.SGD(ae.parameters(), lr=0.05, momentum=0.9)
images = torch.rand(4, 2, 6, 6).to(W[0]).bfloat16()
print(ae.enc[1].running_var.dtype, images.dtype, ae(images).shape)
for step in range(3):
    opt.zero_grad()
    recon = ae(images)
    loss = F.mse_loss(recon, images)
    loss.backward()
    opt.step()
    print(step, loss.item(), loss.dtype, recon.grad_fn.name(), host(ae.dec.bias.grad), host(ae.enc[0].weight.grad[0, 0]))
print(host(ae.enc[1].running_mean), host(ae.enc[1].running_var), ae.enc[1].num_batches_tracked.item())
print(host(ae.dec.weight[0, 0]), host(ae.enc[1].weight.grad))
ae.eval()
with torch.no_grad():
    print(host(ae(images)[0, 0, :2]), ae(images).dtype)

mlp = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.SiLU(), nn.Linear(8, 3)).to(W[1]).half()
x, y = torch.randn(16, 5).to(W[1]).half(), torch.randn(16, 3).to(W[1]).half()
opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
for step in range(3):
    opt.zero_grad()
    out = mlp(x)
    loss = F.mse_loss(out, y, reduction="sum") / 16
    loss.backward()
    opt.step()
    print(step, loss.item(), out.dtype, host(mlp[0].bias.grad), host(mlp[1].weight.grad[:4]), host(mlp[3].weight.grad[0]))
print(host(mlp[1].running_mean[:4]), mlp[1].running_var.dtype, host(mlp[3].bias))
hidden = mlp[:3](x)
g, = torch.autograd.grad(F.mse_loss(hidden, torch.zeros_like(hidden), reduction="none").sum(), hidden)
print(g.dtype, host(g[0]))
for bad in (lambda: mlp(x.float()), lambda: mlp[1](x.float()[:, :8])):
    try:
        bad()
    except RuntimeError as e:
        print(type(e).__name__, e)

dec = nn.ConvTranspose2d(3, 2, 2, stride=2).to(W[0])
z = torch.randn(2, 3, 3, 3).to(W[0]).requires_grad_()
with torch.autocast("cpu", dtype=torch.bfloat16):
    pic = F.silu(dec(z))
    err = F.mse_loss(pic.float(), torch.zeros(2, 2, 6, 6).to(W[0]))
print(pic.dtype, err.dtype, err.item())
err.backward()
print(host(z.grad[0, 0]), host(dec.weight.grad[0, 0]), dec.weight.grad.dtype, host(dec.bias.grad))
print("done")
