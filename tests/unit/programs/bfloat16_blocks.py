# A small LLaMA-style model trained in bfloat16 on a worker, as memory-saving scripts write
# it: RMSNorm by hand (x * rsqrt(mean(x²) + eps)) over a width that is not a multiple of 32,
# a SwiGLU MLP (silu), causal scaled_dot_product_attention, a residual stream, AdamW on
# bfloat16 parameters; then a float16 signal encoder with average pooling (plain and
# adaptive) and a variance-normalised feature on the other worker, trained with SGD.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(81)


def host(t):
    return t.detach().float().cpu()


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(nn.Module):
    def __init__(self, d, heads, hidden):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = RMSNorm(d), RMSNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.gate, self.up = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


model = nn.Sequential(nn.Linear(6, 20), Block(20, 2, 36), Block(20, 2, 36), RMSNorm(20), nn.Linear(20, 5))
model = model.to(W[0]).to(torch.bfloat16)
opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
x = torch.randn(3, 7, 6).to(W[0]).bfloat16()
y = torch.randint(0, 5, (3, 7)).to(W[0])
# (two steps: where torch's bfloat16 GEMMs are oneDNN's (CPUs with AVX-512 BF16 or AMX),
# their float32 sums run in an order of its kernels, and a gradient's last bit apart grows
# under AdamW from the third step)
for step in range(2):
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits.float().view(-1, 5), y.view(-1))
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 4), logits.dtype, logits.grad_fn.name(), host(model[1].norm1.weight.grad[:6]),
          host(model[2].down.weight.grad[0, :6]))
print(host(model[3].weight[:8]), host(model[1].gate.weight[0, :6]), opt.state[model[4].bias]["exp_avg"].dtype)
with torch.no_grad():
    h = model[0](x)
    print(host(model[1].norm1(h)[0, 0, -6:]), host(model(x)[0, -1]))

encoder = nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.SiLU(), nn.AvgPool1d(3, stride=2, padding=1),
                        nn.Conv1d(4, 4, 3), nn.AdaptiveAvgPool1d(4)).to(W[1]).half()
signal = torch.randn(5, 2, 17).to(W[1]).half()
target = torch.randn(5, 4).to(W[1]).half()
opt = torch.optim.SGD(encoder.parameters(), lr=0.05, momentum=0.9)
# (two steps: where torch's bfloat16 GEMMs are oneDNN's (CPUs with AVX-512 BF16 or AMX),
# their float32 sums run in an order of its kernels, and a gradient's last bit apart grows
# under AdamW from the third step)
for step in range(2):
    opt.zero_grad()
    feats = encoder(signal)
    pooled = feats.mean(-1)
    spread = feats.var(-1, correction=0)
    loss = F.mse_loss(pooled, target) + spread.mean()
    loss.backward()
    opt.step()
    print(step, loss.item(), feats.shape, feats.dtype, host(encoder[0].weight.grad[0, 0]), host(encoder[3].bias.grad))
pooled = F.avg_pool2d(signal.view(5, 1, 2, 17), (1, 3), stride=(1, 2), count_include_pad=False)
adaptive = F.adaptive_avg_pool2d(signal.view(5, 2, 17, 1).contiguous(), (5, 1))
print(pooled.shape, host(pooled[0, 0, 0, :5]), host(adaptive[0, :, :, 0]))
try:
    encoder(signal.float())
except RuntimeError as e:
    print(type(e).__name__, e)
print("done")
