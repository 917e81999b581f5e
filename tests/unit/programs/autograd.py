# torch.autograd beyond backward(): functional jacobian/hessian/vjp/jvp, gradcheck, hooks,
# create_graph, batched grads, saved-tensor hooks, inference mode, torch.func, forward AD.
import numpy as np
import distgrad as torch  # PyTorch: import torch
rng = np.random.default_rng(2)
def R(*s, requires_grad=False): return torch.tensor(rng.standard_normal(s), requires_grad=requires_grad)
def f(x): return (x.sin() * x.exp()).sum()
x = R(3, requires_grad=True)
AF = torch.autograd.functional
jacobian, hessian, vjp, jvp, hvp, vhp = AF.jacobian, AF.hessian, AF.vjp, AF.jvp, AF.hvp, AF.vhp
print(jacobian(lambda x: x.sin() * x, x))
print(hessian(f, x))
print(vjp(lambda x: x ** 2, x, torch.ones(3)))
print(jvp(lambda x: x ** 2, x, torch.ones(3)))
print(hvp(f, x, torch.ones(3)))
print(torch.autograd.gradcheck(lambda x: (x * x).sum(), (x,)))
print(torch.autograd.gradgradcheck(lambda x: (x ** 3).sum(), (x,)))
y = x * 2
y.retain_grad()
h = y.register_hook(lambda g: g * 3)
(y ** 2).sum().backward()
print(x.grad, y.grad)
h.remove()
g, = torch.autograd.grad((x ** 2).sum(), x, create_graph=True)
print(g, g.grad_fn.__class__.__name__)
gg = torch.autograd.grad(g.sum(), x)
print(gg)
print(torch.autograd.grad(x * 2, x, grad_outputs=torch.eye(3), is_grads_batched=True))
with torch.autograd.graph.saved_tensors_hooks(lambda t: t * 1, lambda t: t):
    z = (x * x).sum()
z.backward()
print(x.grad)
@torch.no_grad()
def nog(t): return t * 2
print(nog(x).requires_grad)
with torch.inference_mode():
    w = x * 2
print(w.requires_grad, w.is_inference())
fn = torch.func
grad, vmap, jacrev, functional_call, jacfwd, fhess = fn.grad, fn.vmap, fn.jacrev, fn.functional_call, fn.jacfwd, fn.hessian
print(grad(lambda x: (x ** 3).sum())(x.detach()))
print(vmap(lambda r: r.dot(r))(R(4, 3)))
print(jacrev(torch.sin)(x.detach()))
print(jacfwd(torch.sin)(x.detach()))
print(fhess(lambda x: (x ** 3).sum())(x.detach()))
lin = torch.nn.Linear(3, 2).double()
params = {k: R(*v.shape) for k, v in lin.named_parameters()}
print(functional_call(lin, params, (x.detach(),)))
print(vmap(grad(lambda w, xx: (w * xx).sum().sin()), in_dims=(None, 0))(x.detach(), R(5, 3)))
class Exp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, i):
        r = i.exp(); ctx.save_for_backward(r); return r
    @staticmethod
    def backward(ctx, go):
        r, = ctx.saved_tensors; return go * r
e = Exp.apply(x); e.sum().backward(); print(e, x.grad)
a = torch.ones(2, 2, requires_grad=True)
b = a + 2
print(b.grad_fn, b.is_leaf, a.is_leaf)
c = b * b * 3
out = c.mean()
print(c, out)
out.backward()
print(a.grad)
a2 = torch.randn(2, 2)
a2 = ((a2 * 3) / (a2 - 1))
print(a2.requires_grad)
a2.requires_grad_(True)
print(a2.requires_grad)
bb = (a2 * a2).sum()
print(bb.grad_fn)
try:
    torch.ones(2, requires_grad=True).add_(1)
except RuntimeError as err:
    print("RuntimeError:", err)
try:
    out.backward()
except RuntimeError as err:
    print("RuntimeError:", str(err)[:120])
v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
xx = torch.ones(3, requires_grad=True); yy = xx * 2
yy.backward(v); print(xx.grad)
with torch.autograd.detect_anomaly():
    q = R(2, requires_grad=True); (q * 2).sum().backward(); print(q.grad)
print(torch.autograd.forward_ad.make_dual is not None)
fwAD = torch.autograd.forward_ad
with fwAD.dual_level():
    dual = fwAD.make_dual(x.detach(), torch.ones(3, dtype=torch.float64))
    outd = (dual.sin() * dual).sum()
    print(fwAD.unpack_dual(outd).tangent)
print("done")
