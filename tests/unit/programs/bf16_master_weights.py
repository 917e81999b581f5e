# Mixed precision by hand, as memory-bound fine-tuning scripts write it without autocast: a
# small pre-norm MLP-mixer-like model whose parameters are bfloat16, float32 master copies
# the optimizer steps (gradients copied up with .float(), weights copied down with
# copy_ into the bfloat16 parameters: their versions count it), a GradScaler("cpu") scaling
# the loss (inf found by an overflow, the step skipped, the scale backed off), layer norm,
# softmax, log_softmax and a class-weighted cross_entropy taken in bfloat16,
# .to(torch.bfloat16) round trips of leaves and of views (what stays a view, what copies),
# and the errors of mixed dtypes.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)


class MixerBlock(nn.Module):
    def __init__(self, d, t):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.token_mix = nn.Linear(t, t)
        self.fc1, self.fc2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)

    def forward(self, x):
        x = x + self.token_mix(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


model = nn.Sequential(MixerBlock(8, 5), MixerBlock(8, 5))
head = nn.Linear(8, 4)
params = list(model.parameters()) + list(head.parameters())
master = [p.detach().clone().float() for p in params]
for p in params:
    p.data = p.data.to(torch.bfloat16)
print({p.dtype for p in params}, [m.dtype for m in master][:2], master[0].is_leaf)
for m in master:
    m.requires_grad_(True)
opt = torch.optim.SGD(master, lr=0.2, momentum=0.9)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12, growth_interval=2)
x = torch.randn(3, 5, 8).to(torch.bfloat16)
y = torch.randint(0, 4, (3,))
for step in range(4):
    h = model(x)
    logits = head(h.mean(1))
    print(step, h.dtype, logits.dtype, type(h.grad_fn).__name__, type(logits.grad_fn).__name__)
    loss = F.cross_entropy(logits.float(), y)
    if step == 2:
        loss = loss * 1e36  # (an overflow: the scaled gradients become inf)
    for p in params:
        p.grad = None
    scaler.scale(loss).backward()
    for p, m in zip(params, master):
        m.grad = p.grad.float()
    scaler.unscale_(opt)
    total = nn.utils.clip_grad_norm_(master, 5.0)
    scaler.step(opt)
    scaler.update()
    with torch.no_grad():
        for p, m in zip(params, master):
            p.copy_(m)
    print(step, round(loss.item(), 3) if step != 2 else "scaled", scaler.get_scale(),
          round(total.item(), 3),
          round(params[0].grad.float().norm().item(), 3), params[0]._version)
    print([round(p.grad.float().abs().sum().item(), 3) for p in params[:6]])
print([round(m.sum().item(), 4) for m in master[:4]])
print([round(p.float().sum().item(), 3) for p in params[:4]])

# layer norm, softmax and log_softmax in bfloat16 with their gradients
a = torch.linspace(-3, 3, 24).reshape(4, 6).to(torch.bfloat16).requires_grad_()
w = torch.linspace(0.5, 1.5, 6).to(torch.bfloat16).requires_grad_()
b = torch.linspace(-0.2, 0.2, 6).to(torch.bfloat16).requires_grad_()
ln = F.layer_norm(a * 2, (6,), w, b)
sm = ln.softmax(-1)
ls = F.log_softmax(ln, dim=0)
(sm * torch.arange(6.).to(torch.bfloat16)).sum().backward(retain_graph=True)
print(ln.dtype, sm.dtype, ls.dtype, type(ln.grad_fn).__name__, type(sm.grad_fn).__name__)
print(ln[0].tolist(), sm[1].tolist())
print(a.grad.tolist(), w.grad.tolist(), b.grad.tolist())
a.grad = w.grad = b.grad = None
ls.sum().backward()
print(a.grad[0].tolist(), w.grad.tolist())

# a class-weighted loss taken in bfloat16 (rare classes weighted up), ignoring padded labels
class_w = (torch.rand(12) + 0.5).to(torch.bfloat16)
for batch in range(6):
    scores = (torch.randn(3, 12) * 1.5).to(torch.bfloat16).requires_grad_()
    labels = torch.randint(0, 12, (3,))
    labels[batch % 3] = -100 if batch > 3 else labels[batch % 3]
    wl = F.cross_entropy(scores, labels, weight=class_w, ignore_index=-100)
    wl.backward()
    print(batch, wl.dtype, wl.item(), [round(v, 6) for v in scores.grad[0].float().tolist()[:6]],
          round(scores.grad.float().abs().sum().item(), 5))

# round trips of leaves and views
leaf = torch.arange(6.).reshape(2, 3).requires_grad_()
same = leaf.to(torch.float32)
down = leaf.to(torch.bfloat16)
back = down.to(torch.float32)
print(same is leaf, down.is_leaf, back.is_leaf, type(back.grad_fn).__name__, down._base is None)
v = leaf.detach()[:, 1]
vb = v.to(torch.bfloat16)
print(v._is_view(), vb._is_view(), vb.untyped_storage().data_ptr() == v.untyped_storage().data_ptr(),
      v.to(torch.float32) is v, v.stride(), vb.stride(), vb.is_contiguous())
back.sum().backward()
print(leaf.grad)
try:
    torch.mm(leaf, down.t())
except RuntimeError as e:
    print(type(e).__name__, e)
try:
    leaf.detach().add_(torch.ones(2, 3, dtype=torch.bfloat16).requires_grad_())
    print("added", leaf.dtype)
except RuntimeError as e:
    print(type(e).__name__, e)
try:
    d = torch.zeros(2, 3, dtype=torch.bfloat16)
    d += leaf.detach()
    print(d.dtype, d)
except RuntimeError as e:
    print(type(e).__name__, e)
print("done")
