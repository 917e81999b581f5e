# Attention written on F.scaled_dot_product_attention as users write it: a padded batch whose
# padding rows attend to nothing (a pair mask, query and key both real: those rows give zeros
# on the math path, not NaN), bool and float masks broadcast from (L, S), (B, 1, L, S) and
# (1, H, 1, S), is_causal with more keys than queries, scale=, a learnt float mask's
# gradient, seeded dropout in train mode, grouped-query attention, writes in place to the
# result, and the errors users hit.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(0)
B, H, L, S, E = 2, 4, 5, 6, 8


class PaddedSelfAttention(nn.Module):
    """Self-attention over (B, T, D) with per-sequence lengths; heads folded into the batch
    (3-D q, k, v: torch's math path)."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.qkv, self.out = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.drop = 0.25

    def forward(self, x, lengths):
        b, t, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
                   .reshape(b * self.heads, t, d // self.heads) for z in (q, k, v))
        real = torch.arange(t)[None] < lengths[:, None]                  # (B, T)
        pair = (real[:, :, None] & real[:, None, :]).repeat_interleave(self.heads, 0)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=pair,
                                           dropout_p=self.drop if self.training else 0.0)
        h = h.reshape(b, self.heads, t, d // self.heads).transpose(1, 2).reshape(b, t, d)
        return self.out(h), h


net = PaddedSelfAttention(8, 2)
x = torch.randn(3, 4, 8)
lengths = torch.tensor([4, 2, 3])
opt = torch.optim.AdamW(net.parameters(), lr=0.05)
for step in range(3):
    torch.manual_seed(10 + step)
    y, h = net(x, lengths)
    loss = y[torch.arange(4)[None] < lengths[:, None]].pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), h[1, 2:].abs().sum().item(), y.grad_fn.name())
print(net.qkv.weight.grad[:2], net.out.bias.grad)
net.eval()
y, h = net(x, lengths)
print(h[1], torch.isnan(h).any().item())

# the same mask as a 4-D (B, 1, L, S) tensor: the flash kernel's zeros for empty rows
q = torch.randn(B, H, L, E, requires_grad=True)
k = torch.randn(B, H, S, E, requires_grad=True)
v = torch.randn(B, H, S, E, requires_grad=True)
out = F.scaled_dot_product_attention(q, k, v)
print(out.shape, out.grad_fn.name(), out.dtype, out.is_contiguous())
(out * torch.randn_like(out)).sum().backward()
print(q.grad[0, 0], k.grad[1, 2], v.grad.sum())
keep = torch.rand(L, S) > 0.3
keep[2] = False
o2 = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
print(o2.grad_fn.name(), o2[1, 1])
mask4 = torch.rand(B, 1, L, S) > 0.5
o3 = F.scaled_dot_product_attention(q, k, v, attn_mask=mask4)
print(o3[0].sum(-1), torch.isnan(o3).any().item())
o3b = F.scaled_dot_product_attention(q[0], k[0], v[0], attn_mask=mask4[0])
print(o3b.grad_fn.name(), torch.allclose(o3b, o3[0], atol=1e-6))
print(torch.autograd.grad(o3b.sum(), q)[0][0, 0])

# a learnt float mask (1, H, 1, S): the math path, and its gradient
bias = torch.zeros(1, H, 1, S, requires_grad=True)
with torch.no_grad():
    bias[..., -1] = float("-inf")
o4 = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
print(o4.grad_fn.name())
gb, gq = torch.autograd.grad(o4.pow(2).sum(), [bias, q])
print(gb, gq.shape)
row = torch.zeros(L, S)
row[1] = float("-inf")
print(F.scaled_dot_product_attention(q, k, v, attn_mask=row)[0, 0, 1],
      F.scaled_dot_product_attention(q[:, 0], k[:, 0], v[:, 0], attn_mask=row)[0, 1])

# is_causal with more keys than queries (top-left aligned), scale=, 3-D inputs
print(F.scaled_dot_product_attention(q, k, v, is_causal=True)[0, 0])
print(F.scaled_dot_product_attention(q, k, v, scale=0.5)[1, 3, 4],
      F.scaled_dot_product_attention(q[0], k[0], v[0], scale=-0.25, is_causal=True)[3, 4])
# (the kernel masks before it scales: a negative scale turns the masked keys into +inf)
print(F.scaled_dot_product_attention(q, k, v, scale=-0.25, is_causal=True)[1, 3, 4],
      F.scaled_dot_product_attention(q[..., :5, :], k[..., :5, :], v[..., :5, :], scale=-0.25,
                                     is_causal=True)[0, 0].isnan().any(-1))
q3 = q[0].detach()
print(F.scaled_dot_product_attention(q3, k[0].detach(), v[0].detach(), attn_mask=keep).grad_fn)

# seeded dropout in train mode (the math path's dropout)
torch.manual_seed(3)
o10 = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
print(o10[0, 0], o10.grad_fn.name())

# grouped-query attention: two key/value heads for four query heads
kg = torch.randn(B, 2, S, E, requires_grad=True)
vg = torch.randn(B, 2, S, E, requires_grad=True)
o11 = F.scaled_dot_product_attention(q, kg, vg, enable_gqa=True)
print(o11.shape, o11.grad_fn.name())
o11.sum().backward()
print(kg.grad.sum(), vg.grad[0, 1, 0])

# writes in place: the kernel's node saves its result (the math path's keeps no such copy)
def scaled_in_place(q, k, v, **kw):
    out = F.scaled_dot_product_attention(q, k, v, **kw)
    out.mul_(2)
    out[..., 0].zero_()
    return out


for kw, inputs in (({}, (q, k, v)), ({"is_causal": True}, (q, k, v)), ({}, (q[0], k[0], v[0])),
                   ({"attn_mask": bias}, (q, k, v))):
    q.grad = None
    try:
        scaled_in_place(*inputs, **kw).sum().backward()
        print("backward", q.grad.abs().sum())
    except RuntimeError as e:
        print(type(e).__name__, e)
x = q.detach().clone().requires_grad_()
y = x * 1
out = F.scaled_dot_product_attention(y, k, v)
y.add_(1)
try:
    out.sum().backward()
except RuntimeError as e:
    print(type(e).__name__, e)

for bad in (lambda: F.scaled_dot_product_attention(q, kg, vg),
            lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=keep, is_causal=True),
            lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=row.double()),
            lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=keep.long()),
            lambda: F.scaled_dot_product_attention(q, k.double(), v),
            lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=torch.zeros(L, S + 1)),
            lambda: F.scaled_dot_product_attention(q, k[..., :4], v)):
    try:
        bad()
    except RuntimeError as e:
        print(type(e).__name__, e)
print("done")
