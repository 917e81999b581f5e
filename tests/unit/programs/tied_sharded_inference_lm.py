# A small language model with its token embedding split over the workers by rows (`shard`)
# and tied to the output head (head.weight = wte.weight: one Parameter, counted once),
# trained as mixed-precision-ready scripts write the loop (a GradScaler("cpu") scaling the
# loss, unscale_ before clipping; autocast's place left as a bfloat16 cast of the logits'
# copy), the tied gradient summed from both uses, weight decay groups; then views of the
# tied weight (a row
# zeroed in place under no_grad: its version, the head's view of it), and generation under
# inference_mode whose tensors are refused by autograd later.
import math
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(23)
V, T, C = 10, 5, 8


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wte.weight = nn.Parameter(shard(self.wte.weight.detach(), 0))
        self.wpe = nn.Parameter(torch.randn(T, C) * 0.02)
        self.ln = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)
        self.mlp = nn.Sequential(nn.Linear(C, 2 * C), nn.GELU(), nn.Linear(2 * C, C))
        self.head = nn.Linear(C, V, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx):
        L = idx.shape[1]
        x = self.wte(idx) + self.wpe[:L]
        q, k, v = self.qkv(self.ln(x)).split(C, -1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C)
        att = att.masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
        att = att.softmax(-1)
        x = x + att @ v
        x = x + self.mlp(self.ln(x))
        return self.head(x)


model = LM()
names = [n for n, _ in model.named_parameters()]
print(names, model.head.weight is model.wte.weight, tuple(model.wte.weight.shape))
decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n != "wpe"]
rest = [p for n, p in model.named_parameters() if p.dim() != 2 or n == "wpe"]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                        lr=0.02)
scaler = torch.amp.GradScaler("cpu", enabled=True)
data = torch.randint(0, V, (3, T + 1))
for step in range(3):
    logits = model(data[:, :-1])
    loss = F.cross_entropy(logits.flatten(0, 1), data[:, 1:].flatten())
    if step == 0:
        low = logits.detach().to(torch.bfloat16)
        print(logits.dtype, low.dtype, type(logits.grad_fn).__name__, type(loss.grad_fn).__name__,
              [round(v, 4) for v in full(low)[0, 0, :4].float().tolist()])
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(opt)
    scaler.update()
    g = model.wte.weight.grad
    print(step, round(loss.item(), 3), round(norm.item(), 3), scaler.get_scale(), g.dtype,
          round(full(g).abs().sum().item(), 3), model.wte.weight._version)

with torch.no_grad():
    w = model.wte.weight
    row = w[0]
    row.zero_()
    print(w._version, full(model.head.weight)[0].abs().sum().item(), row._is_view(), row._base is w)
model.eval()
with torch.inference_mode():
    idx = data[:1, :2]
    for _ in range(3):
        nxt = model(idx)[:, -1].argmax(-1, keepdim=True)
        idx = torch.cat([idx, nxt], 1)
print(idx.tolist(), idx.is_inference(), idx.requires_grad)
try:
    model(idx[:, :T]).sum().backward()
    print("backward through inference tokens", model.wpe.grad.shape)
except RuntimeError as e:
    print(type(e).__name__, e)
try:
    model.wte(idx)
except RuntimeError as e:
    print(type(e).__name__, e)
emb = model.wte(idx.clone())
emb.add_(1)
print(emb.is_inference(), emb.requires_grad, type(emb.grad_fn).__name__, emb._version)
print("done")
