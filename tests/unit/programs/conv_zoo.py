# Convolutions as model code mixes them: 1d/2d/3d, grouped and depthwise, dilated and strided,
# padding='same' with even kernels, every padding_mode, bias=False; transposed convs with
# output_padding, groups, dilation and forward's output_size; double backward through a
# conv (a gradient penalty); state_dict round trips; the errors users hit.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(3)

x1 = torch.randn(2, 4, 11)
for kw in (dict(kernel_size=3, groups=4), dict(kernel_size=4, padding="same", dilation=2),
           dict(kernel_size=2, padding="same"), dict(kernel_size=3, stride=2, padding=2, bias=False),
           dict(kernel_size=3, padding="valid", groups=2), dict(kernel_size=5, padding=2, padding_mode="reflect"),
           dict(kernel_size=3, padding=1, padding_mode="circular", dilation=1),
           dict(kernel_size=3, padding=3, padding_mode="replicate", dilation=3)):
    conv = nn.Conv1d(4, 8, **kw)
    y = conv(x1)
    print(conv, tuple(y.shape), y.grad_fn.name(), round(y.sum().item(), 4), conv.weight.shape)
print(nn.Conv1d(4, 8, 3, padding="same").padding, nn.Conv1d(4, 8, 3).output_padding, nn.Conv1d(4, 8, 3).transposed,
      nn.Conv2d(4, 8, (2, 5), padding="same", dilation=(3, 1))._reversed_padding_repeated_twice)

x2 = torch.randn(2, 6, 9, 8, requires_grad=True)
convs = nn.ModuleDict({
    "depthwise": nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False),
    "multiplier": nn.Conv2d(6, 12, (3, 1), padding=(1, 0), groups=6),
    "grouped": nn.Conv2d(6, 9, 3, stride=(2, 1), padding=(0, 1), groups=3),
    "dilated": nn.Conv2d(6, 4, 3, dilation=(2, 3), padding="same", padding_mode="reflect"),
    "even_same": nn.Conv2d(6, 2, (2, 4), padding="same"),
    "strided": nn.Conv2d(6, 5, 4, stride=3, padding=(2, 1), padding_mode="circular"),
    "replicate": nn.Conv2d(6, 3, 3, padding=2, padding_mode="replicate", dilation=2),
})
total = 0
for name, conv in convs.items():
    y = conv(x2)
    total = total + y.pow(2).mean()
    print(name, tuple(y.shape), round(y.mean().item(), 5), round(y.std().item(), 5))
total.backward()
print(x2.grad.shape, round(x2.grad.abs().sum().item(), 4), x2.grad[0, 0, 0, :4])
for name, conv in convs.items():
    print(name, conv.weight.grad.shape, round(conv.weight.grad.norm().item(), 5),
          None if conv.bias is None else conv.bias.grad[:3])

x3 = torch.randn(1, 2, 5, 6, 7)
vol = nn.Conv3d(2, 4, (3, 2, 3), stride=(1, 2, 2), padding=(1, 0, 1), dilation=(2, 1, 1), groups=2)
y3 = vol(x3)
print(y3.shape, y3.grad_fn.name(), vol.weight.shape, round(y3.sum().item(), 4))
same3 = nn.Conv3d(2, 2, 2, padding="same", padding_mode="circular", bias=False)
print(same3(x3).shape, round(same3(x3)[0, 1, 2].sum().item(), 5))
print(F.conv3d(x3, torch.ones(3, 2, 1, 1, 1), stride=2).shape)

up1 = nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
print(up1(x1).shape, up1.weight.shape, up1(x1).grad_fn.name())
up2 = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, dilation=(1, 2), groups=2, bias=False)
z = x2.detach()
for size in (None, (17, 18), (18, 17), [2, 4, 18, 18]):
    out = up2(z, output_size=size)
    print(size, tuple(out.shape), round(out.sum().item(), 4))
try:
    up2(z, output_size=(20, 20))
except ValueError as e:
    print("ValueError:", e)
up3 = nn.ConvTranspose3d(2, 3, 2, stride=(2, 1, 2), output_padding=(1, 0, 0), dilation=(1, 2, 1))
y = up3(x3)
print(y.shape, round(y.mean().item(), 5), up3.output_padding, up3)
try:
    nn.ConvTranspose2d(4, 4, 3, stride=1, output_padding=1)(torch.randn(1, 4, 5, 5))
except RuntimeError as e:
    print("RuntimeError:", e)

