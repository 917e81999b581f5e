# Resampling as image and volume code uses it: F.interpolate and nn.Upsample in every mode
# over 1d/2d/3d inputs, with align_corners, scale_factor vs size, recompute_scale_factor and
# antialias; gradients and double backward through them; nn.Fold/Unfold round trips;
# PixelShuffle/PixelUnshuffle; F.pad's modes over 3d/4d/5d; channels_last inputs; and the
# errors users hit.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(21)

sig = torch.randn(2, 3, 7, requires_grad=True)
for kw in (dict(size=12), dict(scale_factor=1.5), dict(scale_factor=0.6, mode="linear"),
           dict(size=10, mode="linear", align_corners=True), dict(scale_factor=2.3, mode="nearest-exact"),
           dict(size=4, mode="area"), dict(scale_factor=1.7, mode="linear", recompute_scale_factor=True),
           dict(scale_factor=(2,), mode="nearest")):
    y = F.interpolate(sig, **kw)
    g, = torch.autograd.grad(y.pow(2).sum(), sig)
    print(kw, tuple(y.shape), y.grad_fn.name(), round(y.sum().item(), 4), g[0, 0].tolist())

img = torch.randn(2, 3, 5, 6, requires_grad=True)
for mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "area"):
    for kw in (dict(size=(8, 9)), dict(scale_factor=(1.5, 0.5)), dict(size=(3, 4))):
        if mode in ("bilinear", "bicubic"):
            kw["align_corners"] = len(kw) == 1 and "size" in kw
        y = F.interpolate(img, mode=mode, **kw)
        print(mode, kw, tuple(y.shape), round(y.mean().item(), 5), round(y[1, 2, -1, -1].item(), 5), y.grad_fn.name())
for kw in (dict(scale_factor=0.4, mode="lanczos", antialias=True), dict(size=(11, 4), mode="lanczos", antialias=True),
           dict(scale_factor=0.4, mode="bilinear", antialias=True), dict(size=(2, 3), mode="bicubic", antialias=True),
           dict(size=(9, 11), mode="bilinear", antialias=True), dict(scale_factor=(0.5, 0.7), mode="bicubic", antialias=True, align_corners=True)):
    y = F.interpolate(img, **kw)
    y.sum().backward()
    print(kw, tuple(y.shape), round(y.sum().item(), 4), y.grad_fn.name(), round(img.grad.abs().sum().item(), 4))
    img.grad = None

vol = torch.randn(1, 2, 3, 4, 5, requires_grad=True)
for kw in (dict(scale_factor=2, mode="trilinear"), dict(size=(5, 5, 5), mode="trilinear", align_corners=True),
           dict(scale_factor=(1, 0.5, 1.5), mode="nearest"), dict(size=(2, 3, 4), mode="area"),
           dict(size=(6, 7, 8), mode="nearest-exact"), dict(scale_factor=1.5, mode="trilinear", recompute_scale_factor=True)):
    y = F.interpolate(vol, **kw)
    g, = torch.autograd.grad(y.sum(), vol)
    print(kw, tuple(y.shape), round(y.sum().item(), 4), y.grad_fn.name(), g[0, 1, 0, 0].tolist())

# nn.Upsample modules, their reprs and a gradient penalty through one (double backward).
ups = [nn.Upsample(scale_factor=2), nn.Upsample(size=(7, 9), mode="bilinear", align_corners=False),
       nn.Upsample(scale_factor=(2.0, 1.5), mode="bicubic", align_corners=True), nn.UpsamplingNearest2d(scale_factor=3),
       nn.UpsamplingBilinear2d(size=(4, 4))]
for up in ups:
    print(up, tuple(up(img).shape), round(up(img).sum().item(), 4))
disc = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Softplus(), nn.Upsample(scale_factor=2, mode="bilinear"),
                     nn.Conv2d(4, 2, 3, stride=2), nn.Tanh())
