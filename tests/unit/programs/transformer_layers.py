# nn.Transformer and its layers as users configure them: norm_first, bias=False, 'gelu' and
# a callable activation, dropout in train mode, tgt_is_causal with the causal mask from
# generate_square_subsequent_mask (its dtype and device arguments), padding and memory
# masks, the warnings TransformerEncoder gives (caught and printed), the nested-tensor
# inference path with padding, MultiheadAttention's seeded dropout, the errors of wrong
# shapes and mask dtypes, state_dict round trips, and attention in float16 and bfloat16
# (randn in those dtypes, the CPU kernel, the math path, autocast).
import warnings
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(4)
D, H, L, N = 8, 2, 5, 3


def caught(fn):
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        r = fn()
    for w in ws:
        print(w.category.__name__, str(w.message)[:150])
    return r


def report(fn):
    try:
        caught(fn)
    except Exception as e:
        print(type(e).__name__, e)


# an encoder stack: pre-norm gelu layers, a final norm, the nested-tensor warning
layer = nn.TransformerEncoderLayer(D, H, dim_feedforward=16, dropout=0.1, activation="gelu",
                                   batch_first=True, norm_first=True)
enc = caught(lambda: nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D)))
print(enc.use_nested_tensor, enc.layers[0].activation_relu_or_gelu)
enc2 = caught(lambda: nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D), enable_nested_tensor=False))
print(enc2)
x = torch.randn(N, L, D, requires_grad=True)
pad = torch.tensor([[False] * 5, [False, False, False, True, True], [False] * 4 + [True]])
y = enc2(x, src_key_padding_mask=pad)
print(y.shape, y.grad_fn.name(), y[1, 4])
(y * torch.randn_like(y)).sum().backward()
print(x.grad[1], enc2.layers[1].linear1.weight.grad.norm())
causal = nn.Transformer.generate_square_subsequent_mask(L)
print(causal, causal.dtype)
print(nn.Transformer.generate_square_subsequent_mask(3, dtype=torch.float64, device="cpu"))
enc2.eval()
y1 = caught(lambda: enc2(x, mask=causal, is_causal=True))
y2 = enc2(x, mask=causal)
print(torch.allclose(y1, y2), y1[0, 0])
print(caught(lambda: enc2(x, mask=causal.bool(), src_key_padding_mask=pad))[2, 1])
report(lambda: enc2(x, mask=torch.zeros(L, L, dtype=torch.float64)))
report(lambda: enc2(x, mask=torch.zeros(L, L, dtype=torch.long)))
report(lambda: enc2(x, mask=torch.zeros(L + 1, L + 1)))

# a post-norm decoder with a callable activation, causal self-attention, a memory mask
def swish(t):
    return t * torch.sigmoid(t)


torch.manual_seed(5)
dl = nn.TransformerDecoderLayer(D, H, 16, dropout=0.0, activation=swish)
dec = nn.TransformerDecoder(dl, 2)
tgt = torch.randn(L, N, D)
mem = torch.randn(L + 1, N, D, requires_grad=True)
mmask = torch.zeros(L, L + 1)
mmask[:, -1] = float("-inf")
o = dec(tgt, mem, tgt_mask=causal, memory_mask=mmask, tgt_is_causal=True,
        memory_key_padding_mask=torch.zeros(N, L + 1, dtype=torch.bool))
print(o[0, 1], o.grad_fn.name())
o.pow(2).sum().backward()
print(mem.grad[-1].abs().sum(), mem.grad[0, 0])
print(dl.activation is swish, type(dec.layers[0].activation).__name__)

