# A small super-resolution model and its augmentations, as image code writes them: images
# made by bicubic upsampling, degraded by area / antialiased / nearest resizing, augmented
# by rot90, flip, roll and a bicubic affine grid_sample on a worker; an ESPCN-style model
# (reflect, replicate and circular padded convs, PixelShuffle, a bicubic skip) in
# channels_last, trained with Adam on L1 + MSE; patches through unfold / fold; max_pool
# indices and max_unpool; avg_pool's ceil_mode and count_include_pad; F.pad's modes;
# strides, grad_fns, and torch's errors.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(31)
gen = torch.Generator().manual_seed(8)


def smooth_images(n, size):
    coarse = torch.rand(n, 3, 3, 3, generator=gen)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp_(0, 1)


hr = smooth_images(6, 12)
print(hr.shape, hr._version, hr.stride(), round(hr.mean().item(), 5), hr.grad_fn)
lr = F.interpolate(hr, scale_factor=0.5, mode="area")
print(torch.allclose(lr, F.avg_pool2d(hr, 2)), lr.shape)
for kw in (dict(size=(5, 7), mode="nearest"), dict(size=(5, 7), mode="nearest-exact"),
           dict(scale_factor=1.7, mode="bilinear"), dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
           dict(scale_factor=(1.5, 0.8), mode="bicubic", align_corners=True),
           dict(scale_factor=0.7, mode="bicubic", antialias=True)):
    y = F.interpolate(lr, **kw)
    print(tuple(y.shape), round(y.sum().item(), 4), round(y[0, 1, -1, -1].item(), 5))
for kw in (dict(size=4, scale_factor=2), dict(scale_factor=2, align_corners=True),
           dict(size=(4, 4), mode="linear")):
    try:
        F.interpolate(lr, **kw)
    except (ValueError, NotImplementedError) as e:
        print(type(e).__name__, str(e).splitlines()[0])


def augment(batch, g):
    k = int(torch.randint(0, 4, (1,), generator=g))
    out = torch.rot90(batch, k, (2, 3))
    if torch.rand(1, generator=g).item() < 0.5:
        out = out.flip(3)
    dy, dx = torch.randint(-2, 3, (2,), generator=g).tolist()
    return out.roll(shifts=(dy, dx), dims=(2, 3)), (k, dy, dx)


aug, how = augment(hr, gen)
print(how, aug.stride(), torch.rot90(hr, 1, (2, 3)).stride(), torch.rot90(hr, 4, (2, 3)).equal(hr))
angle = torch.tensor([0.2, -0.1, 0.3, 0.0, -0.25, 0.15]).to(W[0]).requires_grad_()
cos, sin = angle.cos(), angle.sin()
theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1), torch.stack([sin, cos, 0.1 * angle], 1)], 1)
grid = F.affine_grid(theta, list(hr.shape), align_corners=False)
warped = F.grid_sample(hr.to(W[0]), grid, mode="bicubic", padding_mode="reflection", align_corners=False)
warped.pow(2).mean().backward()
warped = warped.detach().cpu().clamp(0, 1)
print(grid.shape, round(warped.sum().item(), 4), round((warped - hr).abs().max().item(), 5), angle.grad.tolist())


