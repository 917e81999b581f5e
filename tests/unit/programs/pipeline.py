# A model in two stages on two devices trained GPipe-style (micro-batches, gradients
# accumulated, one optimizer step; distgrad: two workers, torch: the CPU twice), its
# state dict saved and loaded into a copy on one device; a sharded batch through an
# embedding bag-style model with a driver weight and through a bidirectional GRU; and a
# compiled step (`compiled`) with AdamW, a MultiStepLR and gradient clipping. `W`,
# `shard`, `full`, `compiled`: the runner's.
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(41)

stage0 = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Dropout(0.1), nn.Linear(12, 12)).to(W[0])
stage1 = nn.Sequential(nn.LayerNorm(12), nn.Linear(12, 4)).to(W[1])
params = list(stage0.parameters()) + list(stage1.parameters())
opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
x, y = torch.randn(16, 6), torch.randint(0, 4, (16,))
for step in range(4):
    opt.zero_grad()
    total = 0.0
    for xb, yb in zip(x.chunk(4), y.chunk(4)):
        h = stage0(xb.to(W[0]))
        logits = stage1(h.to(W[1]))
        loss = F.cross_entropy(logits, yb.to(W[1])) / 4
        loss.backward()
        total += loss.item()
    opt.step()
    sched.step()
    print(step, round(total, 5), sched.get_last_lr(), logits.device == torch.device(W[1]))
print(stage1[1].weight.grad.cpu()[0], stage0[0].bias.grad.cpu()[:4])
buf = io.BytesIO()
torch.save({"s0": stage0.state_dict(), "s1": stage1.state_dict()}, buf)
buf.seek(0)
state = torch.load(buf)
copy0 = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Dropout(0.1), nn.Linear(12, 12))
copy1 = nn.Sequential(nn.LayerNorm(12), nn.Linear(12, 4))
copy0.load_state_dict(state["s0"])
copy1.load_state_dict(state["s1"])
copy0.eval(), stage0.eval()
with torch.no_grad():
    a = copy1(copy0(x))
    b = stage1(stage0(x.to(W[0])).to(W[1])).cpu()
print(torch.allclose(a, b, atol=1e-6), a.argmax(1).tolist(), state["s1"]["1.bias"].device == torch.device(W[1]))

emb = nn.Embedding(20, 6)
proj = torch.randn(6, 3, requires_grad=True)
tokens = torch.randint(0, 20, (8, 5))
bags = emb(shard(tokens, 0)).mean(1)
scores = torch.tanh(bags @ proj)
loss = scores.pow(2).sum()
loss.backward()
print(full(scores.detach()), proj.grad, emb.weight.grad.abs().sum(1)[:6])
encoder = nn.GRU(3, 5, batch_first=True, bidirectional=True)
seqs = shard(torch.randn(6, 4, 3), 0)
states, last = encoder(seqs + 0.1 * torch.randn_like(seqs) * (torch.rand_like(seqs) > 0.1))
pooled = states.mean(1) + torch.linspace(0, 1, 10, device=states.device)
pooled.pow(2).sum().backward()
print(full(pooled.detach())[:2], last.shape, encoder.weight_hh_l0_reverse.grad.sum(1))

mlp = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1)).to(W[1])
adamw = torch.optim.AdamW(mlp.parameters(), lr=0.05, weight_decay=0.01)
milestones = torch.optim.lr_scheduler.MultiStepLR(adamw, milestones=[2, 4], gamma=0.3)
xs = torch.randn(10, 4).to(W[1])
ys = (xs[:, :1] * 2 - xs[:, 1:2]).sin()


@compiled
def train_step(inp, target):
    adamw.zero_grad()
    loss = F.smooth_l1_loss(mlp(inp), target, beta=0.5)
    loss.backward()
    nn.utils.clip_grad_norm_(mlp.parameters(), max_norm=0.5)
    adamw.step()
    return loss


for step in range(6):
    loss = train_step(xs, ys)
    milestones.step()
    print("compiled", step, round(loss.item(), 5), milestones.get_last_lr()[0])
print(mlp[2].weight.detach().cpu(), adamw.state[mlp[2].bias]["step"].item())
print("done")
