# Gradient checkpointing of transformer blocks with dropout, as memory-bound training scripts
# write it: each block of a small pre-norm transformer (MultiheadAttention with a causal
# mask, an MLP with dropout and an in-place GELU-free ReLU, a residual `x = x + f(x)`)
# wrapped in checkpoint(use_reentrant=False) with preserve_rng_state on (the gradients
# equal the unwrapped run's from the same seed) and off (they differ), the RNG state after
# a checkpointed step, checkpoint_sequential over a Sequential, a block placed on a worker
# and a block fed a batch split over the workers, and a few AdamW steps (distgrad: two
# workers; torch: the CPU and a copy). `W`, `shard` and `full` are the runner's.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
checkpoint = torch.utils.checkpoint.checkpoint
checkpoint_sequential = torch.utils.checkpoint.checkpoint_sequential
torch.manual_seed(61)
D, H, L, N = 8, 2, 4, 3


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, H, dropout=0.2, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(D, 16), nn.ReLU(inplace=True), nn.Dropout(0.3),
                                 nn.Linear(16, D))
        self.register_buffer("causal", torch.triu(torch.ones(L, L, dtype=torch.bool), 1))

    def forward(self, x):
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, attn_mask=self.causal, need_weights=False)
        x = x + a
        return x + self.mlp(self.ln2(x))


class Model(nn.Module):
    def __init__(self, ckpt, preserve=True):
        super().__init__()
        self.blocks = nn.ModuleList([Block()])
        self.ckpt, self.preserve = ckpt, preserve

    def forward(self, x):
        for b in self.blocks:
            if self.ckpt:
                x = checkpoint(b, x, use_reentrant=False, preserve_rng_state=self.preserve)
            else:
                x = b(x)
        return x


plain = Model(False)
ck = Model(True)
ck.load_state_dict(plain.state_dict())
loose = Model(True, preserve=False)
loose.load_state_dict(plain.state_dict())
x = torch.randn(N, L, D)
grads = []
for m in (plain, ck, loose):
    torch.manual_seed(7)
    out = m(x)
    out.pow(2).mean().backward()
    grads.append(m.blocks[0].mlp[0].weight.grad.clone())
    print(out.grad_fn.name(), out[0, 0, :3], torch.rand(1))
print(torch.allclose(grads[0], grads[1], atol=1e-6), torch.allclose(grads[0], grads[2], atol=1e-6))
print(ck.blocks[0].attn.in_proj_weight.grad.norm(), plain.blocks[0].attn.in_proj_weight.grad.norm())

# checkpoint_sequential over segments, dropout included
seq = nn.Sequential(nn.Linear(D, D), nn.Dropout(0.5), nn.Tanh(), nn.Linear(D, D), nn.ReLU())
seq2 = copy.deepcopy(seq)
xs = torch.randn(5, D, requires_grad=True)
torch.manual_seed(8)
o1 = checkpoint_sequential(seq, 2, xs, use_reentrant=False)
o1.sum().backward()
g1 = xs.grad.clone()
xs.grad = None
torch.manual_seed(8)
o2 = seq2(xs)
o2.sum().backward()
print(torch.allclose(o1, o2), torch.allclose(g1, xs.grad, atol=1e-6), o1.grad_fn.name())

# a checkpointed block on a worker, a few AdamW steps, eval mode without dropout
torch.manual_seed(9)
blk = Block().to(W[1])
opt = torch.optim.AdamW(blk.parameters(), lr=0.01)
xw = x.to(W[1])
for step in range(2):
    torch.manual_seed(100 + step)
    y = checkpoint(blk, xw, use_reentrant=False)
    loss = y.pow(2).mean()
    loss.backward()
    print(step, round(loss.item(), 5), blk.mlp[0].weight.grad.cpu().norm(), y.requires_grad)
    opt.step()
    opt.zero_grad()
blk.eval()
with torch.no_grad():
    e1 = checkpoint(blk, xw, use_reentrant=False)
print(e1.requires_grad, e1.grad_fn, torch.allclose(e1.cpu(), blk(xw).detach().cpu(), atol=1e-5))

# the batch split over the workers through a checkpointed block with dropout
blk.train()
b2 = copy.deepcopy(blk).to("cpu")
xs = shard(x.clone(), 0).requires_grad_()
torch.manual_seed(11)
ys = checkpoint(b2, xs, use_reentrant=False)
(full(ys) * torch.arange(float(D))).sum().backward()
print(full(ys)[0, 0, :3], full(xs.grad)[1, 1, :3], b2.ln1.weight.grad[:3])
print("done")
