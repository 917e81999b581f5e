# Forward-mode AD with tensors placed, as JVP-based training tricks use it: dual tensors on
# a worker and split over workers, in-place ops and writes through views of a dual (the
# tangent follows the write), unpack_dual of views, a dual written into a plain buffer,
# torch.func.jvp and linearize of a function of placed inputs, and backward of a primal
# (distgrad: two workers; torch: the CPU and a copy). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
fwAD = torch.autograd.forward_ad
torch.manual_seed(83)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


x = torch.randn(4, 3)
t = torch.randn(4, 3)
for name, put in (("cpu", lambda a: a), ("worker", lambda a: a.to(W[1])),
                  ("shard", lambda a: shard(a, 0))):
    with fwAD.dual_level():
        d = fwAD.make_dual(put(x), put(t))
        y = d.sin() * 2
        y[1:].mul_(3)
        y.t()[0].add_(d[:, 1])
        p, tan = fwAD.unpack_dual(y)
        print(name, full(p)[1], full(tan)[1], tan is not None)
        v = y[2]
        vp, vt = fwAD.unpack_dual(v)
        print(full(vt) if vt is not None else None, vp.shape)
        buf = put(torch.zeros(4, 3))
        buf.copy_(y)
        print(full(fwAD.unpack_dual(buf).tangent)[0])
        z = y.exp().sum()
        print(round(fwAD.unpack_dual(z).tangent.item(), 4))


def f(a, b):
    h = a @ b
    h.diagonal().add_(1)
    return h.tanh()


a = torch.randn(3, 3)
b = torch.randn(3, 3)
for name, put in (("cpu", lambda u: u), ("worker", lambda u: u.to(W[0]))):
    out, jv = torch.func.jvp(f, (put(a), put(b)), (put(torch.ones(3, 3)), put(torch.zeros(3, 3))))
    print(name, full(out)[0], full(jv)[0])

# a primal that requires grad, with a tangent: backward still works on it
w = torch.randn(3, requires_grad=True)
with fwAD.dual_level():
    dw = fwAD.make_dual(w, torch.ones(3))
    loss = (dw * dw).sum()
    print(fwAD.unpack_dual(loss).tangent.detach(), fwAD.unpack_dual(loss).tangent.requires_grad, loss.requires_grad)
    loss.backward()
print(w.grad, attempt(lambda: fwAD.make_dual(w, torch.ones(3))))
print("done")
