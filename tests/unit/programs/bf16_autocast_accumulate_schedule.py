# A mixed-precision training loop as CPU scripts write it without a GradScaler: a small
# conv + GRU + linear model with the conv on W[0] and the rest on W[1], its forward under
# torch.autocast("cpu", dtype=torch.bfloat16) (the dtypes each layer gives, the loss taken
# in float32 outside), micro-batches accumulated with the loss divided by their count, a
# post-accumulate-grad hook counting arrivals, clip_grad_norm_ over both workers, AdamW with
# a linear warmup then cosine decay (SequentialLR of LinearLR and CosineAnnealingLR), the
# learning rates and the grads' dtypes, a bfloat16 copy of the weights made under no_grad
# for evaluation, and the scheduler's state_dict through a BytesIO. `W` is the runner's.
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(43)
B, C, T, H, K = 4, 3, 10, 6, 5


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(C, H, 3, padding=1).to(W[0])
        self.norm = nn.LayerNorm(H).to(W[1])
        self.rnn = nn.GRU(H, H, batch_first=True).to(W[1])
        self.head = nn.Linear(H, K).to(W[1])

    def forward(self, x):
        h = F.relu(self.conv(x.to(W[0])))
        h = self.norm(h.transpose(1, 2).to(W[1]))
        out, last = self.rnn(h)
        return self.head(out.mean(1)), h, out


net = Net()
arrivals = {}
for name, p in net.named_parameters():
    p.register_post_accumulate_grad_hook(lambda p, name=name: arrivals.__setitem__(name, arrivals.get(name, 0) + 1))
x = torch.randn(B * 3, C, T)
y = torch.randint(0, K, (B * 3,))
with torch.autocast("cpu", dtype=torch.bfloat16):
    logits, h, out = net(x[:B])
    conv_out = net.conv(x[:B].to(W[0]))
print(conv_out.dtype, h.dtype, out.dtype, logits.dtype, logits.grad_fn.name(), conv_out.grad_fn.name())
loss = F.cross_entropy(logits.float().cpu(), y[:B])
print(loss.dtype, round(loss.item(), 3))

opt = torch.optim.AdamW(net.parameters(), lr=0.02, weight_decay=0.01)
warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=2)
cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3, eta_min=1e-3)
sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[2])
accum = 3
for step in range(5):
    opt.zero_grad()
    total = 0.0
    for micro in range(accum):
        xb, yb = x[micro * B:(micro + 1) * B], y[micro * B:(micro + 1) * B]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, _, _ = net(xb)
        loss = F.cross_entropy(logits.float().cpu(), yb) / accum
        loss.backward()
        total += loss.item()
    norm = nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    sched.step()
    print(step, round(total, 2), round(norm.item(), 2), [round(lr, 5) for lr in sched.get_last_lr()],
          arrivals["conv.weight"], net.head.weight.grad.dtype, net.conv.weight._version)

# -- a bfloat16 copy of the weights for evaluation -------------------------------------------
with torch.no_grad():
    half = Net()
    half.load_state_dict(net.state_dict())
    half.to(torch.bfloat16)
    ev, _, _ = half(x[:B].to(torch.bfloat16))
    full_ev, _, _ = net(x[:B])
print(ev.dtype, half.conv.weight.dtype, half.rnn.weight_hh_l0.dtype, ev.requires_grad,
      (ev.float() - full_ev).abs().max().item() < 0.1, ev.argmax(-1).cpu())

buf = io.BytesIO()
torch.save(sched.state_dict(), buf)
buf.seek(0)
saved = torch.load(buf, weights_only=False)
print(saved["last_epoch"], saved["_milestones"], [round(lr, 5) for lr in saved["_last_lr"]])
print("done")
