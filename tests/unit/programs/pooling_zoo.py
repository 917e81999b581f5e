# Pooling as feature extractors use it: MaxPool1d/2d/3d with return_indices feeding
# MaxUnpool (with output_size, as a SegNet decoder does); AvgPool with ceil_mode,
# count_include_pad=False and divisor_override; adaptive avg/max pools to sizes that do
# not divide the input, with indices; LPPool; module reprs, gradients through all of
# them, double backward, and the errors users hit.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)

seq = torch.randn(2, 3, 13, requires_grad=True)
mp1 = nn.MaxPool1d(3, stride=2, padding=1, dilation=1, return_indices=True, ceil_mode=True)
up1 = nn.MaxUnpool1d(3, stride=2, padding=1)
pooled, idx = mp1(seq)
back = up1(pooled, idx, output_size=seq.shape)
print(mp1, up1, pooled.shape, idx.dtype, idx[0, 0].tolist(), back.shape, back.grad_fn.name())
print(pooled.grad_fn.name(), idx.requires_grad, idx.grad_fn)
(back * torch.arange(13.)).sum().backward()
print(seq.grad[0, 0].tolist())
for kw in (dict(kernel_size=4, stride=3, dilation=2), dict(kernel_size=2, ceil_mode=True),
           dict(kernel_size=5, stride=1, padding=2)):
    p, i = F.max_pool1d(seq, return_indices=True, **kw)
    print(kw, tuple(p.shape), i[1, 2].tolist())

img = torch.randn(2, 4, 7, 9, requires_grad=True)
mp2 = nn.MaxPool2d((3, 2), stride=(2, 2), padding=(1, 0), return_indices=True)
unpool = nn.MaxUnpool2d((3, 2), stride=(2, 2), padding=(1, 0))
p2, i2 = mp2(img)
print(mp2, unpool, p2.shape, i2[0, 1].tolist())
r2 = unpool(p2, i2, output_size=(7, 9))
print(r2.shape, (r2 != 0).sum().item())
try:
    unpool(p2, i2)
except RuntimeError as e:
    print("RuntimeError:", e)
try:
    unpool(p2, i2, output_size=(9, 9))
except ValueError as e:
    print("ValueError:", e)
try:
    F.max_unpool2d(p2, i2[:, :, :1], 2)
except RuntimeError as e:
    print("RuntimeError:", e)
loss = r2.pow(2).sum() + p2.sum()
loss.backward()
print(img.grad[0, 0], (img.grad != 0).sum().item())
dil, di = F.max_pool2d(img, 3, stride=2, dilation=2, ceil_mode=True, return_indices=True)
print(dil.shape, di[1, 3].tolist())
print(F.max_pool2d(img, kernel_size=(2, 3), stride=1, padding=1).shape)

vol = torch.randn(1, 2, 5, 6, 7, requires_grad=True)
mp3 = nn.MaxPool3d(2, stride=2, return_indices=True, ceil_mode=True)
p3, i3 = mp3(vol)
r3 = nn.MaxUnpool3d(2, stride=2)(p3, i3, output_size=vol.shape[2:])
print(mp3, p3.shape, i3[0, 1, 0].tolist(), r3.shape, r3.grad_fn.name())
r3.sum().backward()
print(vol.grad.sum().item(), vol.grad.shape)

# Average pools.
t = torch.arange(1., 50.).reshape(1, 1, 7, 7).requires_grad_()
for kw in (dict(kernel_size=3, stride=2, ceil_mode=True),
           dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
           dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
           dict(kernel_size=(2, 4), stride=(3, 2), padding=(1, 2), divisor_override=2),
           dict(kernel_size=2, stride=3, ceil_mode=True)):
    pool = nn.AvgPool2d(**kw)
    y = pool(t)
    g, = torch.autograd.grad(y.sum(), t)
    print(pool, tuple(y.shape), y[0, 0, -1].tolist(), g[0, 0, :, :4].tolist())
a1 = nn.AvgPool1d(4, stride=3, padding=2, ceil_mode=True, count_include_pad=False)
print(a1, a1(seq).shape, a1(seq)[0, 0].tolist())
a3 = nn.AvgPool3d((2, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), count_include_pad=False, divisor_override=None)
y3 = a3(vol)
print(a3, y3.shape, y3.grad_fn.name(), round(y3.sum().item(), 4))
print(F.avg_pool3d(vol, 2, ceil_mode=True, divisor_override=3).shape)

# Adaptive pools to sizes that do not divide the input.
for size in (5, (3, 4), (None, 2), (1, 1), (8, 10)):
    aa = nn.AdaptiveAvgPool2d(size)
    am = nn.AdaptiveMaxPool2d(size, return_indices=True)
    ya = aa(img)
    ym, yi = am(img)
    print(aa, am, tuple(ya.shape), round(ya.sum().item(), 4), yi[0, 0, 0].tolist(), ym.grad_fn.name())
ym.sum().backward()
print(img.grad.shape, ya.grad_fn.name())
print(F.adaptive_avg_pool1d(seq, 4)[0, 0].tolist(), F.adaptive_max_pool1d(seq, 5, return_indices=True)[1][0, 0].tolist())
a3d, i3d = F.adaptive_max_pool3d(vol, (2, 4, 3), return_indices=True)
print(a3d.shape, i3d[0, 0, 1].tolist(), F.adaptive_avg_pool3d(vol, (3, None, 2)).shape)
print(nn.AdaptiveAvgPool3d((1, 2, 3)), nn.AdaptiveMaxPool1d(3), nn.AdaptiveAvgPool1d(2))