class SR(nn.Module):
    def __init__(self, r=2):
        super().__init__()
        self.r = r
        self.body = nn.Sequential(
            nn.Conv2d(3, 12, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
            nn.Conv2d(12, 8, 3, padding=1, padding_mode="replicate"), nn.ReLU(),
            nn.Conv2d(8, 3 * r * r, 3, padding=1, padding_mode="circular"))
        self.shuffle = nn.PixelShuffle(r)

    def forward(self, x):
        base = F.interpolate(x, scale_factor=self.r, mode="bicubic", align_corners=False)
        return base + self.shuffle(self.body(x))


model = SR().to(memory_format=torch.channels_last)
print(model.body[0].weight.stride(), model.body[0].bias.stride(), model)
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
x_lr = lr.to(memory_format=torch.channels_last)
print(x_lr.stride(), x_lr.grad_fn, x_lr.is_contiguous(), x_lr.is_contiguous(memory_format=torch.channels_last))
for step in range(5):
    batch, _ = augment(torch.cat([hr, warped]), gen)
    small = F.interpolate(batch, scale_factor=0.5, mode="bilinear", antialias=True)
    sr = model(small.contiguous(memory_format=torch.channels_last))
    loss = F.l1_loss(sr, batch) + 0.5 * F.mse_loss(sr, batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
    psnr = 10 * math.log10(1 / F.mse_loss(sr.detach().clamp(0, 1), batch).item())
    print(step, round(loss.item(), 5), round(psnr, 3), sr.stride(), model.body[4].weight.grad.stride())
print(sr.grad_fn.name(), model.body[0].weight.grad.abs().sum().item(), model.body[0].weight.stride())
try:
    sr.view(sr.size(0), -1)
except RuntimeError as e:
    print("RuntimeError:", e)
print(sr.reshape(sr.size(0), -1).stride(), sr.flatten(1).is_contiguous())

with torch.no_grad():
    out_cpu = model(x_lr)
    model.to(W[1])
    out_w = model(x_lr.to(W[1]))
    print(out_w.stride(), torch.allclose(out_w.cpu(), out_cpu, atol=1e-6))
    model.to("cpu")

sr = model(x_lr).detach().requires_grad_()
patches = F.unfold(sr, kernel_size=4, stride=2)
score = patches.view(sr.size(0), 3, 16, -1).var(2).mean()
recon = F.fold(patches, output_size=sr.shape[-2:], kernel_size=4, stride=2)
cover = F.fold(F.unfold(torch.ones_like(sr), 4, stride=2), sr.shape[-2:], 4, stride=2)
print(patches.shape, patches.grad_fn.name(), recon.grad_fn.name(), cover[0, 0, :3, :3])
print(torch.allclose(recon / cover, sr), round(score.item(), 6))
(score + recon.pow(2).mean()).backward()
print(sr.grad.abs().sum().item(), sr.grad.stride())
for bad in (lambda: F.fold(patches, (11, 12), 4, stride=2), lambda: F.unfold(sr[0], 4, padding=-1)):
    try:
        bad()
    except RuntimeError as e:
        print("RuntimeError:", str(e)[:90])

feat = model.body[0](x_lr)
pooled, idx = F.max_pool2d(feat, 2, stride=2, return_indices=True, ceil_mode=True)
restored = F.max_unpool2d(pooled, idx, 2, stride=2, output_size=feat.shape[-2:])
print(pooled.shape, idx.stride(), idx[0, 0], restored.grad_fn.name(), restored.stride())
print(round((restored != 0).float().mean().item(), 5), torch.equal(restored.amax((2, 3)), feat.amax((2, 3))))
gap = F.adaptive_avg_pool2d(feat, 1)
print(gap.stride(), gap.grad_fn.name(), gap.view(gap.size(0), -1).shape)
(restored.sum() + gap.sum()).backward()
print(model.body[0].bias.grad)
for kw in (dict(ceil_mode=True), dict(padding=1, count_include_pad=False), dict(padding=1, ceil_mode=True),
           dict(padding=1, divisor_override=3)):
    y = F.avg_pool2d(hr[:1, :1, :7, :7], 3, stride=2, **kw)
    print(kw, tuple(y.shape), y[0, 0, -1])
t = torch.arange(12.).reshape(1, 1, 3, 4)
for mode in ("constant", "reflect", "replicate", "circular"):
    print(mode, F.pad(t, (2, 1, 1, 2), mode=mode)[0, 0, :, :3].tolist())
for pad, mode in (((4, 0), "reflect"), ((0, 5), "circular"), ((1, 1), "replicate")):
    try:
        F.pad(t[0] if mode != "replicate" else t, pad, mode=mode)
    except (RuntimeError, NotImplementedError) as e:
        print(type(e).__name__, str(e).splitlines()[0])
try:
    F.pixel_shuffle(torch.zeros(1, 6, 2, 2), 2)
except RuntimeError as e:
    print("RuntimeError:", e)
print(F.pixel_unshuffle(F.pixel_shuffle(t.expand(1, 4, 3, 4), 2), 2).equal(t.expand(1, 4, 3, 4)))
print("done")
