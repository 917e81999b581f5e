# Checking attention's gradients as users do before trusting a custom layer: gradcheck of
# scaled_dot_product_attention in float64 (the CPU kernel, causal, with a learnt float mask),
# gradgradcheck where torch has a second derivative (the math path) and where it has none
# (the kernel), forward-mode AD (refused by the kernel, taken by the math path), a
# hand-written attention checked against the op, jacobian/hessian of a small attention
# score, and the float32 check that fails for precision.
import math
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
fwAD = torch.autograd.forward_ad
torch.manual_seed(0)
q = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
k = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
v = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
bias = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)


def by_hand(q, k, v, bias):
    w = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + bias).softmax(-1)
    return w @ v


print(torch.autograd.gradcheck(F.scaled_dot_product_attention, (q, k, v)))
print(torch.autograd.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v)))
print(torch.autograd.gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), (q, k, v, bias)))
print(torch.autograd.gradgradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), (q, k, v, bias)))
print(torch.autograd.gradcheck(by_hand, (q, k, v, bias)), torch.allclose(by_hand(q, k, v, bias), F.scaled_dot_product_attention(q, k, v, attn_mask=bias)))
for name, check in [("gradgradcheck", lambda: torch.autograd.gradgradcheck(F.scaled_dot_product_attention, (q, k, v))),
                    ("forward AD", lambda: torch.autograd.gradcheck(F.scaled_dot_product_attention, (q, k, v), check_forward_ad=True))]:
    try:
        check()
    except (RuntimeError, NotImplementedError) as e:
        print(name, type(e).__name__, e)
try:
    torch.autograd.gradcheck(F.scaled_dot_product_attention, (q.float(), k.float(), v.float()))
except RuntimeError as e:
    print(type(e).__name__, str(e).splitlines()[0])

# forward-mode AD: the math path (3-D inputs) has tangents; the kernel refuses
with fwAD.dual_level():
    dq = fwAD.make_dual(q[0].detach(), torch.ones_like(q[0]))
    out = F.scaled_dot_product_attention(dq, k[0].detach(), v[0].detach(), is_causal=True)
    primal, tangent = fwAD.unpack_dual(out)
    print(tangent[1], torch.allclose(primal, F.scaled_dot_product_attention(q[0], k[0], v[0], is_causal=True)))
    try:
        F.scaled_dot_product_attention(fwAD.make_dual(q.detach(), torch.ones_like(q)), k, v)
    except NotImplementedError as e:
        print(type(e).__name__, str(e).splitlines()[0])

jac = torch.autograd.functional.jacobian(lambda x: F.scaled_dot_product_attention(x, k, v).sum(-1), q[:, :1])
print(jac.shape, jac[0, 0, 1, 0, 0, 1])
h = torch.autograd.functional.hessian(
    lambda x: F.scaled_dot_product_attention(x, k[:, :1], v[:, :1], attn_mask=bias).pow(2).sum(), q[:, :1])
print(h.shape, h[0, 0, 0, :, 0, 0, 0])
print("done")