x = torch.randn(2, 3, 6, 6, requires_grad=True)
out = disc(x).sum()
gx, = torch.autograd.grad(out, x, create_graph=True)
pen = gx.square().sum()
pen.backward()
print(gx.grad_fn.name(), round(pen.item(), 5), disc[0].bias.grad.tolist(), round(x.grad.abs().sum().item(), 5))
up3 = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=True)
v = vol.detach().requires_grad_()
gv, = torch.autograd.grad(up3(v).pow(3).sum(), v, create_graph=True)
gv.sum().backward()
print(gv.grad_fn.name(), round(v.grad.sum().item(), 4), v.grad[0, 0, 1, 1].tolist())

# Unfold and Fold: patches out and back, an average over overlaps, a convolution by matmul.
unfold = nn.Unfold(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
fold = nn.Fold(output_size=(5, 6), kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
cols = unfold(img)
back = fold(cols)
ones = fold(unfold(torch.ones_like(img)))
print(unfold, fold, cols.shape, back.shape, cols.grad_fn.name(), back.grad_fn.name())
print(torch.allclose(back / ones.clamp(min=1), img * (ones > 0)), ones[0, 0].tolist())
w = torch.randn(4, 3, 2, 3)
conv_by_matmul = (w.view(4, -1) @ unfold(img)).view(2, 4, 3, 4)
ref = F.conv2d(img, w, padding=1, stride=(2, 1), dilation=(1, 2))
print(ref.shape, torch.allclose(conv_by_matmul, ref, atol=1e-5))
(conv_by_matmul.sum() + back.pow(2).sum()).backward()
print(img.grad[0, 0].tolist())
print(F.unfold(img[0], 2).shape, F.fold(F.unfold(img[0], 2), (5, 6), 2).shape)

# Pixel shuffles.
ps, pu = nn.PixelShuffle(2), nn.PixelUnshuffle(2)
z = torch.arange(2 * 8 * 3 * 2.).reshape(2, 8, 3, 2).requires_grad_()
s = ps(z)
print(ps, pu, s.shape, s[0, 0].tolist(), s.grad_fn.name(), pu(s).equal(z), pu(s).grad_fn.name())
(s * torch.arange(24.).reshape(6, 4)).sum().backward()
print(z.grad[0, :4, 0].tolist())
print(F.pixel_shuffle(torch.zeros(3, 2, 9, 4, 1), 3).shape, F.pixel_unshuffle(torch.zeros(5, 4, 6), 2).shape)

# F.pad's modes over 3d, 4d and 5d inputs, and their gradients.
t1 = torch.arange(10.).reshape(1, 2, 5).requires_grad_()
for mode in ("constant", "reflect", "replicate", "circular"):
    y = F.pad(t1, (2, 3), mode=mode, **({"value": -1.0} if mode == "constant" else {}))
    y.mul(torch.arange(10.)).sum().backward()
    print(mode, y[0, 1].tolist(), y.grad_fn.name(), t1.grad[0, 1].tolist())
    t1.grad = None
t3 = torch.randn(1, 1, 3, 3, 4, requires_grad=True)
for mode in ("reflect", "replicate", "circular", "constant"):
    y = F.pad(t3, (1, 2, 2, 1, 1, 1), mode=mode)
    y.sum().backward()
    print(mode, tuple(y.shape), round(y.sum().item(), 4), y.grad_fn.name(), t3.grad[0, 0, 1, 1].tolist())
    t3.grad = None
print(F.pad(img, (-1, 1, 0, -2)).shape, F.pad(img, (1, 1), value=2.0)[0, 0, 0].tolist())
print(nn.ReflectionPad2d((1, 0, 2, 1)), nn.ReplicationPad3d(1), nn.CircularPad1d(2), nn.ZeroPad2d(1), nn.ConstantPad1d((1, 2), 3.5))
print(nn.ReflectionPad2d((1, 0, 2, 1))(img).shape, nn.CircularPad2d((1, 2, 0, 1))(img)[0, 0, 0].tolist())

# Channels-last inputs keep their layout through resampling.
cl = img.detach().contiguous(memory_format=torch.channels_last)
for y in (F.interpolate(cl, scale_factor=2), F.interpolate(cl, size=(7, 8), mode="bilinear"),
          F.interpolate(cl, size=(4, 4), mode="bicubic"), F.pad(cl, (1, 1, 1, 1)), F.pad(cl, (1, 1, 1, 1), mode="reflect"),
          F.pixel_shuffle(cl.repeat(1, 4, 1, 1), 2)):
    print(tuple(y.shape), y.stride(), y.is_contiguous(memory_format=torch.channels_last))

# On a worker, sharded over the batch.
xw = img.detach().to(W[1]).requires_grad_()
yw = F.interpolate(xw, scale_factor=2, mode="bicubic", align_corners=False) + 0
yw.pow(2).mean().backward()
ref = img.detach().requires_grad_()
F.interpolate(ref, scale_factor=2, mode="bicubic", align_corners=False).pow(2).mean().backward()
print(yw.device == xw.device, torch.allclose(xw.grad.cpu(), ref.grad, atol=1e-6))
xs = shard(img.detach(), 0).requires_grad_()
ys = F.interpolate(xs, size=(4, 7), mode="bilinear", antialias=True)
ps_ = F.pixel_unshuffle(F.pad(xs, (0, 0, 0, 1), mode="replicate"), 2)
(ys.sum() + ps_.pow(2).sum()).backward()
print(ys.shape, ps_.shape, full(ys)[1, 1, 0].tolist(), round(full(xs.grad).sum().item(), 4))

# Errors users hit.
for bad in (lambda: F.interpolate(img, size=(4, 4), scale_factor=2),
            lambda: F.interpolate(img),
            lambda: F.interpolate(img, size=(4, 4, 4)),
            lambda: F.interpolate(img, scale_factor=(2, 2, 2)),
            lambda: F.interpolate(sig, size=4, mode="bilinear"),
            lambda: F.interpolate(img, size=4, mode="trilinear"),
            lambda: F.interpolate(img, size=4, mode="nearest", align_corners=True),
            lambda: F.interpolate(img, size=4, mode="cubic"),
            lambda: F.interpolate(img, size=4, mode="nearest", antialias=True),
            lambda: F.interpolate(img, size=4, recompute_scale_factor=True),
            lambda: F.interpolate(img, size=4, mode="lanczos"),
            lambda: F.interpolate(img, size=4, mode="lanczos", antialias=True, align_corners=True),
            lambda: F.interpolate(img.half(), size=4, mode="bilinear", antialias=True),
            lambda: F.adaptive_avg_pool2d(img, (2, 2, 2)),
            lambda: F.adaptive_avg_pool2d(img, (3, -1)),
            lambda: F.adaptive_max_pool2d(img, -2),
            lambda: F.adaptive_max_pool2d(img[:, :, :0], 2),
            lambda: F.adaptive_avg_pool3d(vol, (2, 2)),
            lambda: F.adaptive_max_pool1d(img, 2),
            lambda: F.adaptive_avg_pool1d(sig, (2, 2)),
            lambda: F.adaptive_avg_pool2d(sig[0, 0], (2, 2)),
            lambda: F.unfold(vol, 2),
            lambda: F.unfold(img[0, 0], 2),
            lambda: F.fold(img, (5, 6), 2),
            lambda: F.fold(cols, (5, 6), (2, 3), stride=0),
            lambda: F.interpolate(img, size=(0, 4)),
            lambda: F.pad(sig, (3, 3), mode="reflect"),
            lambda: F.pad(sig, (1, 1, 1, 1, 1, 1), mode="replicate"),
            lambda: F.pad(img, (1,)),
            lambda: F.pad(img, (1, 1), mode="wrap"),
            lambda: F.pixel_shuffle(img, 2),
            lambda: F.pixel_unshuffle(img, 2),
            lambda: F.fold(cols, (5, 7), (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
            lambda: F.unfold(sig, 2),
            lambda: nn.Upsample(scale_factor=2, mode="bilinear")(sig)):
    try:
        bad()
    except (ValueError, RuntimeError, NotImplementedError, TypeError, IndexError) as e:
        print(type(e).__name__, str(e).splitlines()[0][:150])
print("done")
