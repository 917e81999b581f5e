# The less travelled ops of a preprocessing or loss script, on plain, placed and sharded
# tensors: diagonal/select/slice_scatter and index_copy_ into views, take_along_dim and
# masked_select gradients, tensor_split/hsplit/dstack views and copies, rot90/movedim/
# swapaxes strides, pdist, channel_shuffle, addcdiv_ and copysign/ldexp/float_power/
# heaviside/frexp dtypes (distgrad: two workers; torch: the CPU and a copy).
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(61)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])),
                  ("shard", lambda t: shard(t, 0))):
    print("==", name)
    a = put(torch.randn(4, 4)).requires_grad_()
    d = torch.diagonal_scatter(a, put(torch.ones(4)), 0)
    print("diagonal_scatter", d.grad_fn.name(), full(d.detach()).diagonal())
    s = torch.select_scatter(d, d[0].detach() * 0 + 2, 0, 1)
    sl = torch.slice_scatter(s, s[:, :1].detach() * 0 - 1, dim=1, start=3, end=4)
    print("slice_scatter", full(sl.detach())[1], sl.shape, sl.is_contiguous())
    sl.pow(2).sum().backward()
    print("a.grad", full(a.grad))

    b = put(torch.arange(12.0).reshape(4, 3)).requires_grad_()
    idx = put(torch.tensor([[2, 0], [1, 1], [0, 2], [2, 2]]))
    t = torch.take_along_dim(b, idx, dim=1)
    m = torch.masked_select(b, b.detach() > 5)
    print("take_along_dim", full(t.detach()), t.grad_fn.name(), m.shape, m.grad_fn.name())
    (t.sum() + m.sum() * 2).backward()
    print("b.grad", full(b.grad))

    c = put(torch.arange(24.0).reshape(4, 6).clone())
    parts = torch.tensor_split(c, (1, 4), dim=1)
    print("tensor_split", [tuple(p.shape) for p in parts], [p._is_view() for p in parts],
          parts[2]._base is c, parts[1].stride())
    h = torch.hsplit(c, 3)
    print("hsplit", len(h), h[1].is_contiguous(), full(h[1])[0])
    parts[1].mul_(-1)
    print("written through split", full(c)[0], c._version, parts[0]._version)
    st = torch.dstack([full(h[0]), full(h[2])])
    print("dstack", st.shape, st.is_contiguous(), st[0, 0])
    r = torch.rot90(c, 1, (0, 1))
    mv = torch.movedim(c.reshape(2, 2, 6), 0, 2)
    sw = c.swapaxes(0, 1)
    print("rot90", r.shape, full(r)[0], "movedim", mv.shape, mv.stride(), mv._is_view(),
          "swapaxes", sw.stride(), sw._base is c)

    pts = put(torch.randn(4, 3)).requires_grad_()
    pd = F.pdist(pts)
    pd.sum().backward()
    print("pdist", pd.shape, pd.grad_fn.name(), full(pts.grad).abs().sum().item())
    img = put(torch.arange(32.0).reshape(2, 4, 2, 2))
    print("channel_shuffle", full(F.channel_shuffle(img, 2))[0, :, 0, 0])

    p = put(torch.ones(4, 3))
    num = put(torch.full((4, 3), 2.0))
    den = put(torch.full((4, 3), 4.0))
    p.addcdiv_(num, den, value=-0.5)
    print("addcdiv_", full(p)[0], p._version)
    v = put(torch.tensor([-2.0, -0.0, 0.0, 3.0]))
    print("copysign", full(torch.copysign(v, -1.0)), full(torch.heaviside(v, put(torch.full((4,), 0.5)))))
    ints = put(torch.tensor([1, 2, 3, 4]))
    print("ldexp", full(torch.ldexp(v, ints)).dtype, "float_power", full(torch.float_power(ints, 2)).dtype,
          full(torch.float_power(ints, 2)))
    mant, ex = torch.frexp(put(torch.tensor([8.0, 0.75, -3.0, 0.0])))
    print("frexp", full(mant), full(ex), ex.dtype)
    print(attempt(lambda: ints.float_power_(2)))
    print(attempt(lambda: torch.frexp(ints)))
print("done")
