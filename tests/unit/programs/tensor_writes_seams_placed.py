# Tensor methods preprocessing and bookkeeping code mixes, on the driver, a worker and
# split over two (torch: the CPU and a copy): in-place writes into an expanded tensor (the
# error), resize_as_, copy_ between non-contiguous views, narrow_copy, masked_fill_ through
# a view of a leaf under no_grad then backward, index_add_ into a view, bucketize and
# searchsorted, histc, unique with inverse and counts, nan_to_num_ and clamp_ with tensor
# bounds; versions, bases, strides and shared memory along the way.
# `W`, `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(3)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def same_memory(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


places = (("cpu", lambda t: t, lambda t: t), ("worker", lambda t: t.to(W[1]), lambda t: t.cpu()),
          ("shard", lambda t: shard(t, 0), full))
for where, put, back in places:
    row = put(torch.arange(4.0).reshape(4, 1).clone())
    wide = row.expand(4, 3)
    print(where, wide.stride(), wide.is_contiguous(), wide._base is row, attempt(lambda: wide.add_(1)))
    print(attempt(lambda: back(wide.zero_()).sum().item()), row._version, back(row).tolist())

    grid = put(torch.arange(24.0).reshape(4, 6))
    cols = grid[:, ::2]
    rows_t = grid.t()[1::2]
    print(cols.stride(), rows_t.stride(), cols.is_contiguous(), same_memory(cols, grid))
    cols.copy_(rows_t.t()[:, :3] * 10)
    print(back(grid).tolist()[1], grid._version, cols._version, rows_t._version)
    nc = grid.narrow_copy(1, 2, 3)
    print(nc.shape, nc.is_contiguous(), same_memory(nc, grid), back(nc)[0].tolist())

    leaf = torch.randn(4, 3, requires_grad=True)
    h = put(leaf * 1)
    v = h[1:3]
    with torch.no_grad():
        v.masked_fill_(v > 0, 0.0)
    print(v._version, h._version, v.requires_grad, v._base is h)
    (back(h) * torch.arange(12.0).reshape(4, 3)).sum().backward()
    print(leaf.grad)

    acc = put(torch.zeros(5, 4))
    inner = acc[:, 1:]
    inner.index_add_(0, put(torch.tensor([0, 2, 2])), put(torch.ones(3, 3)), alpha=2)
    print(back(acc).sum(0).tolist(), acc._version, inner._version, inner._base is acc)

    edges = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    vals = put(torch.tensor([[-2.0, 0.0, 0.3], [0.5, 1.9, 3.0]]))
    print(back(torch.bucketize(vals, edges.to(vals.device) if where == "worker" else edges)).tolist(),
          torch.searchsorted(edges, back(vals).flatten(), right=True).tolist())
    data = put(torch.tensor([1.0, 2.0, 2.0, 5.0, 7.0, 7.0, 7.0, 0.5]))
    print(back(torch.histc(data, bins=4, min=0, max=8)).tolist())
    u, inv, counts = torch.unique(back(data), return_inverse=True, return_counts=True)
    print(u.tolist(), inv.tolist(), counts.tolist())

    noisy = put(torch.tensor([[float("nan"), 1.0, float("inf")], [-float("inf"), 4.0, -2.0]]))
    noisy.nan_to_num_(nan=0.0, posinf=9.0, neginf=-9.0)
    lo, hi = put(torch.tensor([[-1.0, 2.0, 0.0], [0.0, 0.0, -5.0]])), put(torch.full((2, 3), 3.0))
    noisy.clamp_(min=lo, max=hi)
    print(back(noisy).tolist(), noisy._version)
    print(attempt(lambda: noisy.clamp_(min=lo[:, :2])))

    target = put(torch.zeros(2, 2))
    source = torch.ones(3, 2)
    if where == "cpu":
        target.resize_as_(source)
        print(target.shape, target.stride(), target._version)
    grown = torch.zeros(2)
    print(attempt(lambda: grown.resize_as_(torch.ones(2, 2)).shape), grown._version)
print("done")
