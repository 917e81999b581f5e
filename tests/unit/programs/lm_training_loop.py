# A small GPT trained as the common scripts train one: tied embedding and head, a causal
# mask buffer (persistent=False), trunc_normal_ init through apply(), weight-decay groups,
# AdamW with a warmup-cosine LambdaLR, gradient accumulation with clip_grad_norm_, bf16
# autocast, random_split and a seeded DataLoader, label smoothing with ignore_index, a
# checkpoint saved to a file and loaded with map_location and weights_only, and top-k
# sampling under no_grad; the model lives on worker 0 (the CPU under torch).
import math, os, tempfile
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
DataLoader, TensorDataset, random_split = torch.utils.data.DataLoader, torch.utils.data.TensorDataset, torch.utils.data.random_split
torch.manual_seed(0)
torch.backends.cudnn.benchmark = True
torch.set_float32_matmul_precision("high")
print(torch.cuda.is_available(), torch.get_float32_matmul_precision())
device = W[0]

class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1 = nn.LayerNorm(d, bias=False)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d), nn.Dropout(0.1))
        self.h = h
        self.register_buffer("mask", torch.triu(torch.ones(8, 8), diagonal=1).bool(), persistent=False)
    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        att = att.masked_fill(self.mask[:T, :T], float("-inf")).softmax(-1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = (y + att @ v) / 2
        x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp(self.ln2(x))

class LM(nn.Module):
    def __init__(self, vocab=11, d=16, h=2, n=2):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(8, d)
        self.blocks = nn.ModuleList([Block(d, h) for _ in range(n)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight
        self.apply(self._init)
    def _init(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    def forward(self, idx, targets=None):
        pos = torch.arange(idx.size(1), device=idx.device).unsqueeze(0)
        x = self.wte(idx) + self.wpe(pos)
        for b in self.blocks:
            x = b(x)
        logits = self.head(self.ln_f(x))
        loss = None if targets is None else F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-100, label_smoothing=0.1)
        return logits, loss

data = torch.randint(0, 11, (40, 9))
data[::7, -2:] = -100
ds = TensorDataset(data[:, :-1].clamp(min=0), data[:, 1:])
g = torch.Generator().manual_seed(1)
train, val = random_split(ds, [32, 8], generator=g)
dl = DataLoader(train, batch_size=8, shuffle=True, drop_last=True, generator=g, pin_memory=True)
model = LM().to(device)
print(sum(p.numel() for p in model.parameters()), len(list(model.buffers())), list(model.state_dict())[:4])
decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=3e-3, betas=(0.9, 0.95), fused=False)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 3) * 0.5 * (1 + math.cos(math.pi * s / 8)))
accum = 2
for epoch in range(2):
    model.train()
    for i, (x, y) in enumerate(dl):
        x, y = x.to(W[0]), y.to(W[0])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=True):
            _, loss = model(x, y)
        (loss / accum).backward()
        if (i + 1) % accum == 0:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); opt.zero_grad(set_to_none=True); sched.step()
            print(epoch, i, round(loss.item(), 4), round(float(norm), 4), sched.get_last_lr()[0])
    model.eval()
    with torch.inference_mode():
        vx = torch.stack([val[k][0] for k in range(len(val))]); vy = torch.stack([val[k][1] for k in range(len(val))])
        print("val", round(model(vx.to(W[0]), vy.to(W[0]))[1].item(), 4))
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "ckpt.pt")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": 4}, path)
    ck = torch.load(path, map_location="cpu", weights_only=True)
    m2 = LM(); m2.load_state_dict({k: v.cpu() for k, v in ck["model"].items()}); print(ck["step"], sorted(ck["opt"]["state"])[:3], ck["sched"]["last_epoch"])
    print(torch.equal(m2.head.weight, m2.wte.weight), m2.head.weight is m2.wte.weight)
@torch.no_grad()
def generate(m, idx, n):
    for _ in range(n):
        logits, _ = m(idx[:, -8:].to(W[0]))
        probs = F.softmax(logits[:, -1, :] / 0.8, dim=-1)
        v, _ = torch.topk(probs, 3)
        probs[probs < v[:, [-1]]] = 0
        idx = torch.cat((idx, torch.multinomial(probs, 1).cpu()), dim=1)
    return idx
torch.manual_seed(3)
print(generate(model, torch.zeros(2, 1, dtype=torch.long), 6).tolist())
print("done")
