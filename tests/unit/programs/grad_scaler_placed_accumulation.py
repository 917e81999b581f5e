# A loss-scaled training loop as mixed-precision scripts write it without autocast, over a
# weight split over the workers, a head on a worker and a bias on the driver: GradScaler
# ("cpu") scaling each micro-batch's `loss / k`, unscale_ once per step before
# clip_grad_norm_ (the gradients rescaled in place: what their versions count), a step with
# an inf gradient skipped and the scale backed off, growth after growth_interval clean
# steps, the scale's and growth tracker's versions, the parameters' versions when a step
# is skipped, and the scaler's state_dict loaded into a fresh one (distgrad: two workers;
# torch: the CPU and a copy). `W`, `shard` and `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(103)
K = 2

w = shard(torch.randn(4, 3) * 0.5, 0).requires_grad_()
head = torch.randn(4, 2).to(W[1]).requires_grad_()
bias = torch.zeros(2, requires_grad=True)
params = [w, head, bias]
opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8, growth_interval=2)
xs, ys = torch.randn(4, 6, 3), torch.randn(4, 6, 2)


def forward(x):
    h = torch.tanh(x @ full(w).t())
    return (h.to(W[1]) @ head).cpu() + bias


for step in range(4):
    for j in range(K):
        x, y = xs[step], ys[step]
        loss = F.mse_loss(forward(x[j::K]), y[j::K]) / K
        if step == 2 and j == 1:
            loss = loss * float("inf")
        scaler.scale(loss).backward()
    before = [p.grad._version for p in params]
    scaler.unscale_(opt)
    unscaled = [p.grad._version - v for p, v in zip(params, before)]
    norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
    versions = [p._version for p in params]
    scaler.step(opt)
    scaler.update()
    print(step, round(loss.item(), 4), unscaled, norm.cpu(), scaler.get_scale(),
          [p._version - v for p, v in zip(params, versions)],
          scaler._scale._version, scaler._growth_tracker._version,
          scaler._get_growth_tracker())
    print(full(w.grad)[0], head.grad.cpu()[1], bias.grad)
    opt.zero_grad()
print(full(w)[1], head.detach().cpu()[0], bias.detach())

# the scaler's state into a fresh one, and the state it keeps
state = scaler.state_dict()
print(sorted(state), state["scale"], state["_growth_tracker"])
fresh = torch.amp.GradScaler("cpu")
fresh.load_state_dict(state)
print(fresh.get_scale(), fresh.get_growth_interval(), fresh._scale)
loss = F.mse_loss(forward(xs[0]), ys[0])
fresh.scale(loss).backward()
print(bias.grad, fresh._scale._version)
fresh.unscale_(opt)
print(bias.grad, full(w.grad)[2])
try:
    fresh.unscale_(opt)
except RuntimeError as e:
    print(type(e).__name__, e)
print("done")
