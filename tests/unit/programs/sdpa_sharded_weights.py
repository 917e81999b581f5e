# A causal self-attention block written on F.scaled_dot_product_attention with its weights
# split over the workers as tensor-parallel code splits them (the qkv projection by output
# rows, the out projection by input columns: nn.Parameter(shard(...))), trained a few SGD
# steps with momentum next to a plain copy on the driver; the qkv output split into heads
# by view/transpose (strides and contiguity), a key padding mask as a float additive mask,
# the gradients gathered with full() and zeroed through views, dropout in attention seeded,
# and a replicated result (a shard's reduction broadcast back) added in place (distgrad:
# two workers; torch: a copy). `shard` and `full` are the runner's (test_programs.py).
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(71)
D, H, L, N = 8, 2, 4, 2


class Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.proj = nn.Linear(D, D)

    def forward(self, x, mask=None, p=0.0):
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k, v = (t.view(N, L, H, D // H).transpose(1, 2) for t in (q, k, v))
        if mask is None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.proj(o.transpose(1, 2).reshape(N, L, D))


ref = Attn()
tp = copy.deepcopy(ref)
tp.qkv.weight = nn.Parameter(shard(ref.qkv.weight.detach().clone(), 0))
tp.proj.weight = nn.Parameter(shard(ref.proj.weight.detach().clone(), 1))
print([tuple(p.shape) for p in tp.parameters()], tp.qkv.weight.is_leaf, tp.proj.weight.requires_grad)
x, y = torch.randn(N, L, D), torch.randn(N, L, D)
q = tp.qkv(x).split(D, dim=-1)[0].view(N, L, H, D // H).transpose(1, 2)
print(q.shape, q.stride(), q.is_contiguous(), q._is_view(), q.grad_fn.name())
opts = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (ref, tp)]
for step in range(3):
    for m, opt in zip((ref, tp), opts):
        loss = F.mse_loss(full(m(x)), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)
    print(step, round(loss.item(), 5), torch.allclose(full(tp.qkv.weight), ref.qkv.weight, atol=1e-5),
          torch.allclose(full(tp.proj.weight), ref.proj.weight, atol=1e-5))
print(full(tp.qkv.weight.grad).abs().sum(), tp.qkv.weight.grad.shape, tp.proj.bias.grad)

# a padding mask as an additive float mask, gradients gathered and edited through views
pad = torch.tensor([[0.0] * 4, [0.0, 0.0, 0.0, float("-inf")]]).view(N, 1, 1, L)
for m in (ref, tp):
    m.zero_grad()
    out = m(x, mask=pad)
    (full(out) * torch.linspace(-1, 1, D)).sum().backward()
print(full(out)[1, 3], out.grad_fn.name())
ga, gb = full(tp.qkv.weight.grad), ref.qkv.weight.grad
print(torch.allclose(ga, gb, atol=1e-5), torch.allclose(full(tp.proj.weight.grad), ref.proj.weight.grad, atol=1e-5))
g = tp.qkv.weight.grad
g[:D].zero_()
g.t()[0].mul_(10)
print(full(g)[:D].abs().sum(), full(g)[D:, 0], g._version)
tp.proj.weight.grad[:, :2] = 1.0
print(full(tp.proj.weight.grad)[0], tp.proj.weight.grad.shape)

# seeded attention dropout on both
for m in (ref, tp):
    torch.manual_seed(5)
    o = full(m(x, p=0.5))
    print(o[0, 1, :4])

# a replicated value: a shard's reduction, broadcast back and added in place
w = tp.qkv.weight
colsum = w.sum(0)
bumped = x + colsum
bumped.add_(colsum.flip(0), alpha=0.5)
print(full(bumped)[0, 0], bumped.grad_fn.name(), bumped._version)
full(bumped).sum().backward()
print(full(w.grad)[:2, :3], full(w.grad)[D:D + 2, :3])
print("done")
