# Forward-mode AD as the tutorial and research code use it: dual tensors under
# fwAD.dual_level through nn.functional ops and a module, tangents carried through views
# (slices, transpose, view, unbind) and in-place writes into a dual's views, a plain
# tensor made dual by copying a dual into it, a module's parameters made dual by
# functional_call (a directional derivative of the loss), torch.func.jvp and linearize
# against reverse mode, a JVP through a custom Function's jvp, and a checkpointed block
# of a dual whose output is cloned and reshaped in place.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
fwAD = torch.autograd.forward_ad
torch.manual_seed(31)
primal, tangent = torch.randn(4, 5), torch.randn(4, 5)


def fn(x, y):
    return x ** 2 + y


y = torch.ones(4, 5)
with fwAD.dual_level():
    dual_input = fwAD.make_dual(primal, tangent)
    dual_output = fn(dual_input, y)
    jvp = fwAD.unpack_dual(dual_output).tangent
    print(torch.allclose(jvp, 2 * primal * tangent), fwAD.unpack_dual(y).tangent)
    h = F.gelu(F.layer_norm(dual_input, (5,))) @ torch.randn(5, 3)
    p, t = fwAD.unpack_dual(F.log_softmax(h, -1))
    print(p[0], t[0])

    # views of a dual share its tangent; writes into them change the base's tangent
    base = fwAD.make_dual(torch.zeros(3, 4), torch.zeros(3, 4))
    row = base[1]
    col = base.t()[2]
    row.copy_(fwAD.make_dual(torch.arange(4.0), torch.ones(4)))
    col.mul_(fwAD.make_dual(torch.full((3,), 2.0), torch.full((3,), 0.5)))
    base.view(12)[::5].add_(1)
    first, *_ = base.unbind(0)
    first.add_(fwAD.make_dual(torch.ones(4), torch.arange(4.0)))
    print(fwAD.unpack_dual(base).primal, fwAD.unpack_dual(base).tangent)
    print(fwAD.unpack_dual(row).tangent, fwAD.unpack_dual(col).tangent)

    plain = torch.zeros(2, 5)
    plain[0] = dual_input[0].sin()
    plain[1].copy_(dual_input[1] * 3)
    print(fwAD.unpack_dual(plain).tangent is None, fwAD.unpack_dual(plain).tangent)
    x = fwAD.make_dual(primal.clone(), tangent)
    x.relu_()
    x[:, :2].sigmoid_()
    x.clamp_(max=0.7)
    print(fwAD.unpack_dual(x).tangent)

model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 2))
params = {name: p for name, p in model.named_parameters()}
tangents = {name: torch.rand_like(p) for name, p in params.items()}
target = torch.randn(4, 2)
with fwAD.dual_level():
    dual_params = {name: fwAD.make_dual(p, tangents[name]) for name, p in params.items()}
    out = torch.func.functional_call(model, dual_params, (primal,))
    loss = F.mse_loss(out, target)
    directional = fwAD.unpack_dual(loss).tangent
F.mse_loss(model(primal), target).backward()
reverse = sum((p.grad * tangents[name]).sum() for name, p in params.items())
print(round(directional.item(), 5), torch.allclose(directional, reverse, atol=1e-5))


def f(x):
    return (x.sin() * x.cumsum(0)).tanh()


x0, v0 = torch.randn(5), torch.randn(5)
out, jvp_out = torch.func.jvp(f, (x0,), (v0,))
_, vjp_fn = torch.func.vjp(f, x0)
print(out, jvp_out, torch.allclose(vjp_fn(torch.ones(5))[0], torch.func.jacrev(f)(x0).sum(0)))
value, jvp_fn = torch.func.linearize(f, x0)
print(torch.allclose(jvp_fn(v0), jvp_out, atol=1e-6), torch.allclose(value, out))
params = {k: v.detach() for k, v in model.named_parameters()}
_, dloss = torch.func.jvp(lambda p: F.mse_loss(torch.func.functional_call(model, p, (primal,)), target),
                          (params,), (tangents,))
print(torch.allclose(dloss, directional, atol=1e-6))


class Cube(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x ** 3

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, = inputs
        ctx.save_for_forward(x)
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 3 * x ** 2 * g

    @staticmethod
    def jvp(ctx, t):
        x, = ctx.saved_tensors
        return 3 * x ** 2 * t


with fwAD.dual_level():
    d = Cube.apply(fwAD.make_dual(x0, v0))
    print(fwAD.unpack_dual(d).tangent, torch.allclose(fwAD.unpack_dual(d).tangent, 3 * x0 ** 2 * v0))
print(torch.func.jvp(Cube.apply, (x0,), (v0,))[1])

block = nn.Sequential(nn.Linear(5, 5), nn.ReLU(inplace=True), nn.Linear(5, 5))
with fwAD.dual_level():
    d = fwAD.make_dual(primal, tangent)
    out = torch.utils.checkpoint.checkpoint(block, d, use_reentrant=False)
    scratch = out.clone()
    scratch.t_()
    scratch[0].zero_()
    scratch[1:] *= 2
    with torch.inference_mode():
        frozen = d * 2
    print(fwAD.unpack_dual(out).tangent[0], fwAD.unpack_dual(scratch).tangent[:2],
          fwAD.unpack_dual(frozen).tangent, torch.equal(fwAD.unpack_dual(d).tangent, tangent))
print(torch.func.jacfwd(lambda a: Cube.apply(a).sum(0))(x0[:3]))
print("done")
