# One tensor seen through chains of views (reshape, flatten, unflatten, movedim, diagonal,
# select, narrow, expand, unsqueeze, squeeze, t, mT, permute, view(dtype)) and written
# through each alias in turn, in grad mode and under no_grad, on the driver, a worker and
# split over workers: which alias is a view of which (_base is x, _is_view()), the shared
# storage, strides, versions seen through every alias, the nodes the writes leave, the errors
# of writing an expanded alias, and the gradients that reach the leaf (distgrad: two
# workers; torch: the CPU and a copy). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(19)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def ptr(t):
    return t.untyped_storage().data_ptr()


def name(t):
    return t.grad_fn.name() if t.grad_fn is not None else None


places = (("cpu", lambda t: t, lambda t: t), ("worker", lambda t: t.to(W[1]), lambda t: t.cpu()),
          ("shard", lambda t: shard(t, 0), full))
for where, put, back in places[1:]:
    leaf = torch.randn(4, 6, requires_grad=True)
    x = put(leaf * 1)
    aliases = {
        "reshape": x.reshape(2, 12), "flatten": x.flatten(), "unflatten": x.unflatten(1, (2, 3)),
        "movedim": x.unflatten(1, (2, 3)).movedim(2, 0), "diagonal": x.diagonal(offset=1),
        "select": x.select(1, 2), "narrow": x.narrow(0, 1, 2), "unsqueeze": x.unsqueeze(1),
        "squeeze": x.unsqueeze(0).squeeze(0), "t": x.t(), "mT": x.unflatten(0, (2, 2)).mT,
        "permute": x.view(2, 2, 6).permute(2, 0, 1)}
    print(where, [(k, v._base is x, v._is_view(), ptr(v) == ptr(x), v.stride())
                  for k, v in aliases.items()])
    for k, v in aliases.items():
        before = x._version
        if k in ("diagonal", "select", "narrow"):
            v.mul_(1.5)
        elif k in ("movedim", "permute"):
            v[0].add_(0.25)
        else:
            v.view(-1)[:3].sub_(0.5) if v.is_contiguous() else v.select(-1, 0).neg_()
        print(k, before, x._version, v._version, name(v), name(x))
    with torch.no_grad():
        aliases["t"][1].fill_(2.0)
        aliases["flatten"][-1] = -3.0
    print(x._version, aliases["reshape"]._version, name(x), aliases["unsqueeze"].requires_grad)
    e = x.unsqueeze(1).expand(4, 3, 6)
    print(attempt(lambda: e.add_(1)), e._base is x, e.stride())
    (back(x) * torch.arange(24.).view(4, 6)).sum().backward()
    print(leaf.grad)
    print(back(x.detach()))

# -- view(dtype): bits of a float tensor written as integers ---------------------------------------
for where, put, back in places[:2]:
    f = put(torch.tensor([1.0, -2.0, 0.5, 3.0]))
    bits = f.view(torch.int32)
    print(where, bits._base is f, bits.dtype, bits.stride(), ptr(bits) == ptr(f))
    bits[1] = bits[1] & 0x7FFFFFFF  # clears the sign bit through the integer view
    bits.view(2, 2)[1, 0] += 1 << 23  # one more in the exponent: twice the value
    print(back(f), f._version, bits._version, back(bits))
    halves = f.view(torch.int16)
    print(halves.shape, halves.stride(), halves._base is f, attempt(lambda: f[:3].view(torch.int64)))
print("done")