# A gradient penalty through convs (double backward).
critic = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                       nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.Tanh(), nn.Flatten(), nn.Linear(64, 1))
real = torch.randn(3, 3, 8, 8, requires_grad=True)
score = critic(real)
g, = torch.autograd.grad(score.sum(), real, create_graph=True)
penalty = ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
print(g.shape, g.grad_fn.name(), round(penalty.item(), 6))
penalty.backward()
print(critic[0].weight.grad[0, 0], critic[2].bias.grad, round(real.grad.abs().sum().item(), 5))
try:
    torch.autograd.grad(g.sum(), real)
except RuntimeError as e:
    print("RuntimeError:", str(e)[:80])
# The same penalty over a channels_last batch: its gradient is channels-last too, which
# view refuses (reshape copies).
real_cl = real.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
g_cl, = torch.autograd.grad(critic(real_cl).sum(), real_cl, create_graph=True)
print(g_cl.stride(), g_cl.is_contiguous(), g_cl.is_contiguous(memory_format=torch.channels_last))
try:
    g_cl.view(g_cl.size(0), -1)
except RuntimeError as e:
    print("RuntimeError:", str(e)[:80])
pen_cl = ((g_cl.reshape(g_cl.size(0), -1).norm(dim=1) - 1) ** 2).mean()
pen_cl.backward()
print(round(pen_cl.item(), 6), torch.allclose(pen_cl, penalty), real_cl.grad.stride())

# state_dict round trips and train/eval.
sd = convs.state_dict()
print(list(sd)[:4], sd["depthwise.weight"].shape, sd["grouped.bias"].requires_grad)
clone = nn.ModuleDict({k: type(v)(v.in_channels, v.out_channels, v.kernel_size, stride=v.stride,
                                   padding=v.padding, dilation=v.dilation, groups=v.groups,
                                   bias=v.bias is not None, padding_mode=v.padding_mode)
                       for k, v in convs.items()})
print(clone.load_state_dict(sd))
print(all(torch.equal(clone[k](x2), convs[k](x2)) for k in convs))
bad = {k: v for k, v in sd.items() if k != "grouped.bias"}
try:
    clone.load_state_dict(bad)
except RuntimeError as e:
    print("RuntimeError:", str(e).splitlines()[0])
print(clone.load_state_dict(bad, strict=False))
sd["depthwise.weight"] = torch.zeros(6, 2, 3, 3)
try:
    clone.load_state_dict(sd)
except RuntimeError as e:
    print("RuntimeError:", str(e).replace("\n", " | ")[:300])

# In-place on conv outputs and views of them.
y = convs["depthwise"](x2)
y.relu_()
y[:, :2].mul_(2)
print(y.grad_fn.name(), y._version, y[:, :2].grad_fn.name())
try:
    y.sum().backward()
except RuntimeError as e:
    print("RuntimeError:", str(e)[:200])
y = convs["depthwise"](x2).tanh() * 1
y[:, :2].mul_(2)
y.sum().backward()
print(round(x2.grad.sum().item(), 4), y.grad_fn.name(), y._version)

