# Attention in float16, bfloat16 and float32 with its tensors on a worker (`W`) and sharded
# over the workers by batch (`shard`/`full`): the kernel's result and gradients in each
# dtype, a gradient of a gradient refused, and a write to the result before backward
# refused. The runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(0)
for dt in (torch.float16, torch.bfloat16, torch.float32):
    q = torch.randn(2, 2, 5, 4, dtype=dt).to(W[1]).requires_grad_()
    o = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    g, = torch.autograd.grad(o.float().pow(2).sum(), q, create_graph=True)
    print(o.cpu()[1, 1], o.dtype, g.grad_fn.name(), g.cpu()[0, 0, 0])
    s = shard(q.detach(), 0).requires_grad_()
    os_ = F.scaled_dot_product_attention(s, s, s, is_causal=True)
    os_.float().sum().backward()
    print(full(os_)[1, 1, 2], full(s.grad)[0, 1, 1])
    try:
        g.sum().backward()
    except RuntimeError as e:
        print(type(e).__name__, e)
    x = q.detach().clone().requires_grad_()
    out = F.scaled_dot_product_attention(x, x, x)
    out.mul_(2)
    try:
        out.sum().backward()
    except RuntimeError as e:
        print(type(e).__name__, str(e)[:120])
print("done")
