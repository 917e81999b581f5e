# Views of an activation written in place while gradients are retained and hooked, as
# attention and normalisation code does by hand, on a worker and split over two (torch:
# the CPU and a copy): a diagonal and a transposed slice written through, unbind's views
# refusing a write, retain_grad on a view before and after its base is written, a hook on a
# view, detach() sharing memory and version, and the gradients through CopySlices.
# `W`, `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(29)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


places = (("worker", lambda t: t.to(W[1]), lambda t: t.cpu()), ("shard", lambda t: shard(t, 0), full))
for where, put, back in places:
    a = torch.randn(4, 4, requires_grad=True)
    h = put(a * 1) + 0
    d = h.diagonal()
    col = h.t()[1:3]
    print(where, d._base is h, col._base is h, d.stride(), col.stride(), col.is_contiguous())
    seen = []
    col.register_hook(lambda g: seen.append(tuple(g.shape)))  # (before the writes: torch
    d.mul_(2)  # through the diagonal: h's node becomes CopySlices   crashes on a stale view)
    print(h.grad_fn.name(), d.grad_fn.name(), h._version, d._version, col._version)
    d.retain_grad()  # (on its history made again)
    col.add_(torch.ones(2, 4).to(col.device) if where == "worker" else 1.0)
    print(col.grad_fn.name(), h._version, d._version, d.retains_grad)
    loose = h.detach()
    print(loose._version, loose._is_view(), loose.requires_grad)
    (back(h) * torch.arange(16.0).reshape(4, 4)).sum().backward()
    print(seen, d.grad is None, a.grad.diagonal(), a.grad[:, 1])

    b = torch.randn(3, 2, requires_grad=True)
    p = put(b * 1)
    first, second, third = p.unbind(0)
    print(first._is_view(), first._base is p, first.grad_fn.name())
    print(attempt(lambda: second.mul_(2)))
    with torch.no_grad():
        third.zero_()
    print(p._version, third._version, attempt(lambda: first.grad_fn.name()))
    q = put(b * 1)
    r = q[1]
    r.retain_grad()
    q[1] = q[0] * 3  # r is stale: its history is made again on use
    print(r._version, r.grad_fn.name(), q.grad_fn.name())
    (back(r).sum() + back(q).pow(2).sum()).backward()
    print(back(r.grad), b.grad)
print("done")
