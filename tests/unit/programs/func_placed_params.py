# torch.func as meta-learning and per-sample-gradient code uses it, with parameters placed:
# functional_call with a dict of parameters (some on a worker, a buffer overridden),
# grad and vmap(grad) for per-sample gradients of a model whose forward writes into a
# temporary through a view, jacrev/jacfwd of a function of a placed tensor, vjp with
# has_aux, and the errors of a missing key and of an in-place write to a captured tensor
# (distgrad: two workers; torch: the CPU). `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
from_fn = torch.func
torch.manual_seed(59)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.register_buffer("shift", torch.zeros(2))

    def forward(self, x):
        h = self.fc(x) + self.shift
        h[..., 0].mul_(2)
        return h.tanh()


model = Tiny()
params = dict(model.named_parameters())
buffers = dict(model.named_buffers())
x = torch.randn(5, 3)
y = torch.randn(5, 2)


def loss_fn(p, b, xb, yb):
    out = from_fn.functional_call(model, (p, b), (xb,))
    return F.mse_loss(out, yb)


print(round(loss_fn(params, buffers, x, y).item(), 5))
g = from_fn.grad(loss_fn)(params, buffers, x, y)
print(sorted(g), g["fc.weight"], g["fc.bias"].requires_grad)
per = from_fn.vmap(from_fn.grad(loss_fn), in_dims=(None, None, 0, 0))(params, buffers, x, y)
print(per["fc.weight"].shape, torch.allclose(per["fc.bias"].mean(0), g["fc.bias"], atol=1e-6))
shifted = {"shift": torch.tensor([0.5, -0.5])}
print(from_fn.functional_call(model, (params, shifted), (x[:2],)), model.shift)
print(attempt(lambda: from_fn.functional_call(model, {"fc.weight": params["fc.weight"]}, (x,), strict=True)))

# parameters placed on a worker, the input too
wp = {k: v.detach().to(W[1]).requires_grad_() for k, v in params.items()}
wb = {k: v.to(W[1]) for k, v in buffers.items()}
gl = from_fn.grad(loss_fn)(wp, wb, x.to(W[1]), y.to(W[1]))
print(sorted(gl), torch.allclose(gl["fc.weight"].to("cpu"), g["fc.weight"], atol=1e-6))


def f(v):
    t = v * 1
    t[1:].mul_(t[:-1].detach() + 1)
    return t.sin()


v = torch.tensor([0.1, 0.5, -0.3])
for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0]))):
    jr = from_fn.jacrev(f)(put(v))
    jf = from_fn.jacfwd(f)(put(v))
    print(name, jr.to("cpu"), torch.allclose(jr.to("cpu"), jf.to("cpu"), atol=1e-6))
    out, fn, aux = from_fn.vjp(lambda t: (f(t), t.sum()), put(v), has_aux=True)
    print(out.to("cpu"), aux.to("cpu"), fn(put(torch.ones(3)))[0].to("cpu"))

captured = torch.zeros(3)


def writes_captured(t):
    captured.add_(t)
    return t.sum()


print(attempt(lambda: from_fn.grad(writes_captured)(v)), captured)
print("done")
