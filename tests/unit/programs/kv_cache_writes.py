# A preallocated key/value cache written step by step through slices, as incremental
# decoding code keeps one, on a worker and split over workers (distgrad: two workers; torch:
# the CPU and a copy): keys of a differentiable projection written into the cache in grad
# mode (the cache becomes CopySlices and carries their gradient), attention reading the
# filled prefix through views (narrow, swapaxes, tensor_split into heads), a step whose
# saved view of the cache is made stale by the next write (torch's error), the same
# cache filled under no_grad for generation, index_copy_ for scattered positions, and the
# gradients of the projection. `W`, `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(89)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def name(t):
    return t.grad_fn.name() if t.grad_fn is not None else None


T, D = 3, 4
proj = torch.randn(D, 2 * D, requires_grad=True)
xs = torch.randn(T, D)
places = (("worker", lambda t: t.to(W[1]), lambda t: t.cpu()), ("shard", lambda t: shard(t, 1), full))
for where, put, back in places:
    proj.grad = None
    cache = put(torch.zeros(2, T, D))  # (keys, values) x positions x features
    outs = []
    for t in range(T):
        kv = (xs[t] @ proj).view(2, D)
        cache[:, t] = put(kv)
        keys = back(cache[0].narrow(0, 0, t + 1)).clone()  # (the next write would make a
        vals = back(cache.swapaxes(0, 1)[: t + 1, 1]).clone()  # saved view of it stale)
        att = (keys @ xs[t]).softmax(0)
        outs.append(att @ vals)
    print(where, name(cache), cache._version, cache.requires_grad, cache.is_leaf, cache.stride())
    heads = cache.tensor_split(2, dim=2)
    print([h.shape for h in heads], [h._base is cache for h in heads], [h.stride() for h in heads])
    loss = torch.stack(outs).pow(2).sum() + back(heads[1]).sum()
    loss.backward()
    print(round(loss.item(), 5), proj.grad.abs().sum().item() > 0, proj.grad[:, :3])

    stale = put(torch.zeros(2, T, D))
    stale[:, 0] = put((xs[0] @ proj).view(2, D))
    row = stale[0, :1]
    first = row.sin()  # sin saves its input: a view of the cache
    stale[:, 1] = put((xs[1] @ proj).view(2, D))  # a write to the whole cache: that view is stale
    print(stale._version, attempt(lambda: back(first).sum().backward(retain_graph=True)))
    pre = stale[0, :2] * 1  # (a product with a number saves nothing)
    stale[:, 2] = put((xs[2] @ proj).view(2, D))
    proj.grad = None
    print(attempt(lambda: back(pre).sum().backward()), proj.grad[:, :2])

    with torch.no_grad():
        gen = put(torch.zeros(2, T, D))
        for t in range(T):
            gen[:, t] = put((xs[t] @ proj).view(2, D))
        idx = torch.tensor([2, 0]).to(W[1]) if where == "worker" else torch.tensor([2, 0])
        gen[1].index_copy_(0, idx, put(torch.ones(2, D)))
    print(gen.requires_grad, gen._version, name(gen), back(gen)[1, :, 0], back(gen)[0, 2])
print("done")
