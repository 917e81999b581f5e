# Checkpoints of tensors that share memory, as scripts write them with torch.save into a
# BytesIO: a base and its views (slices, a transpose, a flat view), a parameter and a view of
# it, tensors placed on a worker and their views, the same tensor saved twice, a view saved
# alone (its whole storage comes with it); after loading, which loaded tensors share memory
# (data_ptr equalities), their strides and offsets, version counters, is_leaf and
# requires_grad, and what in-place writes through one loaded tensor show in the others
# (distgrad: a worker; torch: the CPU). `W` is the runner's (test_programs.py).
import io

import distgrad as torch  # PyTorch: import torch
torch.manual_seed(37)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def ptr(t):
    return t.untyped_storage().data_ptr()


def round_trip(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, **kw)


def describe(d):
    for k, t in d.items():
        print(k, tuple(t.shape), t.stride(), t.storage_offset(), t._version, t.is_leaf,
              t.requires_grad, t._base is None, t.is_contiguous(), type(t).__name__)


for where, put, back in (("cpu", lambda t: t, lambda t: t), ("worker", lambda t: t.to(W[1]),
                                                               lambda t: t.cpu())):
    base = put(torch.arange(12.).reshape(3, 4))
    obj = {"base": base, "row": base[1], "col": base[:, 2], "t": base.t(), "flat": base.view(-1)[2:10],
           "again": base}
    got = round_trip(obj)
    describe(got)
    print(where, got["base"] is got["again"], ptr(got["row"]) == ptr(got["base"]),
          ptr(got["t"]) == ptr(got["flat"]), got["row"]._base is got["base"])
    got["row"].mul_(-1)
    got["t"][3].fill_(0.5)
    with torch.no_grad():
        got["flat"][0] = 99.0
    print(back(got["base"]), back(got["col"]), [got[k]._version for k in ("base", "row", "t", "flat")])
    print(back(base))  # the saved one is untouched

    alone = round_trip(base[:, 1:3])
    print(alone.shape, alone.stride(), alone.storage_offset(), alone.untyped_storage().nbytes(),
          alone.is_contiguous(), back(alone))

# -- parameters and their views, requires_grad kept -------------------------------------------------
lin = torch.nn.Linear(3, 2).to(W[0])
state = {"w": lin.weight, "w_row": lin.weight[0], "b": lin.bias, "frozen": lin.weight.detach()[1]}
got = round_trip(state)
describe(got)
print(ptr(got["w"]) == ptr(got["w_row"]), ptr(got["w"]) == ptr(got["frozen"]),
      got["w"].device == lin.weight.device)
print(attempt(lambda: got["w"].add_(1)), attempt(lambda: got["w_row"].add_(1)))
with torch.no_grad():
    got["w_row"].zero_()
print(got["w"].detach().cpu(), got["w"]._version, got["frozen"].cpu())
loss = (got["w"] * 3).sum() + got["b"].sum()
loss.backward()
print(got["w"].grad.cpu(), got["b"].grad.cpu(), got["w_row"].grad)

# -- loaded onto the driver (map_location), then sharing and writes ---------------------------------
h = torch.randn(2, 3).to(W[1])
got = round_trip([h, h[:, 1], h.T], map_location="cpu")
print([t.device.type for t in got], ptr(got[0]) == ptr(got[2]), got[2].stride())
got[1].add_(10)
print(got[0], got[2][1])
print("done")
