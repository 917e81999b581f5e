# torch.autograd.grad as research code calls it, through in-place ops and views:
# allow_unused and materialize_grads, grad_outputs given and batched (is_grads_batched),
# create_graph for a Hessian-vector product through a clone written in place, retain_graph
# across calls, inputs= on backward, and torch.func grad/vjp/jacrev of functions that write
# into their own temporaries, with operands on a worker and on shards (distgrad: two
# workers; torch: the CPU and a copy). `W`, `shard` and `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(13)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def energy(x, w):
    h = x.clone()
    h[:, 0].mul_(w[0])
    h.t()[1].add_(w[1] * x[:, 0])
    h.clamp_(min=-2.0)
    return (h ** 2).sum() + h.diagonal().prod()


x = torch.randn(3, 3, requires_grad=True)
w = torch.tensor([1.5, -0.5], requires_grad=True)
unused = torch.ones(2, requires_grad=True)

for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[1]))):
    e = energy(put(x), put(w))
    gx, gw, gu = torch.autograd.grad(e, (x, w, unused), create_graph=True, allow_unused=True)
    print(name, round(e.item(), 4), gx.grad_fn is not None, gw.requires_grad, gw.detach(), gu)
    print(attempt(lambda: torch.autograd.grad(e, unused, retain_graph=True)))
    gz = torch.autograd.grad(e, (w, unused), retain_graph=True, allow_unused=True,
                             materialize_grads=True)
    print(gz[1], gz[1].requires_grad, torch.allclose(gz[0], gw))
    v = torch.tensor([1.0, 2.0])
    (hv,) = torch.autograd.grad(gw, w, v, retain_graph=True)
    print(hv)
    (hx,) = torch.autograd.grad(gx.sum(), x, retain_graph=True)
    print(hx)
    basis = torch.eye(2)
    (rows,) = torch.autograd.grad(gw, w, basis, retain_graph=True, is_grads_batched=True)
    print(rows, rows.shape)
    x.grad = w.grad = None
    e.backward(inputs=[w])
    print(w.grad, x.grad)
    print(attempt(lambda: torch.autograd.grad(e, x)))

# sharded input: gradients and a double backward
s = shard(x * 1, 0)
e = energy(s, w)
(gs,) = torch.autograd.grad(e, s, create_graph=True)
print(type(gs).__name__, gs.shape, full(gs)[0])
(gw2,) = torch.autograd.grad(full(gs).sum(), w)
print(gw2)

# torch.func over code that writes into temporaries
def f(w, x):
    y = torch.zeros(3)
    y[0] = (w * x[:2]).sum()
    y[1:] = x[1:] * w[1]
    y.mul_(2).sin_()
    return y


xv = torch.tensor([0.3, -0.7, 1.1])
print(torch.func.grad(lambda w: f(w, xv).sum())(w.detach()))
out, fn = torch.func.vjp(lambda w: f(w, xv), w.detach())
print(out, fn(torch.tensor([1.0, 0.0, -1.0])))
print(torch.func.jacrev(f)(w.detach(), xv))
print(torch.func.jacrev(f, argnums=1)(w.detach(), xv))
g2 = torch.func.grad(torch.func.grad(lambda t: f(t.expand(2), xv).sum()))(torch.tensor(0.4))
print(g2)
print(attempt(lambda: torch.func.grad(lambda w: f(w, xv))(w.detach())))
print("done")
