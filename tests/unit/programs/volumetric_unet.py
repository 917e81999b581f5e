# A 3-D U-Net for volumetric segmentation and a 2-D encoder-decoder, trained a few steps:
# Conv3d blocks with BatchNorm3d, MaxPool3d down with indices and MaxUnpool3d up, a
# ConvTranspose3d with output_size, trilinear skips cat'ed on channels, a Dice loss,
# AdamW with a OneCycleLR schedule and gradient clipping, eval/train switches, a
# state_dict saved and loaded back through torch.save, forward hooks recording shapes,
# weight_norm on a conv, fused conv+bn in eval, and the shape errors of a bad volume.
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(7)


class Block3d(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
                         nn.Conv3d(cout, cout, (1, 3, 3), padding=(0, 1, 1), groups=cout), nn.ReLU())


class UNet3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1, self.enc2 = Block3d(1, 4), Block3d(4, 8)
        self.pool = nn.MaxPool3d(2, return_indices=True, ceil_mode=True)
        self.unpool = nn.MaxUnpool3d(2)
        self.mid = nn.Conv3d(8, 8, 3, padding="same", padding_mode="replicate")
        self.up = nn.ConvTranspose3d(8, 4, 3, stride=2, padding=1)
        self.dec2, self.dec1 = Block3d(16, 8), Block3d(8, 4)
        self.head = nn.Conv3d(4, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        p1, i1 = self.pool(e1)
        e2 = self.enc2(p1)
        p2, i2 = self.pool(e2)
        m = self.mid(p2)
        d2 = self.dec2(torch.cat([self.unpool(m, i2, output_size=e2.shape[2:]), e2], 1))
        up = self.up(d2, output_size=e1.shape)
        skip = F.interpolate(d2, size=e1.shape[2:], mode="trilinear", align_corners=False)
        return self.head(self.dec1(torch.cat([up, skip[:, :4]], 1)))


def dice(logits, target):
    p = logits.softmax(1)[:, 1]
    inter = (p * target).sum((1, 2, 3))
    return 1 - ((2 * inter + 1) / (p.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)).mean()


zz, yy, xx = torch.meshgrid(torch.arange(5.), torch.arange(6.), torch.arange(7.), indexing="ij")
centers = torch.rand(4, 3) * torch.tensor([4., 5., 6.])
masks = (((zz - centers[:, 0, None, None, None]) ** 2 + (yy - centers[:, 1, None, None, None]) ** 2
          + (xx - centers[:, 2, None, None, None]) ** 2) < 4).float()
vols = (masks + 0.3 * torch.randn(4, 5, 6, 7)).unsqueeze(1)
print(vols.shape, masks.sum((1, 2, 3)).tolist())
net = UNet3d()
shapes = []
hooks = [m.register_forward_hook(lambda m, i, o: shapes.append((type(m).__name__, tuple(o.shape) if torch.is_tensor(o) else len(o))))
         for m in (net.pool, net.up, net.unpool, net.head)]
opt = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.05)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-2, total_steps=4)
for step in range(4):
    net.train()
    logits = net(vols)
    loss = F.cross_entropy(logits, masks.long(), weight=torch.tensor([0.3, 1.0])) + dice(logits, masks)
    opt.zero_grad()
    loss.backward()
    norm = nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    sched.step()
    print(step, round(loss.item(), 5), round(norm.item(), 5), round(sched.get_last_lr()[0], 7), logits.shape)
    if step == 0:
        print(shapes)
        for h in hooks:
            h.remove()
print(net.enc1[1].running_mean, net.enc1[1].num_batches_tracked, net.up.weight.grad.shape)
print(net.enc1[3].weight.grad[0, 0, 0], net.head.bias.grad)
net.eval()
with torch.no_grad():
    pred = net(vols).argmax(1)
    print(pred.dtype, pred.shape, ((pred == 1) & (masks == 1)).sum().item(), (pred == 1).sum().item())

buf = io.BytesIO()
torch.save(net.state_dict(), buf)
buf.seek(0)
sd = torch.load(buf)
clone = UNet3d()
print(clone.load_state_dict(sd), len(sd), list(sd)[:3], sd["enc1.1.num_batches_tracked"])
clone.eval()
with torch.no_grad():
    print(torch.allclose(clone(vols), net(vols)), clone.training, clone.enc1[1].training)

# The trained net on a worker, and over a batch sharded on the workers (eval mode: the
# batch norms use their running statistics), gradients and all.
def step(model, x, target):
    model.zero_grad()
    x = x.detach().requires_grad_()
    out = model(x)
    F.cross_entropy(out, target).backward()
    return out, x.grad, [p.grad for p in model.parameters()]


ref_out, ref_gx, ref_grads = step(net, vols, masks.long())
ref_grads = [g.clone() for g in ref_grads]
net.to(W[0])
w_out, w_gx, w_grads = step(net, vols.to(W[0]), masks.long().to(W[0]))
print(w_out.device == w_gx.device, torch.allclose(w_out.cpu(), ref_out, atol=1e-5), torch.allclose(w_gx.cpu(), ref_gx, atol=1e-6),
      all(torch.allclose(g.cpu(), r, atol=1e-5) for g, r in zip(w_grads, ref_grads)))
net.to("cpu")
s_out, s_gx, s_grads = step(net, shard(vols, 0), shard(masks.long(), 0))
print(s_out.shape, torch.allclose(full(s_out), ref_out, atol=1e-5), torch.allclose(full(s_gx), ref_gx, atol=1e-6),
      all(torch.allclose(full(g), r, atol=1e-5) for g, r in zip(s_grads, ref_grads)))

