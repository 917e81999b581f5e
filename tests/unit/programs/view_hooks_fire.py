# Hooks and retained gradients on views that are read (not written) afterwards, as
# attribution code registers them: a hook replacing the gradient of a slice, of a
# transpose and of an unsqueezed row, hooks on a view of a view, hook order and removal,
# retain_grad on a view and on its base, a hook on a view of a leaf, and the same on a
# worker and on shards (distgrad: two workers; torch: the CPU and a copy).
# `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(71)

for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[1])),
                  ("shard0", lambda t: shard(t, 0)), ("shard1", lambda t: shard(t, 1))):
    a = torch.randn(4, 4, requires_grad=True)
    b = put(a * 1)
    b.retain_grad()
    top = b[:2]
    tt = top.t()
    row = b[3].unsqueeze(0)
    order = []
    tt.retain_grad()
    h1 = top.register_hook(lambda g: order.append("top") or g * 10)
    tt.register_hook(lambda g: order.append("tt") or g + 1)
    row.register_hook(lambda g: order.append("row") or -g)
    h4 = top.register_hook(lambda g: order.append("top2"))
    loss = (full(tt) ** 2).sum() + (full(row) * 3).sum() + full(b).sum()
    loss.backward(retain_graph=True)
    print(name, order, a.grad[0], a.grad[3])
    print(full(b.grad)[0], full(tt.grad)[0], tt.grad.shape, top.grad)
    order.clear()
    a.grad = None
    h1.remove()
    h4.remove()
    loss.backward()
    print(order, a.grad[0])

leaf = torch.randn(3, 2, requires_grad=True)
v = leaf[1:]
v.register_hook(lambda g: g * 0)
leaf.register_hook(lambda g: g + 100)
(v.sum() + leaf.sum()).backward()
print(leaf.grad, v.grad_fn.name(), v.is_leaf)
print("done")
