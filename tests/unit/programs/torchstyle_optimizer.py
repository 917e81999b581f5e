# An optimizer written the way torch writes its own (AdaBelief, a LAMB trust ratio): an
# _init_group gathering the parameters with gradients, the step count a 0-dim tensor of
# _get_scalar_dtype(), @_use_grad_for_differentiable on step, _get_value, _to_scalar for a
# tensor lr, _default_to_fused_or_foreach to pick the path; trained with a scheduler,
# saved and resumed, stepped differentiably for a meta-gradient, run under a float64
# default dtype, and on a worker (`W`: the runner's, test_programs.py).
import importlib
import io
import distgrad as torch  # PyTorch: import torch
# (`from torch.optim.optimizer import ...`, by the name the library was imported as)
from_torch = importlib.import_module(torch.__name__ + ".optim.optimizer")
Optimizer, _default_to_fused_or_foreach = from_torch.Optimizer, from_torch._default_to_fused_or_foreach
_get_scalar_dtype, _get_value, _to_scalar = from_torch._get_scalar_dtype, from_torch._get_value, from_torch._to_scalar
_use_grad_for_differentiable = from_torch._use_grad_for_differentiable
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(7)


class AdaBeliefLamb(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 trust_clip=10.0, *, foreach=None, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        trust_clip=trust_clip, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_group(self, group, params, grads, exp_avgs, exp_vars, steps):
        for p in group["params"]:
            if p.grad is None:
                continue
            params.append(p)
            grads.append(p.grad)
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype())
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_var"] = torch.zeros_like(p)
            exp_avgs.append(state["exp_avg"])
            exp_vars.append(state["exp_var"])
            steps.append(state["step"])

    @_use_grad_for_differentiable
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, exp_avgs, exp_vars, steps = [], [], [], [], []
            self._init_group(group, params, grads, exp_avgs, exp_vars, steps)
            if group["foreach"] is None:
                _, group["foreach"] = _default_to_fused_or_foreach(params, group["differentiable"])
            beta1, beta2 = group["betas"]
            lr = _to_scalar(group["lr"])
            for p, g, m, v, step_t in zip(params, grads, exp_avgs, exp_vars, steps):
                step_t += 1
                step = _get_value(step_t)
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g - m, g - m, value=1 - beta2)
                update = (m / (1 - beta1 ** step)) / ((v / (1 - beta2 ** step)).sqrt() + group["eps"])
                if group["weight_decay"]:
                    update = update + group["weight_decay"] * p
                w_norm, u_norm = p.clone().norm(), update.norm()  # (p is about to change)
                trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                p.add_(update * trust.clamp(max=group["trust_clip"]), alpha=-_get_value(lr))
        return loss


model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
x, y = torch.randn(16, 5), torch.randn(16, 2)
opt = AdaBeliefLamb(model.parameters(), lr=0.02, weight_decay=0.01)
sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.8)
for step in range(3):
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    sched.step()
    print(step, round(loss.item(), 5), sched.get_last_lr(), opt.param_groups[0]["foreach"])
state = opt.state[model[0].weight]
print(sorted(state), state["step"], state["step"].dtype, model[2].bias.grad)
print(_default_to_fused_or_foreach(list(model.parameters()), False, use_fused=True),
      _default_to_fused_or_foreach(list(model.parameters()), True), _to_scalar(torch.tensor([0.5])),
      _get_value(torch.tensor(3.0)), _get_scalar_dtype(), _get_scalar_dtype(is_fused=True))

buf = io.BytesIO()
torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
buf.seek(0)
ckpt = torch.load(buf)
opt2 = AdaBeliefLamb(model.parameters(), lr=0.5)
opt2.load_state_dict(ckpt["opt"])
print(opt2.param_groups[0]["lr"], opt2.state[model[0].weight]["step"], opt2.defaults["trust_clip"])

# differentiable: a meta-gradient through two steps of a cloned weight, a tensor lr
w0 = torch.randn(5, 2, requires_grad=True)
w = w0.clone()
meta = AdaBeliefLamb([w], lr=torch.tensor([0.05]), differentiable=True)
for step in range(2):
    w.grad = torch.autograd.grad(F.mse_loss(x @ w, y), w, create_graph=True)[0]
    meta.step()
F.mse_loss(x @ w, y).backward()
print(w.grad_fn.name(), w0.grad[0], meta.param_groups[0]["foreach"])

# a float64 default: the step count follows it
torch.set_default_dtype(torch.float64)
p64 = nn.Parameter(torch.ones(3))
o64 = AdaBeliefLamb([p64], lr=0.1)
p64.grad = torch.tensor([0.1, -0.2, 0.3])
o64.step()
print(o64.state[p64]["step"].dtype, p64)
torch.set_default_dtype(torch.float32)

# on a worker
layer = nn.Linear(5, 2).to(W[0])
opt = AdaBeliefLamb(layer.parameters(), lr=0.05)
for step in range(3):
    opt.zero_grad()
    loss = F.mse_loss(layer(x.to(W[0])), y.to(W[0]))
    loss.backward()
    opt.step()
print("placed", round(loss.item(), 5), layer.bias.detach().cpu(), opt.param_groups[0]["foreach"])
print("done")
