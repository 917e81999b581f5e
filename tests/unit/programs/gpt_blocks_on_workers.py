# A small GPT as nanoGPT-style scripts write it, then spread over workers as model-parallel
# code spreads it: hand-written causal attention (masked_fill(-inf), softmax), GELU MLPs,
# pre-norm residuals, the head tied to the token embedding, AdamW with decay/no-decay groups,
# grad clipping and a linear-warmup cosine LambdaLR; then its blocks moved to W[0] and W[1]
# (activations moved between them) and trained on, and a block's MLP weights replaced by
# Parameters split over the workers (`shard`). `W`, `shard` and `full` are given.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(3)
V, T, C, H = 13, 6, 8, 2


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)

    def forward(self, x):
        B, L, _ = x.shape
        q, k, v = self.c_attn(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(B, L, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = q @ k.transpose(-2, -1) / math.sqrt(C // H)
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
        att = att.masked_fill(causal, float("-inf")).softmax(dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(B, L, C))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn = SelfAttention()
        self.fc, self.proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block() for _ in range(2))
        self.ln_f, self.lm_head = nn.LayerNorm(C), nn.Linear(C, V, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.h:
            x = block(x.to(block.ln_1.weight.device))
        logits = self.lm_head(self.ln_f(x.to(self.ln_f.weight.device)))
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten().to(logits.device))


def make_optimizer(model):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    print("groups", len(decay), len(no_decay), sum(p.numel() for p in model.parameters()))
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}], lr=3e-2, betas=(0.9, 0.95))
    warm, total = 2, 6
    lr = lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm)))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr)


def train(model, steps, tag):
    opt, sched = make_optimizer(model)
    for step in range(steps):
        x = data[step % 3]
        loss = model(x[:, :-1], x[:, 1:])
        opt.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        sched.step()
        print(tag, step, round(loss.item(), 5), round(norm.item(), 5), [round(g, 5) for g in sched.get_last_lr()])
    return opt


data = torch.randint(0, V, (3, 2, T + 1))
model = GPT()
state = {k: v.clone() for k, v in model.state_dict().items()}
print(model.lm_head.weight is model.wte.weight, len(list(model.parameters())), len(state))
opt = train(model, 3, "driver")
print(model.wte.weight.grad.shape, model.lm_head.weight._version > 0, opt.state[model.wte.weight]["step"])

# the same model from the same weights with each block on its own worker
placed = GPT()
placed.load_state_dict(state)
placed.h[0].to(W[0])
placed.h[1].to(W[1])
print(placed.h[0].fc.weight.is_leaf, placed.lm_head.weight is placed.wte.weight)
train(placed, 3, "placed")
for a, b in zip(model.parameters(), placed.parameters()):
    assert torch.allclose(a, b.to("cpu"), atol=1e-5), "placed training differs"
print(placed.h[1].attn.c_attn.weight.grad.device == placed.h[1].attn.c_attn.weight.device)

# the first block's MLP split over the workers by output rows, its projection by input columns
sharded = GPT()
sharded.load_state_dict(state)
mlp = sharded.h[0]
mlp.fc.weight = nn.Parameter(shard(mlp.fc.weight.detach(), 0))
mlp.proj.weight = nn.Parameter(shard(mlp.proj.weight.detach(), 1))
print(mlp.fc.weight.is_leaf, mlp.fc.weight.requires_grad, tuple(mlp.fc.weight.shape), tuple(mlp.proj.weight.shape))
train(sharded, 3, "sharded")
print(full(mlp.fc.weight.grad).shape, torch.allclose(full(mlp.proj.weight).cpu(), model.h[0].proj.weight, atol=1e-5))
with torch.no_grad():
    x = data[0, :, :-1]
    h = sharded.wte(x) + sharded.wpe(torch.arange(T))
    a = sharded.h[0].fc(sharded.h[0].ln_2(h))
    print(a.requires_grad, tuple(a.shape), round(full(a).sum().item(), 4))
try:
    sharded.h[0].fc.weight.add_(1.0)
except RuntimeError as e:
    print(type(e).__name__, e)
print("done")
