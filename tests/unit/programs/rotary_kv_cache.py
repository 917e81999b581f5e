# A small decoder-only language model as users write one: rotary position embeddings and an
# ALiBi bias written by hand, attention through F.scaled_dot_product_attention (the causal
# kernel in training, an additive float mask for ALiBi), a training loop with clipping, a
# KV-cache greedy decoding loop checked against the full forward, a gradient penalty (torch
# gives attention's CPU kernel no second derivative), a state_dict round trip, and the model
# placed on a worker (`W`), its attention heads sharded (`shard`/`full`), and a compiled
# attention at inference (`compiled`): the runner's (test_programs.py).
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)
V, D, H, T = 11, 16, 4, 8


def rotary(x, pos):
    """Rotate each head's (even, odd) pairs by pos * theta_i."""
    half = x.shape[-1] // 2
    theta = 10000 ** (-torch.arange(half, dtype=torch.float32, device=x.device) / half)
    ang = pos[:, None].float() * theta[None]
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def alibi(heads, q_len, k_len, offset=0, device=None):
    slopes = torch.tensor([2 ** (-8 * (i + 1) / heads) for i in range(heads)], device=device)
    dist = (torch.arange(k_len, device=device)[None, :]
            - (torch.arange(q_len, device=device)[:, None] + offset))
    bias = slopes[:, None, None] * dist.clamp(max=0)[None].float()
    return bias.masked_fill(dist[None] > 0, float("-inf"))


class Block(nn.Module):
    def __init__(self, use_alibi):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D)
        self.mlp = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(approximate="tanh"), nn.Linear(2 * D, D))
        self.use_alibi = use_alibi

    def forward(self, x, cache=None, start=0):
        b, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, H, D // H).permute(2, 0, 3, 1, 4)
        pos = torch.arange(start, start + t, device=x.device)
        q, k = rotary(q, pos), rotary(k, pos)
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        if self.use_alibi:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=alibi(H, t, k.shape[2], start, x.device))
        else:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None or t > 1)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, D))
        return x + self.mlp(self.ln2(x))


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = nn.ModuleList([Block(False), Block(True)])
        self.head = nn.Linear(D, V, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, tok, caches=None, start=0):
        x = self.emb(tok)
        for i, blk in enumerate(self.blocks):
            x = blk(x, None if caches is None else caches[i], start)
        return self.head(x)


print(alibi(2, 3, 4, 1))
model = LM()
print(sum(p.numel() for p in model.parameters()), [n for n, _ in model.named_parameters()][:3])
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
data = torch.randint(0, V, (6, T + 1))
for step in range(4):
    logits = model(data[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, V), data[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    opt.step()
    print(step, round(loss.item(), 5), round(norm.item(), 5), logits.grad_fn.name())
print(model.blocks[1].qkv.weight.grad[:2, :4], model.emb.weight.grad.abs().sum())

# greedy decoding with a KV cache matches the cache-free forward
model.eval()
with torch.no_grad():
    prompt = data[:2, :3]
    caches = [{}, {}]
    logits = model(prompt, caches)
    out = prompt
    for step in range(4):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out = torch.cat([out, nxt], 1)
        logits = model(nxt, caches, start=out.shape[1] - 1)
    full_logits = model(out)
print(out.tolist(), caches[0]["k"].shape, torch.allclose(logits[:, -1], full_logits[:, -1], atol=1e-5))

# a gradient penalty through attention: the kernel's gradient has no derivative of its own
x = model.emb(data[:2, :4]).detach().requires_grad_()
y = model.blocks[0](x)
g, = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
print(g.grad_fn.name() if g.grad_fn is not None else None, g.requires_grad)
try:
    g.norm().backward()
except RuntimeError as e:
    print(type(e).__name__, e)
# ... the math path (a 3-D mask) has one
q = torch.randn(H, 4, D // H, requires_grad=True)
att = F.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(4, 4, dtype=torch.bool).tril()[None])
gq, = torch.autograd.grad(att.sum(), q, create_graph=True)
gq.pow(2).sum().backward()
print(gq.grad_fn.name(), q.grad[0])

# state_dict round trip, then on a worker
sd = model.state_dict()
print(len(sd), "head.weight" in sd, sd["blocks.1.qkv.weight"].shape)
twin = LM()
print(twin.load_state_dict(sd))
twin.eval()
with torch.no_grad():
    print(torch.equal(twin(data[:2]), model(data[:2])))
placed = LM().to(W[1])
placed.load_state_dict(sd)
placed.train()
tok = data[:3].to(W[1])
loss = F.cross_entropy(placed(tok[:, :-1]).reshape(-1, V), tok[:, 1:].reshape(-1))
loss.backward()
print(round(loss.item(), 5), placed.emb.weight.grad.device.type == tok.device.type,
      placed.blocks[0].proj.bias.grad.cpu())

# heads sharded over the workers
qs = torch.randn(2, H, 5, D // H, requires_grad=True)
ks = torch.randn(2, H, 5, D // H, requires_grad=True)
sq, sk = (shard(t.detach(), 1).requires_grad_() for t in (qs, ks))
a = F.scaled_dot_product_attention(sq, sk, sk, is_causal=True)
print(full(a)[1, 2], a.shape, a.requires_grad)
(a * a).sum().backward()
print(full(sq.grad)[0, 3], full(sk.grad).sum())


@compiled
def attend(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask).sum(-1)


m = alibi(H, 5, 5)
qd, kd = qs.detach(), ks.detach()
print(attend(qd, kd, kd, m)[0], attend(qd, kd, kd, m)[1], attend(qd, kd, kd, m.isfinite())[1, 0])
print("done")
