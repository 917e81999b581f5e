# An image pipeline on uint8 pixels as a user writes one: brightness shifts clamped by an
# int floor and a float ceiling (compared as floats: the -1 floor is not wrapped into a
# uint8), thresholds whose value wraps into uint8, masks combined in place (a float mask
# refused before its missing kernel), a running count that cannot take a batch (a shape
# error before the dtype one), bfloat16 activations checked with isclose and allclose, an
# EMA of weights by lerp (an int end or a number end refused), and a small model trained on
# the normalized pixels with its gradients printed, on a worker too.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(3)


def attempt(label, fn):
    try:
        out = fn()
        print(label, out.cpu() if isinstance(out, torch.Tensor) else out)
    except Exception as e:  # noqa: BLE001
        print(label, type(e).__name__, str(e).split(" (op '")[0])


pixels = torch.tensor([[0, 17, 128, 254], [255, 3, 90, 200]], dtype=torch.uint8)
print("pixels", pixels, pixels.dtype, pixels.sum(), pixels.float().mean())
# brightness: an int floor with a float ceiling gives floats, compared as floats
print("clamped", torch.clamp(pixels, -1, 99.5), pixels.clamp(min=-1, max=2.5).dtype)
print("clamp int8", torch.clamp(pixels.to(torch.int8), -1000, 2.5))
attempt("clamp uint8 by ints", lambda: torch.clamp(pixels, -1, 99))
attempt("clamp_ uint8 by a float", lambda: pixels.clone().clamp_(max=99.5))
print("threshold", F.threshold(pixels, 100, -1), F.threshold(pixels, -1, 7), F.threshold(pixels, 99.5, 0))
attempt("threshold 300", lambda: F.threshold(pixels, 100, 300))
bright = pixels > 100
edges = (pixels.to(torch.int16) - 128).abs() > 100
mask = bright.clone()
mask &= edges
print("masks", mask, mask.dtype, bright.clone().bitwise_or_(edges), bright.clone().bitwise_xor_(True))
attempt("mask &= float", lambda: bright.clone().bitwise_and_(pixels.float()))
attempt("mask &= half", lambda: bright.clone().__iand__(torch.ones(2, 4, dtype=torch.float16)))
attempt("ids &= float", lambda: pixels.long().bitwise_or_(torch.ones(4)))
count = torch.tensor(0)
attempt("count += a batch of floats", lambda: count.add_(pixels.float().mean(0)))
attempt("count += a batch of ints", lambda: count.add_(pixels.sum(0)))
count += pixels.sum()
print("count", count, count.dtype)
attempt("mask //= counts", lambda: bright.clone().floor_divide_(pixels))
attempt("mask %= counts", lambda: bright.clone().remainder_(pixels.to(torch.int8)))
attempt("one flag **= a row", lambda: bright[0, 0].clone().pow_(pixels[0]))
attempt("one flag //= flags", lambda: bright[0, 0].clone().floor_divide_(bright[0]))
attempt("atan2_ by a number", lambda: pixels.float().atan2_(2))
attempt("hypot_ by a number", lambda: pixels.float().hypot_(2.5))

# bfloat16 activations against float32 ones
acts = torch.randn(3, 4)
low = acts.bfloat16()
print("bf16 close", torch.isclose(low, acts.bfloat16()), torch.isclose(low, (acts * 1.01).bfloat16(), rtol=1e-2),
      torch.allclose(low, (acts + 0.01).bfloat16(), atol=0.02))
print("bf16 close nan", torch.isclose(torch.tensor([float("nan"), 1.0]).bfloat16(),
                                      torch.tensor([float("nan"), 1.0]).bfloat16(), equal_nan=True))
print("int close", torch.isclose(pixels.long(), pixels.long() + 1, atol=1),
      torch.isclose(bright, edges), torch.allclose(pixels, pixels))
attempt("isclose across dtypes", lambda: torch.isclose(low, acts))

# a model on the normalized pixels, its EMA by lerp
x = (pixels.float() / 255 - 0.5) / 0.25
model = nn.Linear(4, 2)
ema = nn.Linear(4, 2)
ema.load_state_dict(model.state_dict())
opt = torch.optim.SGD(model.parameters(), lr=0.1)
target = torch.tensor([1, 0])
for step in range(3):
    loss = F.cross_entropy(model(x), target)
    opt.zero_grad()
    loss.backward()
    print("step", step, round(loss.item(), 4), model.weight.grad)
    opt.step()
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 0.25)
print("ema", ema.weight, ema.bias)
attempt("lerp to a number", lambda: torch.lerp(x, 0.0, 0.5))
attempt("lerp_ to a number", lambda: x.clone().lerp_(1, 0.5))
attempt("lerp method to a number", lambda: x.lerp(1.0, torch.tensor(0.5)))
attempt("lerp of ints", lambda: torch.lerp(pixels, pixels.long(), 0.5))
attempt("lerp of uint8", lambda: torch.lerp(pixels, pixels, 0.5))
attempt("lerp_ of one pixel", lambda: pixels[0, 0].clone().lerp_(pixels[0], 0.5))
w = torch.tensor([0.5, 0.25], requires_grad=True)
blend = torch.lerp(x[:, :2], torch.zeros(2, 2), w)
blend.sum().backward()
print("lerp grads", blend, w.grad)

# the same on a worker
dev = W[1]
on = pixels.to(dev)
print("worker clamp", torch.clamp(on, -1, 99.5).cpu(), F.threshold(on, 100, -1).cpu())
wm = (on > 100)
wm &= (on < 250)
print("worker mask", wm.cpu(), torch.isclose(low.to(dev), acts.bfloat16().to(dev)).cpu())
attempt("worker count += batch", lambda: torch.tensor(0, device=dev).add_(on.sum(0)))
attempt("worker mask &= float", lambda: wm.clone().bitwise_and_(on.float()))
attempt("worker lerp of ints", lambda: torch.lerp(on, on.long(), 0.5))
m = nn.Linear(4, 2).to(dev)
m.load_state_dict(model.state_dict())
loss = F.cross_entropy(m(x.to(dev)), target.to(dev))
loss.backward()
print("worker grads", round(loss.item(), 4), m.weight.grad.cpu(), m.bias.grad.cpu())
print("done")