# Power-average pools.
for p in (1, 2, 3.0):
    lp = nn.LPPool2d(p, (2, 3), stride=2)
    y = lp(img.detach().abs())
    print(lp, tuple(y.shape), round(y.sum().item(), 4))
lp1 = nn.LPPool1d(2, 3, stride=2, ceil_mode=True)
pos = seq.detach().abs().requires_grad_()
y = lp1(pos)
y.sum().backward()
print(lp1, y.shape, pos.grad[0, 0].tolist(), y.grad_fn.name())
print(F.lp_pool3d(vol.detach().abs(), 2, 2).shape, nn.LPPool3d(1.5, 2))

# Double backward through pools (a smoothness penalty on the input's gradient).
x = torch.randn(2, 3, 8, 8, requires_grad=True)
net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Softplus(), nn.AvgPool2d(2), nn.Conv2d(4, 4, 3),
                    nn.Tanh(), nn.AdaptiveMaxPool2d(2), nn.Flatten(), nn.Linear(16, 1))
out = net(x).sum()
g, = torch.autograd.grad(out, x, create_graph=True)
pen = g.pow(2).sum()
pen.backward()
print(g.grad_fn.name(), round(pen.item(), 6), net[0].weight.grad[0, 0, 0].tolist(), round(x.grad.norm().item(), 5))
net.eval()
with torch.no_grad():
    print(net(x).flatten().tolist())

# Channels-last pooling keeps its layout.
cl = img.detach().contiguous(memory_format=torch.channels_last)
for y in (F.max_pool2d(cl, 2), F.avg_pool2d(cl, 3, 1, 1), F.adaptive_avg_pool2d(cl, 3), F.adaptive_max_pool2d(cl, (2, 5))):
    print(tuple(y.shape), y.stride(), y.is_contiguous(memory_format=torch.channels_last))
# and so do their gradients (autograd.grad's, which no .grad layout rule touches).
cl.requires_grad_()
for name, pool in (("max", lambda a: F.max_pool2d(a, 2)), ("avg", lambda a: F.avg_pool2d(a, 3, 1, 1)),
                   ("adaptive avg", lambda a: F.adaptive_avg_pool2d(a, 3)), ("adaptive max", lambda a: F.adaptive_max_pool2d(a, (2, 5))),
                   ("reflect", lambda a: F.pad(a, (1, 1, 1, 1), mode="reflect")), ("replicate", lambda a: F.pad(a, (2, 0, 1, 0), mode="replicate")),
                   ("conv", lambda a: F.conv2d(a, torch.ones(2, 4, 3, 3))), ("depthwise", lambda a: F.conv2d(a, torch.ones(4, 1, 3, 3), groups=4)),
                   ("transposed", lambda a: F.conv_transpose2d(a, torch.ones(4, 2, 2, 2), stride=2)),
                   ("3-d max", lambda a: F.max_pool3d(a.unsqueeze(2).expand(-1, -1, 2, -1, -1).contiguous(memory_format=torch.channels_last_3d), (2, 2, 2)))):
    g, = torch.autograd.grad(pool(cl).pow(2).sum(), cl)
    print(name, g.stride(), g.is_contiguous(memory_format=torch.channels_last), round(g.sum().item(), 4))

# On a worker and sharded over the batch.
xw = img.detach().to(W[0]).requires_grad_()
pw, iw = F.max_pool2d(xw, 2, return_indices=True)
rw = F.max_unpool2d(pw, iw, 2, output_size=xw.shape[-2:])
aw = F.adaptive_avg_pool2d(xw, (3, 5)) + F.adaptive_max_pool2d(xw, (3, 5))
(rw.sum() + aw.sum()).backward()
print(pw.device == xw.device, iw.cpu()[1, 1].tolist(), round(xw.grad.cpu().sum().item(), 4))
xs = shard(img.detach(), 0).requires_grad_()
ps = F.avg_pool2d(xs, 3, stride=2, padding=1, count_include_pad=False)
ms = F.max_pool2d(xs, (2, 3), ceil_mode=True)
(ps.sum() + ms.sum()).backward()
print(ps.shape, ms.shape, full(ps)[0, 0, 0].tolist(), full(xs.grad)[1, 1, :2].tolist())

# Errors users hit.
for bad in (lambda: F.max_pool2d(torch.randn(1, 2, 3, 3), 4),
            lambda: F.max_pool2d(torch.randn(2, 3), 2),
            lambda: F.max_pool2d(torch.randn(1, 2, 8, 8), 2, padding=2),
            lambda: F.avg_pool2d(torch.randn(1, 2, 8, 8), 3, padding=2),
            lambda: F.avg_pool2d(torch.randn(1, 2, 2, 2), 3),
            lambda: F.max_pool1d(torch.randn(1, 2, 8), 2, stride=0),
            lambda: F.adaptive_avg_pool2d(torch.randn(1, 2, 3, 0), 2),
            lambda: F.adaptive_max_pool2d(torch.randn(2, 3), 2),
            lambda: F.max_pool3d(torch.randn(1, 2, 3, 4), 2),
            lambda: F.avg_pool1d(torch.randn(2, 3, 4, 5), 2),
            lambda: F.max_unpool1d(*F.max_pool1d(torch.randn(1, 1, 8), 2, return_indices=True), 2, output_size=(12,))):
    try:
        bad()
    except (RuntimeError, ValueError) as e:
        print(type(e).__name__, e)
print("done")
