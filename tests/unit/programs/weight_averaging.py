# Weight averaging: AveragedModel as an SWA, as an EMA through get_ema_multi_avg_fn and
# through an avg_fn, and an SWA with use_buffers=True (batch-norm statistics averaged too,
# the integral count truncated); SWALR annealing linearly after a CosineAnnealingLR,
# update_bn on a model whose batch norm has momentum=None; and EMAs written by hand:
# torch._foreach_mul_/_foreach_add_ over parameter lists, lerp_ on each parameter under
# no_grad, and _foreach_lerp_ on a worker's model (`W`, `ddp`: the runner's,
# test_programs.py), swapped in for evaluation and back.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
swa_utils = torch.optim.swa_utils
torch.manual_seed(37)


def make():
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Dropout(0.0), nn.Linear(8, 2))


x, y = torch.randn(16, 5), torch.randn(16, 2)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
model = make()
swa = swa_utils.AveragedModel(model)
ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.8), use_buffers=True)
manual = swa_utils.AveragedModel(model, avg_fn=lambda avg, new, n: avg + (new - avg) / (n + 1))
swa_buffers = swa_utils.AveragedModel(model, use_buffers=True)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3)
swalr = swa_utils.SWALR(opt, swa_lr=0.03, anneal_epochs=3, anneal_strategy="linear")
by_hand = [p.detach().clone() for p in model.parameters()]
lerped = copy.deepcopy(model).requires_grad_(False)
for epoch in range(6):
    for xb, yb in loader:
        opt.zero_grad()
        F.mse_loss(model(xb), yb).backward()
        opt.step()
        ema.update_parameters(model)
        with torch.no_grad():
            live = [p.detach() for p in model.parameters()]
            torch._foreach_mul_(by_hand, 0.8)
            torch._foreach_add_(by_hand, live, alpha=0.2)
            for avg, p in zip(lerped.parameters(), model.parameters()):
                avg.lerp_(p, 0.2)
    if epoch < 3:
        cos.step()
    else:
        swa.update_parameters(model)
        manual.update_parameters(model)
        swa_buffers.update_parameters(model)
        swalr.step()
    print(epoch, round(opt.param_groups[0]["lr"], 6), swa.n_averaged.item(), ema.n_averaged.item())
print(torch.allclose(by_hand[0], lerped[0].weight, atol=1e-6), (lerped[4].bias - ema.module[4].bias).abs().max())
print(ema.module[2].running_mean[:3], ema.module[2].num_batches_tracked, model[2].num_batches_tracked)
print(torch.allclose(swa.module[4].weight, manual.module[4].weight, atol=1e-6), swa.module[4].bias)
print(swa_buffers.module[2].num_batches_tracked, swa_buffers.module[2].running_mean[:3], swa_buffers.module[4].weight.sum().item())
print(sorted(swa.state_dict())[:4], swa.state_dict()["n_averaged"])
swa.module[2].momentum = None
swa_utils.update_bn(loader, swa)
print(swa.module[2].running_var[:4], swa.module[2].momentum, swa.module[2].num_batches_tracked)
swa.eval()
with torch.no_grad():
    print(F.mse_loss(swa(x), y).item(), F.mse_loss(ema(x), y).item(), swa.training, swa.module.training)

student = ddp(make().to(W[0]))
teacher = make().to(W[0]).requires_grad_(False)
teacher.load_state_dict(student.module.state_dict() if hasattr(student, "module") else student.state_dict())
opt = torch.optim.Adam(student.parameters(), lr=0.02)
xw, yw = x.to(W[0]), y.to(W[0])
for step in range(4):
    opt.zero_grad()
    loss = F.mse_loss(student(xw), yw) + 0.1 * F.mse_loss(student(xw), teacher(xw))
    loss.backward()
    opt.step()
    with torch.no_grad():
        t_params = list(teacher.parameters())
        torch._foreach_lerp_(t_params, [p.detach() for p in student.parameters()], 0.3)
        for tb, sb in zip(teacher.buffers(), student.buffers()):
            tb.copy_(sb)
    print(step, round(loss.item(), 5), round(teacher[4].weight.sum().item(), 5))
backup = [p.detach().clone() for p in student.parameters()]
with torch.no_grad():
    for p, t in zip(student.parameters(), teacher.parameters()):
        p.copy_(t)
    student.eval()
    print(F.mse_loss(student(xw), yw).item(), full(teacher[2].running_mean)[:3])
    for p, b in zip(student.parameters(), backup):
        p.copy_(b)
print(torch.equal(list(student.parameters())[0], backup[0]), teacher[4].bias.detach().cpu())
print("done")
