# nn.MultiheadAttention configured the ways cross-attention code configures it, on a worker:
# kdim/vdim (separate q/k/v projection weights, no packed in_proj_weight), add_bias_kv and
# add_zero_attn (the extra key columns in the weights), a 3-D per-head float attn_mask next
# to a bool key_padding_mask (torch's merge of the two), is_causal with its mask, sequence
# first (batch_first False) and unbatched inputs, a few Adam steps with a StepLR on a
# cross-attention pooling head, the parameters' names and state_dict keys, and the errors of
# masks of the wrong shape (distgrad: a worker; torch: the CPU). `W` is the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(79)
E, H, L, S, N = 6, 2, 3, 4, 2


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"


dev = W[0]
cross = nn.MultiheadAttention(E, H, kdim=5, vdim=3, add_bias_kv=True, add_zero_attn=True).to(dev)
print([n for n, _ in cross.named_parameters()], cross._qkv_same_embed_dim, cross.in_proj_weight)
q = torch.randn(L, N, E).to(dev)
k, v = torch.randn(S, N, 5).to(dev), torch.randn(S, N, 3).to(dev)
pad = torch.tensor([[False] * 4, [False, False, True, True]]).to(dev)
o, w = cross(q, k, v, key_padding_mask=pad)
print(o.shape, w.shape, o.grad_fn.name(), w.cpu()[1, 0], w.detach().cpu().sum(-1)[0].sub(1).abs().max() < 1e-6)
per_head = torch.zeros(N * H, L, S)
per_head[:, :, 1] = -1.0
o2, w2 = cross(q, k, v, key_padding_mask=pad, attn_mask=per_head.to(dev), average_attn_weights=False)
print(w2.shape, w2.cpu()[1, 1, 2], o2.cpu()[0, 1])
(o2.pow(2).sum() + w2[:, :, :, -1].sum()).backward()
print(cross.q_proj_weight.grad.cpu()[0], cross.bias_k.grad.cpu().view(-1), cross.v_proj_weight.grad.shape)
print(cross.in_proj_bias.grad.cpu(), cross.out_proj.weight.grad.device == torch.device(dev))

# unbatched, batch-first, causal
self_attn = nn.MultiheadAttention(E, H, batch_first=True, bias=False).to(dev)
xu = torch.randn(L, E).to(dev)
ou, wu = self_attn(xu, xu, xu)
print(ou.shape, wu.shape, ou.cpu()[0], self_attn.in_proj_bias)
causal = nn.Transformer.generate_square_subsequent_mask(L).to(dev)
xb = torch.randn(N, L, E).to(dev)
oc, wc = self_attn(xb, xb, xb, attn_mask=causal, is_causal=True)
print(wc.cpu()[1], oc.grad_fn.name())
print(attempt(lambda: self_attn(xb, xb, xb, is_causal=True)))
print(attempt(lambda: cross(q, k, v, attn_mask=torch.zeros(L, S).to(dev))[1].shape))
print(attempt(lambda: cross(q, k, v, key_padding_mask=pad[:, :3])))
print(attempt(lambda: self_attn(xb, xb, xb, attn_mask=torch.zeros(N * H + 1, L, L).to(dev))))

# a cross-attention pooling head trained a few steps: learned queries over a padded set
class Pool(nn.Module):
    def __init__(self):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(2, E) * 0.5)
        self.attn = nn.MultiheadAttention(E, H, batch_first=True, dropout=0.0)
        self.out = nn.Linear(2 * E, 1)

    def forward(self, items, pad):
        qs = self.queries.unsqueeze(0).expand(items.shape[0], -1, -1)
        pooled, weights = self.attn(qs, items, items, key_padding_mask=pad)
        return self.out(pooled.flatten(1)).squeeze(-1), weights


pool = Pool().to(dev)
items = torch.randn(N, S, E).to(dev)
target = torch.tensor([1.0, -1.0]).to(dev)
opt = torch.optim.Adam(pool.parameters(), lr=0.05)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
for step in range(4):
    pred, weights = pool(items, pad)
    loss = F.mse_loss(pred, target)
    loss.backward()
    print(step, round(loss.item(), 5), sched.get_last_lr(), pool.queries.grad.cpu()[0, :3],
          weights.cpu()[1, 0])
    opt.step()
    sched.step()
    opt.zero_grad()
print(list(pool.state_dict())[:4], pool.queries.is_leaf, pool.queries._version)
print("done")
