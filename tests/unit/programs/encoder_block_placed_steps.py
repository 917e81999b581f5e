# A small transformer encoder block trained a few steps the way tutorials write one, with its
# weights on a worker (`module.to(W[0])`) and its batch on that worker too: a padded batch
# with key_padding_mask, nn.MultiheadAttention's per-head weights (average_attn_weights
# False), the packed in_proj_weight read and edited through its q/k/v row views under
# no_grad (versions, _base, storage shared), AdamW steps with zero_grad(set_to_none=False),
# a padding mask of the wrong dtype and shape (torch's errors), and the trained layer's
# state_dict loaded back into a driver copy (distgrad: a worker; torch: the CPU).
# `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(23)
D, H, N, L = 8, 2, 3, 5


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"


layer = nn.TransformerEncoderLayer(D, H, dim_feedforward=12, dropout=0.0, batch_first=True)
copy = nn.TransformerEncoderLayer(D, H, dim_feedforward=12, dropout=0.0, batch_first=True)
copy.load_state_dict(layer.state_dict())
layer.to(W[0])
w = layer.self_attn.in_proj_weight
print(w.device == torch.device(W[0]), w.is_leaf, w.requires_grad, w.shape, w.stride())

x = torch.randn(N, L, D)
pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] * 4 + [True]])
xw, padw = x.to(W[0]), pad.to(W[0])
target = torch.randn(N, L, D)
opt = torch.optim.AdamW(layer.parameters(), lr=0.01, weight_decay=0.1)
for step in range(3):
    out = layer(xw, src_key_padding_mask=padw)
    keep = (~padw).unsqueeze(-1).float()
    loss = ((out - target.to(W[0])).pow(2) * keep).sum() / keep.sum()
    loss.backward()
    print(step, round(loss.item(), 5), out.grad_fn.name(), w.grad.shape,
          w.grad.cpu().norm().item() > 0, layer.linear2.bias.grad.cpu())
    opt.step()
    opt.zero_grad(set_to_none=False)
print(w.grad.cpu().abs().sum().item(), w._version, layer.norm1.weight.detach().cpu())

# per-head attention weights of the trained attention, padding columns at zero
mha = layer.self_attn
o, attn = mha(xw, xw, xw, key_padding_mask=padw, average_attn_weights=False)
print(attn.shape, attn.grad_fn.name(), attn.cpu()[1, 0, 0], attn.cpu()[2, 1, :, 4])
o2, avg = mha(xw, xw, xw, key_padding_mask=padw)
print(torch.allclose(avg.cpu(), attn.cpu().mean(1), atol=1e-6), o2.grad_fn.name())
fmask = torch.zeros(N, L).masked_fill(pad, float("-inf")).to(W[0])
o3, _ = mha(xw, xw, xw, key_padding_mask=fmask, need_weights=False)
print(torch.allclose(o3.cpu(), o.cpu(), atol=1e-6), _)

# the packed projection's q/k/v rows as views, edited under no_grad
q_w, k_w, v_w = w.chunk(3)
print(q_w._base is w, q_w._is_view(), k_w.storage_offset(), v_w.is_contiguous(),
      q_w.untyped_storage().data_ptr() == w.untyped_storage().data_ptr())
v0 = w._version
with torch.no_grad():
    q_w.mul_(0.5)
    k_w[0].zero_()
    v_w.t()[1].fill_(0.25)
print(w._version - v0, q_w._version, w.detach().cpu()[D], w.detach().cpu()[2 * D:, 1])
print(attempt(lambda: q_w.mul_(2)))
print(attempt(lambda: mha(xw, xw, xw, key_padding_mask=padw.long())))
print(attempt(lambda: mha(xw, xw, xw, key_padding_mask=padw[:, :4])))

# the trained weights back on the driver
sd = {k: v.cpu() for k, v in layer.state_dict().items()}
print(copy.load_state_dict(sd), list(sd)[:3])
with torch.no_grad():
    a, b = layer(xw, src_key_padding_mask=padw).cpu(), copy(x, src_key_padding_mask=pad)
print(torch.allclose(a, b, atol=1e-5), b[1, 0])
print("done")
