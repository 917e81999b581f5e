# Activation offloading as memory-saving scripts write it: saved_tensors_hooks that pack
# each saved tensor to the CPU (a copy, as a pinned offload makes) and unpack it back to the
# device it came from, save_on_cpu, and checkpoint(use_reentrant=False), around blocks on a
# worker and split over workers with in-place ops inside; what pack sees (shapes, dtypes,
# versions, whether it is a leaf or an output), a hook that returns another dtype or shape
# (torch's errors), a write after packing (a packed copy is not checked), nested hooks, and
# the gradients (distgrad: two workers; torch: the CPU and a copy). `W`, `shard`, `full`
# are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(53)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


packed = []


def offload(t):
    packed.append((tuple(t.shape), str(t.dtype), t._version, t.requires_grad, t.is_leaf))
    return t.device, t.to("cpu", copy=True)


def bring_back(p):
    device, t = p
    return t.to(device)


def pack_detached(t):  # (split over workers: "sharded" is no device to move a copy back to)
    packed.append((tuple(t.shape), str(t.dtype), t._version, t.requires_grad, t.is_leaf))
    return t.detach()


lin = torch.nn.Linear(4, 3).to(W[1])
places = (("worker", lambda t: t.to(W[1]), lambda t: t.cpu(), offload, bring_back),
          ("shard", lambda t: shard(t, 0), full, pack_detached, lambda t: t))
for where, put, back, pack, unpack in places:
    a = torch.randn(4, 4, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        x = put(a * 1)
        h = x.sigmoid()
        h[1:].mul_(2)  # (sigmoid saved its output: packed before this write)
        y = back(h.pow(2).sum())
    print(where, packed, h._version, h.grad_fn.name())
    packed.clear()
    print(attempt(lambda: y.backward()), a.grad)

    b = torch.randn(4, 4, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        z = put(b * 1)
        w = z.exp()
        w2 = w * z
    z.add_(1)  # a write after packing: what was packed is a copy, not checked
    print(where, len(packed), z._version, attempt(lambda: back(w2).sum().backward()), b.grad)
    packed.clear()

    with torch.autograd.graph.save_on_cpu():
        c = torch.randn(3, 4, requires_grad=True)
        u = put(c * 1)
        u.t()[0].tanh_()
        v = lin(back(u).to(W[1])).relu_()
        loss = (v * v).mean()
    loss.backward()
    print(where, round(loss.item(), 5), u._version, v.grad_fn.name(), c.grad)

    def block(t):
        s = t * 1
        s[:, :2].sigmoid_()
        s.t()[3].exp_()
        return s.sum(1, keepdim=True) * t

    d = torch.randn(4, 4, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        out = torch.utils.checkpoint.checkpoint(block, put(d * 1), use_reentrant=False)
    print(where, out.grad_fn.name(), packed[:2])
    packed.clear()
    back(out).sum().backward()
    print(d.grad)

# -- hooks that return something else ---------------------------------------------------------------
e = torch.randn(3, requires_grad=True)
for name, bad in (("dtype", lambda t: t.double()), ("shape", lambda t: t.reshape(1, 3)),
                  ("values", lambda t: t * 2)):
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t, bad):
        f = (e.to(W[1]) * 1).exp()
    print(name, attempt(lambda: f.sum().backward()), e.grad)
    e.grad = None

# -- nested hooks: the inner ones pack --------------------------------------------------------------
outer, inner = [], []
with torch.autograd.graph.saved_tensors_hooks(lambda t: outer.append(1) or t, lambda t: t):
    g = torch.randn(2, 2, requires_grad=True)
    k = g.to(W[0]).sin()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: inner.append(1) or t, lambda t: t):
        m = k.cos()
    n = m.exp()
print(len(outer), len(inner))
n.sum().backward()
print(g.grad)
print("done")
