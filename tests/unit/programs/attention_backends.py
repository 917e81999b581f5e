# Choosing attention's kernel as users do: torch.nn.attention.sdpa_kernel around a small
# vision-transformer classifier's training (the math path and the CPU flash kernel give the
# same numbers, different graphs), the flags in torch.backends.cuda, a flash-only block
# refusing what the kernel does not take (dropout, a 3-D mask, strided inputs: the warnings
# saying why, caught and printed, then the error), no kernel at all, and the flags restored
# after an error inside the block.
import warnings
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
sdpa_kernel, SDPBackend = torch.nn.attention.sdpa_kernel, torch.nn.attention.SDPBackend
torch.manual_seed(21)


class PatchAttention(nn.Module):
    def __init__(self, dim=12, heads=3, classes=4):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, 4, stride=4)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)
        self.heads, self.p = heads, 0.1

    def forward(self, img):
        x = self.patch(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1)
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           dropout_p=self.p if self.training else 0.0)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return self.head(x[:, 0])


def caught(fn):
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        try:
            r = fn()
        except RuntimeError as e:
            r = f"{type(e).__name__}: {e}"
    return r, [f"{w.category.__name__}: {str(w.message).split(' (Triggered')[0]}" for w in ws]


model = PatchAttention()
imgs, labels = torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 3, 1, 0])
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model.eval()
with torch.no_grad():
    plain = model(imgs)
    with sdpa_kernel(SDPBackend.MATH):
        math_path = model(imgs)
print(torch.allclose(plain, math_path, atol=1e-6), plain[0])
for step in range(4):
    model.train(step % 2 == 0)
    torch.manual_seed(100 + step)
    with sdpa_kernel([SDPBackend.MATH] if step < 2 else [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]):
        logits = model(imgs)
        loss = F.cross_entropy(logits, labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, model.training, round(loss.item(), 5), model.cls.grad.norm().item())
print(model.qkv.weight.grad[:2, :4])

# the flags, and what a flash-only block refuses
cuda = torch.backends.cuda
print(cuda.flash_sdp_enabled(), cuda.math_sdp_enabled(), cuda.mem_efficient_sdp_enabled())
q = torch.randn(2, 3, 5, 4, requires_grad=True)
with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
    print(cuda.flash_sdp_enabled(), cuda.math_sdp_enabled())
    out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    print(out.grad_fn.name())
    for name, fn in [("dropout", lambda: F.scaled_dot_product_attention(q, q, q, dropout_p=0.2)),
                     ("3-D mask", lambda: F.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(3, 5, 5, dtype=torch.bool))),
                     ("strided", lambda: F.scaled_dot_product_attention(q.transpose(-1, -2), q.transpose(-1, -2), q.transpose(-1, -2))),
                     ("3-D inputs", lambda: F.scaled_dot_product_attention(q[0], q[0], q[0])),
                     ("learnt mask", lambda: F.scaled_dot_product_attention(q, q, q, attn_mask=torch.zeros(5, 5, requires_grad=True)))]:
        print(name, *caught(fn))
with sdpa_kernel([SDPBackend.MATH]):
    out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    print(out.grad_fn.name(), cuda.flash_sdp_enabled())
print(caught(lambda: F.scaled_dot_product_attention(q, q, q).grad_fn.name()))
with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]):
    print(caught(lambda: F.scaled_dot_product_attention(q, q, q)))
try:
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
except RuntimeError as e:
    print("restored after", type(e).__name__, cuda.math_sdp_enabled(), cuda.flash_sdp_enabled())
try:
    with sdpa_kernel("math"):
        pass
except AssertionError as e:
    print(type(e).__name__, e)
cuda.enable_flash_sdp(False)
print(F.scaled_dot_product_attention(q, q, q).grad_fn.name(), cuda.flash_sdp_enabled())
cuda.enable_flash_sdp(True)
print(repr(SDPBackend.FLASH_ATTENTION), SDPBackend.MATH, SDPBackend.MATH.value, list(SDPBackend.__members__))

# MultiheadAttention and an encoder layer choose through the same flags
mha = nn.MultiheadAttention(12, 3, batch_first=True)
x = torch.randn(2, 5, 12, requires_grad=True)
with sdpa_kernel(SDPBackend.MATH):
    o, w = mha(x, x, x, need_weights=False, attn_mask=nn.Transformer.generate_square_subsequent_mask(5), is_causal=True)
print(o.grad_fn.name(), w, o[1, 4])
with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
    print(caught(lambda: mha(x, x, x, need_weights=False, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool))[0].shape))
print("done")
