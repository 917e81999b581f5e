# Saved-tensor hooks around in-place code, as memory-saving wrappers use them: what pack
# is shown (the written tensor at its version after the write, a view's regenerated
# history), what unpack gives (later writes included, unchecked), save_on_cpu around
# writes through views, and a checkpointed block that writes its temporaries, on the
# driver, a worker and shards (distgrad: two workers; torch: the CPU and a copy).
# `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(47)
F = torch.nn.functional


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


log = []


def pack(x):
    log.append((tuple(x.shape), x._version, x.grad_fn.name() if x.grad_fn is not None else None,
                x.requires_grad))
    return x


def unpack(x):
    log.append(("unpack", tuple(x.shape), x._version))
    return x


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[1]))):
    a = torch.randn(3, 4, requires_grad=True)
    w = put(a * 1)
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        w.sigmoid_()
        w[1:].tanh_()
        F.relu_(w.t()[0])
    print(name, log, w._version)
    log.clear()
    w.mul_(2)
    w.sum().backward()
    print(log, a.grad[0])
    log.clear()

    b = torch.randn(2, 3, requires_grad=True)
    with torch.autograd.graph.save_on_cpu():
        h = put(b * 1)
        h.t()[1].exp_()
        h.clamp_(max=1.0)
        out = (h * h).sum()
    out.backward()
    print(b.grad)

for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])),
                  ("shard", lambda t: shard(t, 0))):
    c = torch.randn(4, 3, requires_grad=True)

    def block(t):
        z = t * 1
        z[:, 1:].sigmoid_()
        z.t()[0].exp_()
        return z.sum(1)

    y = torch.utils.checkpoint.checkpoint(block, put(c * 1), use_reentrant=False)
    full(y).pow(2).sum().backward()
    print(name, c.grad)
print("done")
