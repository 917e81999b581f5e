# torch.autograd.graph as scripts use it on plain, placed and sharded tensors:
# saved_tensors_hooks that count and copy, disable_saved_tensors_hooks and its error,
# register_multi_grad_hook (all and any), a node's register_hook and register_prehook,
# allow_mutation_on_saved_tensors around an in-place write, retain_grad on non-leaves and
# on views, and the gradients of views (distgrad: two workers; torch: the CPU and a copy).
import distgrad as torch  # PyTorch: import torch
graph = torch.autograd.graph
torch.manual_seed(3)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])),
                  ("shard", lambda t: shard(t, 0))):
    print("==", name)
    x = put(torch.randn(4, 3)).requires_grad_()
    w = put(torch.randn(4, 3)).requires_grad_()
    packed = []

    def pack(t):
        packed.append(tuple(t.shape))
        return t.clone()

    def unpack(t):
        return t

    with graph.saved_tensors_hooks(pack, unpack):
        y = (x * w).tanh()
        z = y.sum(1)
    print("packed", sorted(packed))
    z.sum().backward()
    print("x.grad", full(x.grad))
    with graph.disable_saved_tensors_hooks("no hooks here"):
        print(attempt(lambda: graph.saved_tensors_hooks(pack, unpack).__enter__()))
        print("inside:", (x * 2).requires_grad)

    seen = []
    handle = graph.register_multi_grad_hook(
        (x, w), lambda grads: seen.append([g is None for g in grads]))
    (x * 3).sum().backward()
    print("all mode", seen)
    handle.remove()
    seen.clear()
    handle = graph.register_multi_grad_hook(
        (x, w), lambda g: seen.append(tuple(g.shape)), mode="any")
    (w * w).sum().backward()
    print("any mode", seen)
    handle.remove()

    x.grad = None
    w.grad = None
    out = (x * w).exp()
    node = out.grad_fn
    calls = []
    node.register_prehook(lambda gout: calls.append(("pre", len(gout))) or (gout[0] * 2,))
    node.register_hook(lambda gin, gout: calls.append(("post", len(gin), len(gout))))
    out.sum().backward()
    print("node hooks", node.name(), calls)
    print("x.grad", full(x.grad))

    x.grad = None
    h = x * 2
    h.retain_grad()
    row = h[1]
    row.retain_grad()
    col = h[:, 0]
    col.retain_grad()
    (row * 3).sum().add((col ** 2).sum()).backward()
    print("retained h", full(h.grad))
    print("row", full(row.grad), row._is_view(), row._base is h, row.is_leaf)
    print("col", full(col.grad), col.grad.is_contiguous(), col.grad.stride())

    with graph.allow_mutation_on_saved_tensors():
        a = x.detach().clone().requires_grad_()
        b = a * 1
        c = b.sin()
        b.mul_(10)
        c.sum().backward()
        print("mutation allowed", a.grad.sum().item(), b._version)
    a = x.detach().clone().requires_grad_()
    b = a * 1
    c = b.sin()
    b.mul_(10)
    print(attempt(lambda: c.sum().backward()))
print("done")
