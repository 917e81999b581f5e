# torch.autograd.graph as tooling code uses it around views and in-place writes, on a
# worker and split over two (torch: the CPU and a copy): saved-tensor hooks that pack a view
# and see the write that follows, a node pre-hook that replaces the gradient, a multi-grad
# hook in mode "any", gradient edges taken before a write, increment_version making a
# saved tensor stale, and autograd.grad with grad_outputs given as views of one buffer.
# `W`, `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
graph = torch.autograd.graph
get_gradient_edge, increment_version = graph.get_gradient_edge, graph.increment_version
torch.manual_seed(11)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


places = (("worker", lambda t: t.to(W[0]), lambda t: t.cpu()), ("shard", lambda t: shard(t, 0), full))
for where, put, back in places:
    a = torch.randn(4, 3, requires_grad=True)
    packed = []

    def pack(t):
        packed.append((tuple(t.shape), t._version, t.requires_grad))
        return t

    def unpack(t):
        packed.append(("unpack", tuple(t.shape)))
        return t

    x = put(a * 1)
    with graph.saved_tensors_hooks(pack, unpack):
        v = x[1:3]
        y = v.sin()
        z = (y * v).sum()
    print(where, sorted(packed, key=str)[:3], len(packed), v._is_view(), v._base is x)
    edge = get_gradient_edge(x)
    print(edge.output_nr, edge.node is x.grad_fn, get_gradient_edge(v).node.name())
    x.mul_(2)  # v's saved values are stale now
    print(x._version, v._version, attempt(lambda: z.backward()))
    packed.clear()

    b = torch.randn(4, 3, requires_grad=True)
    h = put(b * 1)
    s = h.exp()
    t = s * 2
    u = s.tanh()
    t.grad_fn.register_prehook(lambda gs: (gs[0] * 0.5,))
    fired = []
    graph.register_multi_grad_hook((t, u), lambda g: fired.append(None if g is None else tuple(g.shape)),
                             mode="any")
    total = back(t).sum() + back(u).pow(2).sum()
    total.backward()
    print(fired, b.grad.sum().item() != 0, b.grad[0])

    c = torch.randn(3, 4, requires_grad=True)
    k = put(c * 1)
    q = k.relu()
    w = q * k
    increment_version(q)
    print(q._version, attempt(lambda: w.sum().backward()))
    q2 = k.cos()
    outs = (q2[:, :2], q2[:, 2:])
    buf = torch.arange(12.0).reshape(3, 4)
    grads = torch.autograd.grad([back(o) for o in outs], c,
                                grad_outputs=[buf[:, :2], buf.t().reshape(4, 3).t()[:, 2:]])
    print(grads[0], buf._version)
    e = get_gradient_edge(q2)
    gq = torch.autograd.grad(back(q2).sum(), e)
    print(gq[0].shape, gq[0].sum().item())
print("done")
