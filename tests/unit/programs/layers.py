# Layers as models use them: LSTM/GRU, Embedding, TransformerEncoderLayer (train and eval),
# BatchNorm, LayerNorm, AdamW + StepLR + clipping, conv, SDPA, MultiheadAttention.
import numpy as np
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
rng = np.random.default_rng(1)
def R(*s): return torch.tensor(rng.standard_normal(s).astype(np.float32))
def init(m):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(R(*p.shape) * 0.2)
    return m
def show(name, t):
    print(name, tuple(t.shape), t.dtype, np.round(t.detach().numpy().astype(np.float64), 4).ravel()[:6].tolist(), t.grad_fn.__class__.__name__ if t.grad_fn is not None else None)
lstm = init(nn.LSTM(4, 5, num_layers=2, batch_first=True))
x = R(3, 6, 4).requires_grad_()
out, (h, c) = lstm(x)
show("lstm", out); show("h", h)
out.sum().backward(); show("lstm xgrad", x.grad)
gru = init(nn.GRU(4, 3, bidirectional=True))
o, hn = gru(R(6, 2, 4)); show("gru", o); show("gru h", hn)
emb = init(nn.Embedding(10, 4, padding_idx=0))
e = emb(torch.tensor([[0, 2, 9], [1, 1, 0]])); show("emb", e)
e.pow(2).sum().backward(); show("emb grad", emb.weight.grad)
layer = init(nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True))
src = R(2, 5, 8)
mask = nn.Transformer.generate_square_subsequent_mask(5)
y = layer(src, src_mask=mask, is_causal=True); show("tel", y)
y.sum().backward(); show("tel grad", layer.self_attn.in_proj_weight.grad)
layer.eval()
with torch.no_grad():
    show("tel eval", layer(src, src_key_padding_mask=torch.tensor([[False]*5, [False]*3 + [True]*2])))
bn = init(nn.BatchNorm1d(4))
xb = R(8, 4)
show("bn train", bn(xb)); show("bn running", bn.running_mean); print(bn.num_batches_tracked)
bn.eval(); show("bn eval", bn(xb))
ln = init(nn.LayerNorm(4)); show("ln", ln(xb))
model = init(nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Dropout(0.5), nn.Linear(8, 3)))
model.eval(); show("seq eval", model(xb)); model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
mm = torch.nn.Sequential(*[m for i, m in enumerate(model) if i != 2])
tgt = torch.tensor(rng.integers(0, 3, 8))
for i in range(5):
    opt.zero_grad()
    loss = F.cross_entropy(mm(xb), tgt, label_smoothing=0.1)
    loss.backward()
    n = torch.nn.utils.clip_grad_norm_(mm.parameters(), 0.5)
    opt.step(); sched.step()
    print(i, round(loss.item(), 5), round(float(n), 5), sched.get_last_lr())
cos = torch.optim.lr_scheduler.CosineAnnealingLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), T_max=10)
for _ in range(3): cos.optimizer.step(); cos.step()
print(cos.get_last_lr())
conv = init(nn.Conv2d(3, 4, 3, stride=2, padding=1))
img = R(2, 3, 9, 9)
z = F.adaptive_avg_pool2d(F.relu(conv(img)), (2, 2)); show("conv", z)
bn2 = init(nn.BatchNorm2d(4)); show("bn2", bn2(conv(img)))
att = torch.softmax(R(2, 3, 3).masked_fill(torch.triu(torch.ones(3, 3, dtype=torch.bool), 1), float('-inf')), -1); show("att", att)
print(torch.nn.functional.one_hot(torch.tensor([0, 2]), 4))
q = R(1, 2, 4, 8); show("sdpa", F.scaled_dot_product_attention(q, q, q, is_causal=True))
mha = init(nn.MultiheadAttention(8, 2, batch_first=True))
ao, aw = mha(src, src, src); show("mha", ao); show("mha w", aw)
print("done")
