# A model whose Linear is used twice (shared weights), trained with gradient accumulation
# over micro-batches: full backward hooks and pre-hooks on modules (one rescales
# grad_input), forward pre-hooks that edit the input, tensor hooks that clip or record an
# activation's gradient, retain_grad on intermediate activations, a post-accumulate-grad
# hook on a parameter, a hook removed midway; SGD with nesterov and a scheduler chain
# (LinearLR warmup then ExponentialLR by SequentialLR, and a ChainedScheduler), with
# get_last_lr and the state dicts of both.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(13)
seen = []


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(5, 8)
        self.shared = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.tanh(self.embed(x))
        h1 = self.shared(h)
        h1.register_hook(lambda g: g.clamp(-0.05, 0.05))
        h2 = self.shared(F.relu(h1))
        if h2.requires_grad:
            h2.retain_grad()
        self.last = h2
        return self.head(h2 + h)


model = Tied()


def backward_hook(module, grad_input, grad_output):
    seen.append(("bwd", type(module).__name__, round(grad_output[0].abs().sum().item(), 4)))
    return (grad_input[0] * 0.5,)


def pre_hook(module, grad_output):
    seen.append(("pre", round(grad_output[0].norm().item(), 4)))


handle = model.shared.register_full_backward_hook(backward_hook)
model.head.register_full_backward_pre_hook(pre_hook)
model.embed.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
model.shared.weight.register_post_accumulate_grad_hook(
    lambda p: seen.append(("acc", round(p.grad.norm().item(), 4))))

opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=2)
decay = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)
sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, decay], milestones=[2])
x, y = torch.randn(12, 5), torch.randint(0, 3, (12,))
accum = 3
for step in range(4):
    opt.zero_grad()
    total = 0.0
    for micro in range(accum):
        xb, yb = x[micro * 4:(micro + 1) * 4], y[micro * 4:(micro + 1) * 4]
        loss = F.cross_entropy(model(xb), yb) / accum
        loss.backward()
        total += loss.item()
    if step == 1:
        handle.remove()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=2.0)
    opt.step()
    sched.step()
    print(step, round(total, 5), sched.get_last_lr(), model.last.grad.abs().sum().item(),
          model.shared.weight.grad.norm().item())
print(len(seen), seen[:5], seen[-3:])
print(sched.state_dict()["_milestones"], sched.state_dict()["last_epoch"], opt.state_dict()["param_groups"][0]["lr"])

opt2 = torch.optim.Adam(model.parameters(), lr=0.01)
chain = torch.optim.lr_scheduler.ChainedScheduler([
    torch.optim.lr_scheduler.ConstantLR(opt2, factor=0.5, total_iters=2),
    torch.optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)])
for step in range(4):
    opt2.zero_grad()
    out = model(x)
    act = model.last
    loss = F.cross_entropy(out, y) + 1e-3 * act.pow(2).mean()
    loss.backward()
    opt2.step()
    chain.step()
    print(step, round(loss.item(), 5), [round(lr, 6) for lr in chain.get_last_lr()], act.grad.shape)
grads = torch.autograd.grad(F.cross_entropy(model(x), y), [model.shared.weight, model.embed.bias])
print(grads[0].norm().item(), grads[1])
print("done")