# Errors users hit.
for bad in (lambda: nn.Conv2d(4, 6, 3, groups=4), lambda: nn.Conv2d(4, 6, 3, groups=0),
            lambda: nn.Conv2d(4, 4, 3, padding="same", stride=2), lambda: nn.Conv2d(4, 4, 3, padding="full"),
            lambda: nn.Conv2d(4, 4, 3, padding_mode="mirror"),
            lambda: nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect")):
    try:
        bad()
    except (ValueError, TypeError) as e:
        print(type(e).__name__, str(e).split(" {")[0])  # (a set's order varies by run)
for bad in (lambda: convs["depthwise"](torch.randn(6, 9)),
            lambda: convs["depthwise"](torch.randn(1, 2, 3, 6, 9, 8)),
            lambda: convs["grouped"](torch.randn(1, 4, 9, 8)),
            lambda: nn.Conv2d(2, 2, 5)(torch.randn(1, 2, 3, 8)),
            lambda: F.conv1d(x1, torch.randn(8, 3, 3), groups=2),
            lambda: F.conv2d(x2, torch.randn(4, 6, 3)),
            lambda: F.conv1d(x1, torch.randn(8, 4, 3), bias=torch.zeros(7)),
            lambda: F.conv1d(x1, torch.randn(8, 4, 3), stride=0),
            lambda: F.conv1d(x1, torch.randn(8, 4, 3), padding=-1),
            lambda: F.conv_transpose1d(x1, torch.randn(4, 2, 3), groups=3),
            lambda: up2((x2 * 100).to(torch.uint8)),
            lambda: F.conv2d(x2 > 0, torch.ones(2, 6, 3, 3) > 0),
            lambda: F.conv1d(x1.long(), torch.ones(2, 4, 3, dtype=torch.long), dilation=2),
            lambda: F.conv1d((x1 * 9).to(torch.int8), torch.ones(2, 4, 3, dtype=torch.int8), dilation=2),
            lambda: F.max_unpool1d(*F.max_pool1d(x1.long(), 2, return_indices=True), 2)):
    try:
        print("ok", bad().shape)
    except (RuntimeError, NotImplementedError) as e:
        print(type(e).__name__, e)
unbatched = convs["grouped"](x2[0].detach())
print(unbatched.shape, unbatched.grad_fn.name())

# An empty batch (a filtered last batch) through a conv net and back.
empty = torch.randn(0, 3, 8, 8, requires_grad=True)
net0 = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), nn.GroupNorm(2, 4), nn.ReLU(),
                     nn.MaxPool2d(2), nn.ConvTranspose2d(4, 2, 2, stride=2, groups=2), nn.AdaptiveMaxPool2d(3),
                     nn.Flatten(), nn.Linear(18, 1))
out0 = net0(empty)
out0.sum().backward()
print(out0.shape, out0.grad_fn.name(), empty.grad.shape, net0[0].weight.grad.abs().sum().item(), net0[7].bias.grad)
pooled0, idx0 = F.max_pool2d(empty, 2, return_indices=True)
grid0 = torch.zeros(0, 4, 4, 2)
try:
    F.affine_grid(torch.eye(2, 3).expand(0, 2, 3), [0, 3, 4, 4], align_corners=False)
except ValueError as e:
    print("ValueError:", e)
side0 = F.max_unpool2d(pooled0, idx0, 2) + F.grid_sample(empty, grid0, align_corners=False).repeat(1, 1, 2, 2)
side0.sum().backward()
print(side0.shape, side0.grad_fn.name(), F.unfold(empty, 3).shape, F.conv1d(empty[:, :, 0], torch.ones(2, 3, 3)).shape)

# The same convs on a worker, over a batch sharded on the workers, under ddp and compiled.
dw = nn.Sequential(nn.Conv1d(4, 4, 3, padding=1, groups=4, padding_mode="reflect"), nn.GELU(),
                   nn.Conv1d(4, 6, 1, bias=False), nn.ConvTranspose1d(6, 2, 4, stride=2, padding=1))
xs = x1.clone().requires_grad_()
ref = dw(xs)
ref.pow(2).mean().backward()
ref_grads = [p.grad.clone() for p in dw.parameters()]
dw.zero_grad()
dw.to(W[1])
xw = x1.detach().to(W[1]).requires_grad_()
out = dw(xw)
out.pow(2).mean().backward()
print(out.shape, out.device == xw.device, out.grad_fn.name(), torch.allclose(out.cpu(), ref.detach(), atol=1e-5))
print([torch.allclose(p.grad.cpu(), g, atol=1e-5) for p, g in zip(dw.parameters(), ref_grads)],
      torch.allclose(xw.grad.cpu(), xs.grad, atol=1e-5))
dw.to("cpu")
xsh = shard(x1, 0).requires_grad_()
y = dw(xsh)
print(y.shape, torch.allclose(full(y), ref, atol=1e-5), y.grad_fn.name())
y.pow(2).mean().backward()
print(torch.allclose(full(xsh.grad), xs.grad, atol=1e-5), full(xsh.grad)[1, 2, :4])
conv = nn.Conv2d(6, 4, 3, padding=1, groups=2)
model = ddp(conv)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for step in range(3):
    opt.zero_grad()
    loss = model(x2.detach()).pow(2).mean()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5))
print(full(conv.bias.detach()), full(conv.weight.grad)[0, 0, 0])


@compiled
def smooth(img, k):
    return F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), k, groups=img.shape[1])


kernel = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]).div(16).expand(6, 1, 3, 3)
for i in range(3):
    sm = smooth(x2.detach() * (i + 1), kernel)
    print(i, sm.shape, round(sm.sum().item(), 4), sm[0, 0, 0, :3])
print("done")
