# nn.Module plumbing a training script leans on: init by apply with nn.init functions under
# a seed, submodules added and looked up by name, non-persistent buffers, hooks with
# prepend and always_call, global module hooks, state dicts with keep_vars, strict=False
# and assign=True, an EMA by AveragedModel with use_buffers, set_grad_enabled and
# inference tensors, gradient accumulation with clip_grad_norm_ over foreach.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
swa_utils = torch.optim.swa_utils
torch.manual_seed(29)
calls = []


class Residual(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width, bias=False)  # (the norm takes out a bias)
        self.norm = nn.BatchNorm1d(width)
        self.register_buffer("scale", torch.tensor(0.5))
        self.register_buffer("cache", torch.zeros(width), persistent=False)

    def forward(self, x):
        self.cache = x.detach().mean(0)
        return x + self.scale * F.relu(self.norm(self.fc(x)))

    def extra_repr(self):
        return f"scale={self.scale.item()}"


def init(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


model = nn.Sequential(nn.Linear(4, 8), Residual(8))
model.add_module("head", nn.Linear(8, 3))
model.register_module("drop", nn.Dropout(0.1))
model.apply(init)
nn.init.trunc_normal_(model.head.weight, std=0.02, a=-0.04, b=0.04)
nn.init.orthogonal_(model[0].weight)
print(model, [n for n, _ in model.named_children()], model.get_submodule("1.norm"))
print(list(model.state_dict()), model.get_buffer("1.scale"), model.get_parameter("head.bias").shape)
print(model.head.weight.abs().max() <= 0.04, torch.allclose(model[0].weight.T @ model[0].weight, torch.eye(4), atol=1e-5))
h1 = model.head.register_forward_hook(lambda m, i, o: calls.append("head") or o * 2)
h2 = model.head.register_forward_hook(lambda m, i, o: calls.append("first"), prepend=True)
h3 = model[1].register_forward_pre_hook(lambda m, args: calls.append("pre") or (args[0] * 0.5,))
h4 = model[1].fc.register_forward_hook(lambda m, i, o: calls.append("always"), always_call=True)
glob = nn.modules.module.register_module_forward_hook(lambda m, i, o: calls.append(type(m).__name__))
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
out = model[:3](x)
glob.remove()
print(calls, out.shape, out[0])
ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.8), use_buffers=True)
opt = torch.optim.AdamW([{"params": [p for n, p in model.named_parameters() if "norm" not in n]},
                         {"params": model[1].norm.parameters(), "weight_decay": 0.0}], lr=0.01)
for step in range(3):
    opt.zero_grad(set_to_none=False)
    for xb, yb in zip(x.chunk(4), y.chunk(4)):
        (F.cross_entropy(model[:3](xb), yb) / 4).backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5, foreach=True)
    opt.step()
    ema.update_parameters(model)
    print(step, round(norm.item(), 5), ema.n_averaged.item(), ema.module[1].norm.running_mean[:3], model[1].cache[:3])
h1.remove(); h2.remove(); h3.remove(); h4.remove()
sd = model.state_dict(keep_vars=True)
print(type(sd["head.weight"]).__name__, sd["head.weight"].requires_grad, sd["1.norm.num_batches_tracked"])
clone = copy.deepcopy(model)
result = clone.load_state_dict({k: v * 0 for k, v in model.state_dict().items() if "head" not in k} | {"extra": torch.ones(1)}, strict=False)
print(result, clone[0].weight.abs().sum(), clone.head.weight.equal(model.head.weight))
fresh = nn.Sequential(nn.Linear(4, 8), Residual(8)).to(torch.float64)
fresh.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("head")}, assign=True)
print(fresh[0].weight.dtype, fresh[0].weight is not model[0].weight, fresh[1].scale)
with torch.inference_mode():
    frozen = model[:3](x)
print(frozen.is_inference(), frozen.requires_grad)
try:
    (frozen * torch.ones(3, requires_grad=True)).sum().backward()
except RuntimeError as e:
    print("RuntimeError", str(e)[:90])
with torch.set_grad_enabled(False):
    print(model[:3](x).requires_grad, torch.is_grad_enabled())
model.eval()
print(model[:3](x[:2]), ema.module(x[:2]), model.training, ema.module[1].norm.training)
print("done")
