# A fused activation written as a custom autograd Function, as kernel-writing users test
# it, on activations split over the workers: the Function writes its input in place
# (mark_dirty) and returns it, applied to a view of a sharded activation; what
# saved-tensor hooks pack meanwhile (the Function's saves alone, as torch's CopySlices
# saves nothing); a retain_grad on the view (the write drops it) and a tensor hook on the
# base; the same Function in a compiled training step over a sharded batch (its losses
# and the weights it leaves); the Function under no_grad and inference_mode (what it
# returns there), and a write to the tensor it saved, refused at backward. `W`, `shard`,
# `full`, `compiled` are the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(97)
B, D = 4, 6


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class ScaledReluInPlace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x, scale)
        ctx.mark_dirty(x)
        x.clamp_(min=0).mul_(scale)
        return x

    @staticmethod
    def backward(ctx, g):
        out, scale = ctx.saved_tensors
        positive = (out > 0).to(g.dtype)
        return g * positive * scale, (g * out / scale).sum()


scale = torch.tensor(1.5, requires_grad=True)
w = torch.randn(D, D, requires_grad=True)
x = torch.randn(B, D)

# -- on a view of a sharded activation ---------------------------------------------------------
packs = []
with torch.autograd.graph.saved_tensors_hooks(lambda t: packs.append(tuple(t.shape)) or t, lambda t: t):
    h = shard(x @ w, 0)
    h.register_hook(lambda g: packs.append(("grad", round(full(g).abs().sum().item(), 4))))
    part = h[:, 1:5]
    part.retain_grad()
    out = ScaledReluInPlace.apply(part, scale)
print(out is part, out.grad_fn.name(), h.grad_fn.name(), h._version, part._version, out._is_view())
print(full(h.detach())[0], packs)
full(h).pow(2).sum().backward()
print(w.grad[0], scale.grad, part.grad, part.retains_grad, [p for p in packs if p[:1] == ("grad",)])

# -- the block in a compiled step ----------------------------------------------------------------
lin = nn.Linear(D, D)
gain = nn.Parameter(torch.tensor(0.8))
opt = torch.optim.SGD([*lin.parameters(), gain], lr=0.05)


@compiled
def train_step(batch):
    opt.zero_grad()
    hid = lin(batch)
    act = ScaledReluInPlace.apply(hid[:, :3], gain)
    loss = (hid.sum(1) + act.sum(1)).pow(2).mean()
    loss.backward()
    opt.step()
    return loss.detach()


xs = shard(torch.randn(8, D), 0)
print([round(train_step(xs).item(), 4) for _ in range(3)], round(gain.item(), 4), lin.bias.detach())

# -- under no_grad and inference_mode --------------------------------------------------------
for mode in (torch.no_grad, torch.inference_mode):
    with mode():
        t = shard(x @ w, 1) if mode is torch.no_grad else x @ w
        v = t[1:]
        y = ScaledReluInPlace.apply(v, scale)
    print(mode.__name__, y is v, y.requires_grad, y.grad_fn, attempt(lambda: t._version), full(t)[1])

# -- a write to what the Function saved ------------------------------------------------------
h = x @ w
o = ScaledReluInPlace.apply(h[:2], scale)
h[0, 0] = 3.0
print(o._version, h._version, attempt(lambda: o.sum().backward()))
print("done")