# inference with padding: torch's nested-tensor path (zeros at the padding)
torch.manual_seed(6)
el = nn.TransformerEncoderLayer(D, H, 16, batch_first=True)
e3 = nn.TransformerEncoder(el, 2, enable_nested_tensor=True)
print(e3.use_nested_tensor)
e3.eval()
with torch.no_grad():
    print(e3(x, src_key_padding_mask=pad)[1, 3:], el(x, src_key_padding_mask=pad)[1, 3:])
    gappy = torch.tensor([[False, True, False, False, False], [False] * 3 + [True] * 2, [False] * 5])
    print(e3(x, src_key_padding_mask=gappy)[0])
    print(caught(lambda: e3(x, mask=torch.zeros(L, L), src_key_padding_mask=pad))[1, 4])
    print(caught(lambda: e3(x, src_key_padding_mask=gappy.float().masked_fill(gappy, float("-inf"))))[1, 4])
sd = e3.state_dict()
print(len(sd), list(sd)[:6])
e4 = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, 16, batch_first=True), 2)
print(e4.load_state_dict(sd))
e4.eval()
print(torch.allclose(e4(x), e3(x)))

# a whole nn.Transformer: pre-norm, no biases, gelu, dropout, causal target
tr = nn.Transformer(D, H, 1, 2, 16, dropout=0.2, batch_first=True, norm_first=True, bias=False,
                    activation="gelu")
print([n for n, _ in tr.named_parameters()][:8], len(list(tr.parameters())))
src = torch.randn(N, 6, D)
tgt = torch.randn(N, L, D, requires_grad=True)
tm = tr.generate_square_subsequent_mask(L)
spad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2, [False] * 5 + [True]])
torch.manual_seed(9)
out = caught(lambda: tr(src, tgt, tgt_mask=tm, tgt_is_causal=True, src_key_padding_mask=spad,
                        memory_key_padding_mask=spad))
print(out[0, 0], out.grad_fn.name())
(out * torch.randn_like(out)).sum().backward()
print(tgt.grad[1, 2], tr.decoder.layers[1].multihead_attn.in_proj_weight.grad.norm())
caught(lambda: tr(src, tgt, tgt_mask=tm.bool(), tgt_key_padding_mask=torch.zeros(N, L)))
caught(lambda: tr(src, tgt, src_mask=torch.zeros(6, 6), src_key_padding_mask=torch.zeros(N, 6, dtype=torch.bool)))
report(lambda: tr(src[:2], tgt))
report(lambda: tr(src[..., :4], tgt))
report(lambda: tr(src, tgt, tgt_is_causal=True))
report(lambda: tr(src, tgt, memory_mask=torch.zeros(L, 5)))
tr.eval()
with torch.no_grad():
    e1, e2 = tr(src, tgt, tgt_mask=tm), tr(src, tgt, tgt_mask=tm, tgt_is_causal=False)
print(torch.allclose(e1, e2), e1[2, 4])

# MultiheadAttention's dropout on the weights in train mode, seeded
torch.manual_seed(2)
mha = nn.MultiheadAttention(D, H, dropout=0.5, batch_first=True)
o, w = mha(x, x, x)
print(w[0], o.grad_fn.name(), w.grad_fn.name())
print(mha(x, x, x, need_weights=False)[0][0, 0], list(mha.state_dict().keys()))

# float16 and bfloat16
qh = torch.randn(1, 2, 3, 4).half()
print(F.scaled_dot_product_attention(qh, qh, qh), F.scaled_dot_product_attention(qh[0], qh[0], qh[0]).dtype)
qb = torch.randn(2, 3, 4, dtype=torch.bfloat16, requires_grad=True)
ob = F.scaled_dot_product_attention(qb, qb, qb, is_causal=True)
ob.float().sum().backward()
print(ob, qb.grad)
xb = torch.randn(2, 4, 6, 8, dtype=torch.bfloat16)
print(F.scaled_dot_product_attention(xb, xb, xb, attn_mask=torch.rand(6, 6) > 0.4)[1, 3])
with torch.autocast("cpu", dtype=torch.bfloat16):
    q32 = torch.randn(1, 2, 3, 4)
    oa = F.scaled_dot_product_attention(q32, q32, q32)
print(oa.dtype, oa[0, 1])
print("done")
