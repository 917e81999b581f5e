# Sharded tensors, ddp and tensors on workers in one training script: a channels_last
# batch split over the workers through a conv net and a batch norm (their strides, new_zeros
# / new_full of the activations as accumulators, an as_strided view of them written), a
# ddp model trained with gradient accumulation under no_sync (post-accumulate-grad hooks
# on every backward, .grad read inside, clipping, version counters going on across the
# wrapping and the steps), a sharded parameter trained by Adam and written through views
# between steps, a worker's buffer written through views, inference tensors' copies, and a
# checkpoint of all of it (a sharded leaf and its view among them) saved with torch.save
# and loaded into fresh objects that train on to the same numbers. `W`, `shard`, `full`
# and `ddp` are the runner's (test_programs.py).
import contextlib
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(28)


# -- a channels_last batch, split over the workers, through a conv -----------------------
images = torch.randn(4, 3, 6, 6).contiguous(memory_format=torch.channels_last)
xs = shard(images, 0)
print(xs.stride(), xs.is_contiguous(), xs.is_contiguous(memory_format=torch.channels_last))
conv = nn.Conv2d(3, 4, 3, padding=1)
feats = F.relu(conv(xs))
print(feats.shape, feats.stride(), feats.is_contiguous(memory_format=torch.channels_last))
total = feats.new_zeros(feats.shape)
bias = feats.new_full((4,), 0.5)
for k in range(2):
    total.add_(feats * (k + 1))
print(total.shape, total.stride(), full(total).sum().item(), full(bias), total._version)
strip = total.as_strided((4, 4), (144, 1), 0)
strip.mul_(-1)
print(full(total)[:, :, 0, 0], total._version)
loss = (full(total) * bias.view(1, 4, 1, 1)).pow(2).mean()
loss.backward()
print(round(loss.item(), 5), conv.weight.grad.norm().item(), conv.bias.grad)
pooled = F.max_pool2d(F.batch_norm(feats.detach(), None, None, training=True), 2)
print(pooled.stride(), pooled.is_contiguous(memory_format=torch.channels_last), full(pooled).sum().item())
print(xs.new_tensor([1.0, 2.0]), xs.new_ones(4, 3, 6, 6).stride(), full(xs.new_ones(2, 3) + 1))

# -- ddp with gradient accumulation under no_sync -----------------------------------------
net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
with torch.no_grad():
    net[0].weight.mul_(0.5)
print([p._version for p in net.parameters()])
model = ddp(net)
print([p._version for p in net.parameters()])
calls = []
for name, p in net.named_parameters():
    p.register_post_accumulate_grad_hook(
        lambda p, name=name: calls.append((name, round(full(p.grad).abs().sum().item(), 4))))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
data = [(torch.randn(6, 5), torch.randint(0, 3, (6,))) for _ in range(4)]
no_sync = getattr(model, "no_sync", contextlib.nullcontext)
for step in range(2):
    opt.zero_grad()
    for i, (x, y) in enumerate(data[2 * step:2 * step + 2]):
        with no_sync() if i == 0 else contextlib.nullcontext():
            F.cross_entropy(model(x), y).backward()
        if i == 0:
            print("accumulated", full(net[2].bias.grad))
    opt.step()
    print(step, sorted(calls), [p._version for p in net.parameters()])
    calls.clear()
print(full(net[2].weight.detach())[0], full(net[0].bias.detach())[:3])
with no_sync():
    F.cross_entropy(model(data[0][0]), data[0][1]).backward()
F.cross_entropy(model(data[1][0]), data[1][1]).backward()
norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
scale = net[0].weight.new_full((8, 5), 0.9)
with torch.no_grad():
    net[0].weight.mul_(scale)
    net[0].weight[:, 0].zero_()
opt.step()
print(round(norm.item(), 5), full(net[0].weight.detach())[:2], [p._version for p in net.parameters()])

# -- a sharded parameter trained with Adam, written through views between steps ---------
emb = shard(torch.randn(6, 4), 0).requires_grad_()
adam = torch.optim.Adam([emb], lr=0.05)
idx = torch.tensor([0, 2, 5, 5])
for step in range(3):
    adam.zero_grad()
    out = full(emb)[idx]
    (out.pow(2).sum() + out[:, 0].sum()).backward()
    adam.step()
    with torch.no_grad():
        emb.as_strided((2, 2), (4, 1), 4 * step).clamp_(-0.5, 0.5)
        emb[:, 3].mul_(0.9)
    print(step, emb._version, full(emb.detach())[step], full(adam.state[emb]["exp_avg"])[5])
bn = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))
y = bn(xs)
(y * torch.linspace(-1, 1, 6)).pow(2).sum().backward()
# (the conv's weight gradient to its norm: its small entries are what is left of sums of
# large ones, whose float32 order in torch's kernel follows MKL's instruction set)
conv_grad = bn[0].weight.grad.flatten()
print(y.stride(), bn[1].running_var, bn[1].weight.grad, conv_grad / conv_grad.norm())

# -- a worker's buffer written through views ----------------------------------------------
buf = torch.arange(12.).reshape(3, 4).to(W[1])
row, col, flat = buf[1], buf[:, 2], buf.view(-1)
row.mul_(10)
col.add_(100)
flat[::5].zero_()
buf.as_strided((2, 2), (4, 1), 1).neg_()
print(buf.cpu(), row.cpu(), buf._version, row._version, col._base is row._base)

with torch.inference_mode():
    frozen = torch.ones(3) * 2
copy = frozen.clone()
print(copy._version, frozen.is_inference(), copy.is_inference(), frozen.double()._version)
with torch.inference_mode():
    ev = model(data[0][0])
print(ev.is_inference(), full(ev.clone())[0], ev.clone()._version, full(ev).argmax(1))

# -- a checkpoint of all of it, loaded into fresh objects ---------------------------------
w = shard(torch.randn(6, 3), 0).requires_grad_()
file = io.BytesIO()
torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "feats": total.detach(),
            "buf": buf, "row": row, "conv": conv.state_dict(), "w": w, "wv": w[2:5]}, file)
file.seek(0)
ck = torch.load(file)
wl = ck["w"]
print(wl.requires_grad, wl.is_leaf, wl._version, ck["wv"].shape, torch.equal(full(wl.detach()).cpu(), full(w.detach()).cpu()))
with torch.no_grad():
    ck["wv"].mul_(0)
print(full(wl.detach())[:, 0], wl._version)
(full(wl) * torch.arange(6.).view(6, 1)).sum().backward()
print(full(wl.grad)[:, 0])
print(sorted(ck), torch.equal(full(ck["feats"]).cpu(), full(total).detach().cpu()), ck["row"].cpu())
ck["row"].fill_(-5)
print(ck["buf"].cpu()[1], ck["buf"]._version, ck["row"]._version)
net2 = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
print(net2.load_state_dict(ck["net"]))
model2 = ddp(net2)
opt2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
opt2.load_state_dict(ck["opt"])
for m, o in ((model, opt), (model2, opt2)):
    for x, y in data:
        o.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        o.step()
    print(round(loss.item(), 6))
print(torch.equal(full(net[2].weight.detach()).cpu(), full(net2[2].weight.detach()).cpu()),
      [p._version for p in net2.parameters()])
print("done")
