# Layer options real models set, with the model on a worker (torch: the CPU): attention
# with a key padding mask and per-head or averaged weights, a norm-first encoder layer in
# train and eval, an embedding with padding_idx and max_norm (its in-place renorm counts a
# version) tied to the output layer, an EmbeddingBag, grouped and circular/reflect convs,
# batch norms with momentum=None and without running stats in train and eval.
# (Buffers moved to a worker are new tensors, as on a real device: no versions of them.)
# `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(21)
dev = W[1]


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


mha = nn.MultiheadAttention(8, 2, batch_first=True).to(dev)
q = torch.randn(2, 5, 8).to(dev).requires_grad_()
pad = torch.tensor([[False, False, False, True, True], [False] * 5]).to(dev)
out, w_avg = mha(q, q, q, key_padding_mask=pad)
_, w_heads = mha(q, q, q, key_padding_mask=pad, need_weights=True, average_attn_weights=False)
print(out.shape, w_avg.shape, w_heads.shape, round(w_avg[0, :, 3:].abs().sum().item(), 6))
print(w_heads.sum(-1)[0].detach().cpu(), out.grad_fn.name())
out.pow(2).mean().backward()
print(q.grad.norm().item() > 0, mha.in_proj_weight.grad.shape, mha.out_proj.bias.grad.cpu())

layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True,
                                   norm_first=True).to(dev)
x = torch.randn(2, 4, 8).to(dev)
y_train = layer(x, src_key_padding_mask=pad[:, :4])
layer.eval()
with torch.no_grad():
    y_eval = layer(x, src_key_padding_mask=pad[:, :4])
print((y_train - y_eval).abs().max().item() < 1e-5, y_train.grad_fn.name(), y_eval.requires_grad)

emb = nn.Embedding(6, 4, padding_idx=0, max_norm=1.0).to(dev)
head = nn.Linear(4, 6, bias=False).to(dev)
head.weight = emb.weight  # tied
print(emb.weight._version, head.weight is emb.weight)
ids = torch.tensor([[0, 2, 3], [3, 5, 0]]).to(dev)
h = emb(ids)
print(emb.weight._version, h.norm(dim=-1).detach().cpu(), h.grad_fn.name())
logits = head(h)
loss = F.cross_entropy(logits.reshape(-1, 6), torch.tensor([1, 2, 3, 4, 5, 0]).to(dev),
                       ignore_index=0)
loss.backward()
print(round(loss.item(), 5), emb.weight.grad[0].cpu(), emb.weight.grad.shape)
print(attempt(lambda: emb(torch.tensor([6]).to(dev))))

bag = nn.EmbeddingBag(6, 3, mode="mean").to(dev)
flat, offsets = torch.tensor([1, 2, 4, 4, 3]).to(dev), torch.tensor([0, 2]).to(dev)
b = bag(flat, offsets)
b.sum().backward()
print(b.shape, b.grad_fn.name(), bag.weight.grad.cpu())

conv = nn.Conv1d(4, 6, 3, groups=2, padding=1, padding_mode="circular").to(dev)
conv2 = nn.Conv2d(2, 4, 3, groups=2, padding=1, padding_mode="reflect", bias=False).to(dev)
s = torch.randn(1, 4, 5).to(dev).requires_grad_()
i = torch.randn(1, 2, 4, 4).to(dev)
c1, c2 = conv(s), conv2(i)
print(c1.shape, c2.shape, conv.weight.shape, c1.grad_fn.name(), c2.grad_fn.name())
(c1.sum() + c2.pow(2).sum()).backward()
print(s.grad.cpu(), conv2.weight.grad.abs().sum().item() > 0)

bn_avg = nn.BatchNorm1d(3, momentum=None).to(dev)
bn_none = nn.BatchNorm1d(3, track_running_stats=False).to(dev)
for step in range(3):
    batch = torch.randn(5, 3).to(dev) * (step + 1)
    bn_avg(batch), bn_none(batch)
print(bn_avg.running_mean.cpu(), bn_avg.num_batches_tracked.item(), bn_avg.running_var.cpu())
print(bn_none.running_mean, bn_none.num_batches_tracked, bn_none.training)
bn_avg.eval(), bn_none.eval()
probe = torch.randn(4, 3).to(dev)
print(bn_avg(probe).detach().cpu(), bn_none(probe).mean(0).abs().max().item() < 1e-5)
print("done")
