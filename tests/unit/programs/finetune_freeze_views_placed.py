# Fine-tuning as transfer-learning scripts write it, with the model on a worker (`W`): a
# pretrained backbone frozen by requires_grad_(False) (its parameters skipped by the
# optimizer's step, their .grad staying None), a new head trained with a warmup then cosine
# schedule (SequentialLR of LinearLR and CosineAnnealingLR), the last block unfrozen midway
# and added with add_param_group (its own lr), BatchNorm kept in eval while the rest trains,
# a weight's slice read as a view before and after steps (the optimizer writes it in place:
# versions, shared memory), gradients through a frozen block to the input, and torch's
# errors for an optimizer given a parameter twice and a backward with nothing to train.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(41)

backbone = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh())
head = nn.Linear(8, 3)
model = nn.Sequential(backbone, head).to(W[0])
backbone.requires_grad_(False)
print([p.requires_grad for p in model.parameters()], sum(p.numel() for p in model.parameters() if p.requires_grad))
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05, weight_decay=0.01)
warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=2)
cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.001)
sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[2])
x = torch.randn(6, 5).to(W[0])
y = torch.tensor([0, 1, 2, 0, 1, 2]).to(W[0])
row = backbone[3].weight[0]
before = row.clone()
ptr = backbone[3].weight.untyped_storage().data_ptr()
for step in range(5):
    model.train()
    backbone[1].eval()
    if step == 2:
        backbone[3].requires_grad_(True)
        opt.add_param_group({"params": list(backbone[3].parameters()), "lr": 0.01})
        print(len(opt.param_groups), opt.param_groups[1]["lr"], opt.param_groups[1]["weight_decay"],
              "initial_lr" in opt.param_groups[1])
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    print(step, round(loss.item(), 5), [round(g["lr"], 5) for g in opt.param_groups],
          backbone[0].weight.grad, backbone[3].weight.grad is None, backbone[1].num_batches_tracked.item())
print(row._version, backbone[3].weight._version, row._base is backbone[3].weight,
      ptr == row.untyped_storage().data_ptr(), torch.equal(row, before))
print(round((row - before).abs().sum().item(), 5), row.requires_grad, row.is_leaf, type(row.grad_fn).__name__)
print(backbone[1].running_mean.abs().sum().item() == 0, head.weight.grad.device == head.weight.device)

inp = torch.randn(2, 5).to(W[0]).requires_grad_()
backbone.eval()
out = backbone(inp)
print(out.requires_grad, type(out.grad_fn).__name__)
out.sum().backward()
print(inp.grad.shape, backbone[0].weight.grad, backbone[3].weight.grad.shape)
try:
    torch.optim.SGD([head.weight, head.weight], lr=0.1)
except ValueError as e:
    print(type(e).__name__, e)
model.requires_grad_(False)
try:
    F.cross_entropy(model(x), y).backward()
except RuntimeError as e:
    print(type(e).__name__, e)
try:
    opt.add_param_group({"params": [head.bias]})
except ValueError as e:
    print(type(e).__name__, e)
print("done")
