# The "Channels Last Memory Format" tutorial with a mixed-precision loop on top: NCHW and
# NHWC strides, contiguous(memory_format=), is_contiguous for each format, the formats a
# conv, a pooling and an elementwise op keep, model.to(memory_format=), the
# nn.utils.convert_conv2d/3d_weight_memory_format helpers, the errors for a wrong rank, and
# a bfloat16 autocast step with torch.GradScaler on the CPU, its model on a worker.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(61)
N, C, H, Wd = 2, 3, 4, 4

x = torch.empty(N, C, H, Wd)
print(x.stride(), x.is_contiguous(), x.is_contiguous(memory_format=torch.channels_last))
x = x.to(memory_format=torch.channels_last)
print(x.shape, x.stride(), x.is_contiguous(), x.is_contiguous(memory_format=torch.channels_last))
x = x.to(memory_format=torch.contiguous_format)
print(x.stride())
x = torch.randn(N, C, H, Wd).contiguous(memory_format=torch.channels_last)
print(x.stride(), x.permute(0, 2, 3, 1).is_contiguous())
y = torch.empty(N, H, Wd, C).permute(0, 3, 1, 2)
print(y.stride(), y.is_contiguous(memory_format=torch.channels_last))
for op in (lambda t: t.relu(), lambda t: t * 2 + 1, lambda t: F.max_pool2d(t, 2), lambda t: t.clone(),
           lambda t: torch.empty_like(t), lambda t: F.adaptive_avg_pool2d(t, 1), lambda t: t.sum(1, keepdim=True),
           lambda t: F.batch_norm(t, None, None, training=True), lambda t: t.contiguous()):
    r = op(x)
    print(r.shape, r.stride(), r.is_contiguous(memory_format=torch.channels_last))
for bad in (torch.randn(2, 3, 4), torch.randn(1, 2, 3, 4, 5)):
    try:
        bad.contiguous(memory_format=torch.channels_last)
    except RuntimeError as e:
        print(type(e).__name__, e)
try:
    torch.randn(2, 3).to(memory_format=torch.channels_last_3d)
except RuntimeError as e:
    print(type(e).__name__, e)
v = torch.randn(1, 2, 3, 4, 5).contiguous(memory_format=torch.channels_last_3d)
print(v.stride(), v.is_contiguous(memory_format=torch.channels_last_3d))

model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.ConvTranspose2d(4, 2, 2, stride=2), nn.Flatten(), nn.Linear(2 * 8 * 8, 3))
before = [m.weight.stride() for m in model if hasattr(m, "weight")]
out = nn.utils.convert_conv2d_weight_memory_format(model, torch.channels_last)
print(out is model, before, [m.weight.stride() for m in model if hasattr(m, "weight")])
print(model[0].weight.is_leaf, model[0].weight.requires_grad, type(model[0].weight).__name__)
r = model[:3](x)
print(r.stride(), r.is_contiguous(memory_format=torch.channels_last), r.grad_fn.name())
vol = nn.Sequential(nn.Conv3d(2, 3, 2), nn.ConvTranspose3d(3, 2, 2), nn.Conv2d(2, 2, 1))
nn.utils.convert_conv3d_weight_memory_format(vol, torch.channels_last_3d)
print([m.weight.stride() for m in vol], vol[0](v).stride())
nn.utils.convert_conv2d_weight_memory_format(vol, torch.contiguous_format)
print([m.weight.stride() for m in vol])

model = model.to(W[0])
model.to(memory_format=torch.channels_last)
print(model[0].weight.stride(), model[3].weight.stride(), model[5].weight.stride())
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scaler = torch.GradScaler("cpu", init_scale=2.0 ** 8, growth_interval=2)
print(type(scaler).__name__, scaler.get_scale(), scaler.is_enabled())
target = torch.randint(0, 3, (N,)).to(W[0])
for step in range(4):
    xb = torch.randn(N, C, H, Wd).to(W[0]).contiguous(memory_format=torch.channels_last)
    if step == 2:
        xb[0, 0, 0, 0] = float("inf")
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = model[:3](xb)
        logits = model[3:](hidden)
        loss = F.cross_entropy(logits, target)
    print(step, hidden.dtype, hidden.is_contiguous(memory_format=torch.channels_last), logits.dtype, loss.dtype)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    norm = nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    scaler.step(opt)
    scaler.update()
    print(loss.item(), norm.isfinite().item(), scaler.get_scale(), model[0].weight.grad.stride(),
          model[1].running_mean.cpu())
print(scaler.state_dict(), model[5].bias.detach().cpu())
print("done")