# Fusing a conv and its batch norm for inference, as deployment code does.
conv, bn = net.enc1[0], net.enc1[1]
fused = nn.utils.fusion.fuse_conv_bn_eval(conv, bn)
with torch.no_grad():
    print(fused.bias.requires_grad, fused.weight.requires_grad, torch.allclose(fused(vols), bn(conv(vols)), atol=1e-5))
print(type(fused).__name__, fused.weight.grad_fn, fused.bias.dtype, fused is conv, conv.bias)
up, bn_up = net.up, nn.BatchNorm3d(4).eval()
bn_up.running_mean.uniform_(-1, 1)
fused_up = nn.utils.fuse_conv_bn_eval(up, bn_up, transpose=True)
lin, bn1 = nn.Linear(6, 3).eval(), nn.BatchNorm1d(3).eval()
bn1.running_var.fill_(4.0)
fused_lin = nn.utils.fusion.fuse_linear_bn_eval(lin, bn1)
with torch.no_grad():
    d = torch.randn(2, 8, 3, 3, 4)
    print(torch.allclose(fused_up(d), bn_up(up(d)), atol=1e-5), torch.allclose(fused_lin(d[0, :6, 0, 0].T), bn1(lin(d[0, :6, 0, 0].T)), atol=1e-6))
w, b = nn.utils.fusion.fuse_conv_bn_weights(conv.weight, None, bn.running_mean, bn.running_var, 1e-3, None, None)
print(type(w).__name__, w.shape, b.requires_grad, b[:3])
for bad in (lambda: nn.utils.fusion.fuse_conv_bn_eval(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)),
            lambda: nn.utils.fusion.fuse_linear_bn_eval(lin, nn.BatchNorm1d(4).eval()),
            lambda: nn.utils.fusion.fuse_conv_bn_eval(conv, nn.BatchNorm3d(4, track_running_stats=False).eval())):
    try:
        bad()
    except AssertionError as e:
        print("AssertionError:", e)

# A 2-D encoder-decoder with weight-normed convs, a transposed conv with groups and output_padding.
class EncDec(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 8, 3, stride=2, padding=1))
        self.mid = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4, padding_mode="reflect")
        self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.out = nn.Conv2d(4 + 3, 3, 1)

    def forward(self, x):
        h = F.gelu(self.down(x))
        h = h + self.mid(h)
        return self.out(torch.cat([F.silu(self.up(h)), x], 1))


ed = EncDec()
print(ed.down.parametrizations.weight.original0.shape, ed.up.weight.shape)
imgs = torch.rand(3, 3, 8, 10).contiguous(memory_format=torch.channels_last)
opt = torch.optim.SGD(ed.parameters(), lr=0.05, momentum=0.9)
for step in range(3):
    recon = ed(imgs)
    loss = F.mse_loss(recon, imgs)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 6), recon.shape, recon.is_contiguous(memory_format=torch.channels_last))
print(ed.down.parametrizations.weight.original0.grad.flatten()[:4], ed.mid.weight.grad.shape)
print(sorted(ed.state_dict()))

# Volumes in channels_last_3d: which layers keep the layout (as torch's CPU kernels do).
cl = torch.cat([vols, vols.flip(2)], 1).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
stages = {"conv3d": nn.Conv3d(2, 4, 3, padding=1)(cl), "conv3d 1x1": nn.Conv3d(2, 4, 1)(cl),
          "conv3d strided 1x1": nn.Conv3d(2, 4, 1, stride=2)(cl), "conv3d one volume": nn.Conv3d(2, 4, 3)(cl[:1]),
          "grouped one volume": nn.Conv3d(2, 4, 3, groups=2)(cl[:1]), "transposed": nn.ConvTranspose3d(2, 2, 2, stride=2)(cl), "max_pool3d": F.max_pool3d(cl, 2),
          "avg_pool3d": F.avg_pool3d(cl, 2), "adaptive avg": F.adaptive_avg_pool3d(cl, (2, 3, 3)),
          "global avg": F.adaptive_avg_pool3d(cl, 1), "adaptive max": F.adaptive_max_pool3d(cl, 2),
          "unpool": F.max_unpool3d(*F.max_pool3d(cl, 2, return_indices=True), 2, output_size=cl.shape[2:]),
          "trilinear": F.interpolate(cl, scale_factor=0.5, mode="trilinear"), "area": F.interpolate(cl, size=(2, 3, 3), mode="area"),
          "lp_pool3d": F.lp_pool3d(cl, 2, 2), "replicate": F.pad(cl, (1,) * 6, mode="replicate")}
for name, y in stages.items():
    print(name, tuple(y.shape), y.stride(), y.is_contiguous(memory_format=torch.channels_last_3d), y.grad_fn.name())
print(nn.init._calculate_fan_in_and_fan_out(net.up.weight), nn.init._calculate_fan_in_and_fan_out(net.enc1[3].weight))

# Shape errors of a bad volume.
for bad in (lambda: net(torch.randn(1, 2, 5, 6, 7)),
            lambda: net.enc1(torch.randn(5, 6, 7)),
            lambda: nn.Conv3d(1, 2, 3)(torch.randn(1, 1, 2, 6, 6)),
            lambda: net.up(torch.randn(1, 8, 2, 2, 2), output_size=(9, 9, 9)),
            lambda: nn.MaxUnpool3d(2)(torch.randn(1, 1, 2, 2, 2), torch.zeros(1, 1, 2, 2, 1, dtype=torch.long)),
            lambda: F.conv3d(vols, torch.randn(2, 1, 3, 3)),
            lambda: F.conv_transpose3d(vols, torch.randn(2, 1, 3, 3, 3), output_padding=2),
            lambda: nn.BatchNorm3d(1)(torch.randn(1, 1, 4, 4))):
    try:
        bad()
    except (RuntimeError, ValueError) as e:
        print(type(e).__name__, str(e).splitlines()[0][:200])
print("done")
