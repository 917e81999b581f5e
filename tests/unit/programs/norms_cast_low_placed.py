# Normalization layers whose float32 outputs are cast to bfloat16 and float16 (what a
# mixed-precision script feeds the next layer), on plain, placed and sharded batches:
# layer_norm with and without affine parameters, group_norm, a LayerNorm module frozen
# and not, and the low-precision copies' gradients flowing back through the cast
# (distgrad: two workers; torch: the CPU and a copy). `W`, `shard` and `full` are the
# runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(23)
base = torch.randn(4, 5, 8)
weight = torch.randn(8)
bias = torch.randn(8)
images = torch.randn(2, 6, 3, 3) * 2 + 0.5

for name, put in (("cpu", lambda t: t), ("worker", lambda t: t.to(W[0])),
                  ("shard", lambda t: shard(t, 0))):
    print("==", name)
    x = put(base.clone()).requires_grad_()
    plain = F.layer_norm(x, (8,))
    affine = F.layer_norm(x, (8,), put(weight) if name == "worker" else weight,
                          put(bias) if name == "worker" else bias)
    half = plain.to(torch.bfloat16)
    print("plain bf16", full(half.detach())[0, :2], half.dtype, half.grad_fn.name())
    print("affine f16", full(affine.to(torch.float16).detach())[1, 0], affine.grad_fn.name())
    (half.float() * 2 + affine.to(torch.float16).float()).sum().backward()
    print("x.grad", full(x.grad)[0, 0], x.grad.dtype)

    imgs = put(images.clone()).requires_grad_()
    g = F.group_norm(imgs, 3)
    ga = F.group_norm(imgs, 2, put(torch.linspace(0.5, 1.5, 6)), put(torch.linspace(-1, 1, 6))) \
        if name != "shard" else F.group_norm(imgs, 2, torch.linspace(0.5, 1.5, 6), torch.linspace(-1, 1, 6))
    print("group bf16", full(g.to(torch.bfloat16).detach())[1, 4, 0])
    print("group affine bf16", full(ga.to(torch.bfloat16).detach())[0, 5])
    (g.to(torch.bfloat16).float().pow(2).sum() + ga.sum()).backward()
    print("imgs.grad", full(imgs.grad)[0, 0, 0])

    norm = torch.nn.LayerNorm(8)
    with torch.no_grad():
        norm.weight.copy_(weight)
        norm.bias.copy_(bias)
    if name == "worker":
        norm = norm.to(W[0])
    out = norm(x.detach())
    print("module", full(out.to(torch.bfloat16).detach())[2, 3], out.requires_grad)
    norm.requires_grad_(False)
    frozen = norm(x)
    print("frozen", frozen.requires_grad, frozen.grad_fn.name(), norm.weight.grad)
print("done")
