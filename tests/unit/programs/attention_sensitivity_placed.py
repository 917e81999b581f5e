# Sensitivity analysis of attention as interpretability code runs it, with the layer on a
# worker: the Jacobian of one output token with respect to the input tokens (autograd.
# functional.jacobian through nn.MultiheadAttention with a key padding mask: padded keys get
# zero columns), a vjp of F.scaled_dot_product_attention with a causal mask, a jvp of attention by hand, a
# Hessian-vector product of a pooled loss in a query, torch.func.grad of a functional_call
# over the layer's parameters (its gradient equal to backward's) and vmap of per-example
# gradients with respect to the input, gradient x input saliency with the input's .grad
# zeroed through a view between examples (distgrad: a worker; torch: the CPU). `W` is the
# runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
AF, func = torch.autograd.functional, torch.func
torch.manual_seed(97)
E, H, L = 4, 2, 3

mha = nn.MultiheadAttention(E, H, batch_first=True).to(W[0])
x = torch.randn(1, L, E).to(W[0])
pad = torch.tensor([[False, False, True]]).to(W[0])


def token(inp):
    out, _ = mha(inp, inp, inp, key_padding_mask=pad)
    return out[0, 0]


J = AF.jacobian(token, x)
print(J.shape, J.device == x.device, J.cpu()[:, 0, 2].abs().sum().item() > 0, J.requires_grad)
print(J.cpu()[1, 0, 1], J.cpu()[0, 0].norm(dim=-1))
q = torch.randn(2, 1, L, E).to(W[0])
attn = lambda t: F.scaled_dot_product_attention(t, t, t, is_causal=True)
out, g = AF.vjp(attn, q, torch.ones(2, 1, L, E).to(W[0]))
print(out.cpu()[1, 0, 0], g.cpu()[0, 0, 2], g.grad_fn)
manual = lambda t: torch.softmax(t @ t.mT / E ** 0.5, -1) @ t
out, t = AF.jvp(manual, q, torch.ones_like(q))
print(torch.allclose(manual(q).cpu(), F.scaled_dot_product_attention(q, q, q).cpu(), atol=1e-6))
print(t.cpu()[0, 0, 1], t.shape)
pooled = lambda t: manual(t).pow(2).mean()
_, hv = AF.hvp(pooled, q, q.cos())
print(hv.cpu()[1, 0, 0], hv.device == q.device)

# the layer's parameter gradients by torch.func.grad and by backward
params = {k: v.detach() for k, v in mha.named_parameters()}


def loss_fn(p, inp):
    o, _ = func.functional_call(mha, p, (inp, inp, inp), {"key_padding_mask": pad})
    return o.pow(2).sum()


grads = func.grad(loss_fn)(params, x)
loss_fn(dict(mha.named_parameters()), x).backward()
print(sorted(grads), [tuple(v.shape) for v in grads.values()])
print(all(torch.allclose(grads[k].cpu(), p.grad.cpu(), atol=1e-5) for k, p in mha.named_parameters()))
print(grads["out_proj.bias"].cpu(), mha.out_proj.bias.grad.cpu())

# per-example input gradients by vmap(grad), then saliency by backward, zeroed via a view
xs = torch.randn(3, 1, L, E).to(W[0])
per = func.vmap(func.grad(lambda inp: loss_fn(params, inp)))(xs)
print(per.shape, per.cpu()[2, 0, 1])
xin = xs.clone().requires_grad_()
sal = []
for i in range(3):
    loss_fn(params, xin[i]).backward()
    sal.append((xin.grad[i] * xin[i]).sum(-1).detach().cpu())
    print(i, torch.allclose(xin.grad[i].cpu(), per[i].cpu(), atol=1e-5), xin.grad[i].abs().sum().item() > 0)
    xin.grad[i].zero_()
print(sal[0], xin.grad.abs().sum().item(), xin.grad._base is None)
print("done")
