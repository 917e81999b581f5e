# Mixed precision on the CPU: a model with BatchNorm and Dropout trained under
# torch.autocast("cpu", dtype=torch.bfloat16) (bfloat16 matmuls, float32 losses and
# BatchNorm running statistics), a GradScaler, train()/eval() switching, inference_mode
# for evaluation, custom_fwd on a Function, forward hooks with kwargs, a full backward hook
# that records the gradients' dtypes, and a model cast wholesale with .to(bfloat16) and
# trained in bfloat16.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(97)
seen = []


class Scale(torch.autograd.Function):
    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx, x, s):
        ctx.s = s
        return x * s

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, g):
        return g * ctx.s, None


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.GELU(), nn.Dropout(0.25))
        self.head = nn.Linear(16, 3)
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def forward(self, x, temperature=1.0):
        self.calls += 1
        h = self.body(x)
        seen.append(("h", h.dtype))
        return Scale.apply(self.head(h), 1 / temperature)


model = Net()
model.head.register_forward_hook(lambda m, args, kwargs, out: seen.append(("head", out.dtype, sorted(kwargs))), with_kwargs=True)
model.register_forward_pre_hook(lambda m, args, kwargs: (args, {**kwargs, "temperature": 2.0}), with_kwargs=True)
model.body[0].register_full_backward_hook(lambda m, gin, gout: seen.append(("bwd", gin[0] is None, gout[0].dtype)))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scaler = torch.amp.GradScaler("cpu", init_scale=256.0, growth_interval=2)
x, y = torch.randn(20, 6), torch.randint(0, 3, (20,))
for step in range(4):
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        loss = F.cross_entropy(out, y)
    print(step, out.dtype, loss.dtype, round(loss.item(), 4), torch.is_autocast_enabled("cpu"))
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(opt)
    scaler.update()
    print(round(norm.item(), 4), scaler.get_scale(), model.head.weight.grad.dtype, model.body[1].running_mean[:4])
    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model(x)
        print(pred.dtype, pred.requires_grad, torch.is_inference_mode_enabled(), (pred.argmax(1) == y).float().mean().item())
print(seen[:6], len(seen), model.calls, model.body[1].num_batches_tracked)
print(model.body[1].running_var, model.head.bias)
print(sorted(scaler.state_dict().items()))
with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
    print(model(x[:2]).dtype)
with torch.autocast("cpu"):
    print(torch.get_autocast_dtype("cpu"), (x @ x.T).dtype, torch.cat([x.bfloat16(), x]).dtype, x.sum().dtype)
half = Net().to(torch.bfloat16)
half.eval()
print(half.body[0].weight.dtype, half.body[1].running_var.dtype, half.calls.dtype)
print(half(x[:3].bfloat16()), half.body[0].bias[:5])
print({k: v.dtype for k, v in half.state_dict().items()})
half.train()
sgd = torch.optim.SGD(half.parameters(), lr=0.05, momentum=0.9)
for step in range(3):
    loss = F.cross_entropy(half(x.bfloat16()), y)
    sgd.zero_grad()
    loss.backward()
    sgd.step()
    print("bfloat16", step, loss, half.body[1].running_var[:4], half.head.bias.grad, half.body[1].bias[:4])
print(model)
print("done")
