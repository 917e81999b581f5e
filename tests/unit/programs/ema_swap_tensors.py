# An exponential moving average of a model's weights (on W[0]) as image-model training
# scripts keep it, swapped in for evaluation the ways they swap it: the EMA updated with
# torch._foreach_mul_/_foreach_add_ over parameters and a BatchNorm's float buffers (its
# num_batches_tracked copied), the live weights and the EMA traded object for object with
# torch.utils.swap_tensors and back (identities kept, versions and grads travelling, the
# accumulator a graph holds poisoned; a parameter whose view is alive refused), a module's
# state loaded with load_state_dict(assign=True) (the Parameters replaced by the state's
# tensors where they are, on W[0]; an optimizer left holding the old ones), and a module
# moved to W[1] under torch.__future__.set_swap_module_params_on_conversion, whose graph
# from before the move refuses the backward. `W` is the runner's.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(37)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def make():
    return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


net = make().to(W[0])
ema = make().to(W[0])
ema.load_state_dict(net.state_dict())
for p in ema.parameters():
    p.requires_grad_(False)
model = net
opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
x, y = torch.randn(12, 5).to(W[0]), torch.randint(0, 3, (12,)).to(W[0])
decay = 0.8
for step in range(4):
    opt.zero_grad()
    loss = F.cross_entropy(model(x[step % 3 * 4:][:4]), y[step % 3 * 4:][:4])
    loss.backward()
    opt.step()
    with torch.no_grad():
        live = [*net.parameters()] + [b for b in net.buffers() if b.is_floating_point()]
        avg = [*ema.parameters()] + [b for b in ema.buffers() if b.is_floating_point()]
        torch._foreach_mul_(avg, decay)
        torch._foreach_add_(avg, live, alpha=1 - decay)
        ema[1].num_batches_tracked.copy_(net[1].num_batches_tracked)
    print(step, round(loss.item(), 5), ema[0].weight._version, ema[1].weight._version,
          net[0].weight._version, ema[1].num_batches_tracked.item())
print(ema[1].running_var.cpu(), ema[3].bias.detach().cpu())

# -- the EMA swapped in for evaluation, object for object -------------------------------------
net.eval()
before = model(x).detach()
w0, g0, v0, v_ema = net[0].weight, net[0].weight.grad, net[0].weight._version, ema[0].weight._version
for a, b in zip([*net.parameters(), *net.buffers()], [*ema.parameters(), *ema.buffers()]):
    torch.utils.swap_tensors(a, b)
with torch.no_grad():
    evaluated = model(x)
print(net[0].weight is w0, net[0].weight.requires_grad, net[0].weight.grad is None,
      net[0].weight._version == v_ema, ema[0].weight._version == v0, ema[0].weight.grad is g0)
print(evaluated[:2].cpu(), torch.allclose(evaluated, before))
for a, b in zip([*net.parameters(), *net.buffers()], [*ema.parameters(), *ema.buffers()]):
    torch.utils.swap_tensors(a, b)
print(torch.equal(model(x).detach(), before), net[0].weight.requires_grad, net[0].weight.grad is g0)
net.train()
base_view = net[3].weight[0]
print(attempt(lambda: torch.utils.swap_tensors(net[3].weight, ema[3].weight)))
del base_view

# -- load_state_dict(assign=True) into a fresh module ---------------------------------------------
fresh = make()
fresh_opt = torch.optim.SGD(fresh.parameters(), lr=0.1)
old = fresh[0].weight
print(fresh.load_state_dict(ema.state_dict(), assign=True))
print(fresh[0].weight is old, type(fresh[0].weight).__name__, fresh[0].weight.requires_grad,
      fresh_opt.param_groups[0]["params"][0] is old, torch.equal(fresh[0].weight, ema[0].weight))
F.mse_loss(fresh(x), torch.zeros(12, 3).to(W[0])).backward()
fresh_opt.step()
print(old.grad, fresh[3].bias.grad.cpu(), fresh[0].weight.grad.cpu()[0])

# -- a module moved to a worker by swapping its parameters ---------------------------------------
torch.__future__.set_swap_module_params_on_conversion(True)
try:
    mover = nn.Linear(5, 2)
    kept = mover.weight
    out = mover(x.cpu()).sum()
    mover.to(W[1])
    print(mover.weight is kept, str(mover.weight.device) == W[1], type(mover.weight).__name__)
    print(attempt(lambda: out.backward()))
    mover(x.to(W[1])).sum().backward()
    print(mover.weight.grad.cpu()[0], mover.bias.grad.cpu())
finally:
    torch.__future__.set_swap_module_params_on_conversion(False)
print("done")
