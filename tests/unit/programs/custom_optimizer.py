# Code that writes its own training machinery: an Optimizer subclass with per-parameter
# state and in-place updates (addcmul_, lerp_, .data, grad.zero_()), a hand-written SGD
# under no_grad, float64 as the default dtype, and an EMA of the weights.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.set_default_dtype(torch.float64)
torch.manual_seed(11)


class Lion(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.data.mul_(1 - group["lr"] * group["weight_decay"])
                state = self.state[p]
                if len(state) == 0:
                    state["exp_avg"] = torch.zeros_like(p)
                exp_avg = state["exp_avg"]
                b1, b2 = group["betas"]
                update = exp_avg * b1 + p.grad * (1 - b1)
                p.add_(torch.sign(update), alpha=-group["lr"])
                exp_avg.lerp_(p.grad, 1 - b2)
        return loss


model = nn.Sequential(nn.Linear(4, 6), nn.Softplus(), nn.Linear(6, 1))
ema = copy.deepcopy(model)
for p in ema.parameters():
    p.requires_grad_(False)
opt = Lion(model.parameters(), lr=1e-2, weight_decay=0.01)
x, y = torch.randn(10, 4), torch.randn(10, 1)


def closure():
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    return loss


for step in range(5):
    loss = opt.step(closure)
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.mul_(0.9).add_(pm, alpha=0.1)
    print(step, loss.item(), loss.dtype)
print(opt.state_dict()["state"][0]["exp_avg"])
w = torch.zeros(4, 1, requires_grad=True)
b = torch.zeros(1, requires_grad=True)
for step in range(3):
    loss = ((x @ w + b - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
        b.sub_(0.1 * b.grad)
        w.grad.zero_()
        b.grad.zero_()
    print(step, loss.item())
v = torch.zeros(3)
v.addcmul_(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, 0.5, 2.0]), value=2)
print(v, v.dtype, ema[0].weight[0], torch.get_default_dtype())
torch.set_default_dtype(torch.float32)
print(torch.tensor([1.5]).dtype, torch.ones(1).dtype)
print("done")
